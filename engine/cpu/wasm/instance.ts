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

/** Grow `memory` to at least `bytes`. */
export function reserve(memory: WasmMemory, bytes: number): void {
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
}
