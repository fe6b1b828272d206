/**
 * kernels.wat's instance in this thread (each CPU worker has its own), made on first use; null
 * where WebAssembly is off or unavailable (instance.ts). Its callers: elementwise.ts (GELU, Philox,
 * f32 arithmetic, transposes, strided rows) and attention.ts (small heads).
 */
import { kernelsWasmBytes } from './kernels-wasm.ts';
import { instantiate, type WasmMemory } from './instance.ts';

export interface KernelsModule {
  memory: WasmMemory;
  gelu: (x: number, o: number, n: number) => void;
  geluBwd: (x: number, dy: number, o: number, n: number) => void;
  philox: (dst: number, n: number, o0: number, o1: number, k0: number, k1: number) => void;
  exp: (y: number, o: number, n: number) => void;
  colSum: (x: number, o: number, R: number, C: number) => void;
  binary: (op: number, o: number, a: number, b: number, n: number, sa: number, sb: number, tmp: number) => void;
  unary: (op: number, o: number, x: number, n: number, a: number, b: number) => void;
  transpose: (src: number, dst: number, rows: number, cols: number) => void;
  copyRows: (
    src: number, dst: number, n: number, len: number, w: number, H: number,
    so: number, sB: number, sH: number, sL: number, dOff: number, dB: number, dH: number, dL: number,
  ) => void;
  attnFwd: (q: number, k: number, v: number, o: number, stat: number, n: number, l: number, s: number, dqk: number, dv: number, scale: number, w: number) => void;
  attnBwd: (
    q: number, k: number, v: number, o: number, lse: number, dO: number, dq: number, dk: number, dv: number,
    n: number, l: number, s: number, dqk: number, dvDim: number, scale: number, w: number,
  ) => void;
}

/** undefined: not tried yet; null: unavailable. */
let module: KernelsModule | null | undefined;

export function kernels(): KernelsModule | null {
  if (module === undefined) module = instantiate<KernelsModule>(kernelsWasmBytes);
  return module;
}
