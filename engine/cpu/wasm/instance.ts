/**
 * Instantiating the CPU backend's WebAssembly modules (gemm.wat, kernels.wat): once per
 * thread, synchronously, on first use; none when AVDIT_CPU_WASM=0 or where WebAssembly SIMD is
 * missing (the JavaScript loops then do the work).
 */

/** The little of the WebAssembly JS API used here (tsconfig's libs do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** A module's exported linear memory. */
export interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The module's exports, or null where WebAssembly is off or unavailable. */
export function instantiate<T>(bytes: () => Uint8Array): T | null {
  if (process.env.AVDIT_CPU_WASM === '0') return null;
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (!wasm) return null;
    return new wasm.Instance(new wasm.Module(bytes()), {}).exports as unknown as T;
  } catch {
    return null; // no WebAssembly SIMD here
  }
}

/** The bytes of a base64 string (the generated *-wasm.ts files carry their modules so). */
export function base64Bytes(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Grow `memory` to at least `bytes`. */
export function reserve(memory: WasmMemory, bytes: number): void {
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
}

/** Most floats (operands and results together) one call copies into a module's memory (64 MB). */
export const MAX_COPY_FLOATS = 1 << 24;

/** `b` rounded up to a multiple of 16 (bytes). */
export const up16 = (b: number): number => Math.ceil(b / 16) * 16;

/**
 * Byte offsets of consecutive f32 regions of the given lengths in a module's memory (each 16-byte
 * aligned and padded by 16: kernels may read or write a quad past a row), and the end.
 */
function regions(lengths: readonly number[]): { at: number[]; end: number } {
  const at: number[] = [];
  let end = 0;
  for (const n of lengths) {
    at.push(end);
    end += up16(4 * n) + 16;
  }
  return { at, end };
}

/**
 * One call into a module on copies: each input is copied into its region of `memory`, each output
 * gets a region (an output that is also an input, the same object, keeps the input's region: read
 * and written in place, so only for kernels that write nothing they have not read), then `scratch` floats; `call` gets every region's byte offset (inputs first, then the
 * outputs that are not inputs, then the scratch) and `at(array)`, an array's offset; the outputs
 * are copied back.
 */
export function callOnCopies(
  memory: WasmMemory, inputs: readonly Float32Array[], outputs: readonly Float32Array[],
  call: (offsets: number[], at: (a: Float32Array) => number) => void, scratch = 0,
): void {
  const arrays = [...inputs, ...outputs.filter((o) => !inputs.includes(o))];
  const { at: offsets, end } = regions(arrays.map((a) => a.length).concat(scratch ? [scratch] : []));
  const at = (a: Float32Array): number => offsets[arrays.indexOf(a)]!;
  reserve(memory, end);
  const F = new Float32Array(memory.buffer);
  // Every input fills its own region, an input given twice (x·x) too: `call` may use either.
  inputs.forEach((a, i) => F.set(a, offsets[i]! / 4));
  call(offsets, at);
  for (const o of outputs) o.set(F.subarray(at(o) / 4, at(o) / 4 + o.length));
}
