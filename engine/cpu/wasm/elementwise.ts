/**
 * kernels.wat's element-wise kernels as the CPU backend calls them: f32 GELU and its gradient (the same bits as
 * scalar-math.ts geluF32 / geluGradF32, two f64 lanes at a time), and the Philox words of a run
 * of counters (the draws themselves are made from them in engine/rng.ts). Each call copies its
 * operands into the module's memory a chunk at a time and the results back.
 *
 * Each function returns false (having done nothing) where the module is unavailable
 * (AVDIT_CPU_WASM=0, no WebAssembly SIMD): the caller runs its JavaScript loop instead.
 */
import { reserve } from './instance.ts';
import { kernels as load, type KernelsModule as Kernel } from './kernels.ts';

/** Elements per chunk (64 Ki: three f32 arrays in 768 KB, within L2). */
const CHUNK = 1 << 16;
/** Bytes per operand slot in memory: a chunk plus the pair the kernels may compute past an odd end. */
const SLOT = (CHUNK + 2) * 4;

/** f32 views of the module's memory at the three operand slots (re-made when memory grows). */
let views: Float32Array[] = [];
function slots(k: Kernel, count: number): Float32Array[] {
  reserve(k.memory, count * SLOT);
  if (views.length < count || views[0]!.buffer !== k.memory.buffer) {
    views = Array.from({ length: count }, (_, i) => new Float32Array(k.memory.buffer, i * SLOT, CHUNK));
  }
  return views;
}

/** O[i] = gelu(X[i]) for i in [lo, hi). */
export function geluWasm(X: Float32Array, O: Float32Array, lo: number, hi: number): boolean {
  const k = load();
  if (!k) return false;
  const [xs, os] = slots(k, 2) as [Float32Array, Float32Array];
  for (let i = lo; i < hi; i += CHUNK) {
    const n = Math.min(CHUNK, hi - i);
    xs.set(X.subarray(i, i + n));
    k.gelu(0, SLOT, n);
    O.set(os.subarray(0, n), i);
  }
  return true;
}

/** O[i] = DY[i]·gelu'(X[i]) for i in [lo, hi). */
export function geluBwdWasm(X: Float32Array, DY: Float32Array, O: Float32Array, lo: number, hi: number): boolean {
  const k = load();
  if (!k) return false;
  const [xs, ds, os] = slots(k, 3) as [Float32Array, Float32Array, Float32Array];
  for (let i = lo; i < hi; i += CHUNK) {
    const n = Math.min(CHUNK, hi - i);
    xs.set(X.subarray(i, i + n));
    ds.set(DY.subarray(i, i + n));
    k.geluBwd(0, SLOT, 2 * SLOT, n);
    O.set(os.subarray(0, n), i);
  }
  return true;
}

/**
 * Words 0 and 1 of philox4x32-10 for the n counters (o1·2^32 + o0) + i with key (k0, k1), as
 * [w0 of counter 0, w1 of counter 0, w0 of counter 1, …]: a view into the module's memory, valid
 * until the next call. null where the module is unavailable. n at most CHUNK.
 */
export function philoxWordsWasm(n: number, o0: number, o1: number, k0: number, k1: number): Uint32Array | null {
  const k = load();
  if (!k) return null;
  if (n > CHUNK) throw new RangeError(`philoxWordsWasm: ${n} counters, at most ${CHUNK} a call`);
  reserve(k.memory, 2 * SLOT);
  k.philox(0, n, o0, o1, k0, k1);
  return new Uint32Array(k.memory.buffer, 0, 2 * n);
}

export const PHILOX_WASM_CHUNK = CHUNK;

/**
 * O[c] += X[r·C + c] for r < R in row order (f32; O as the caller zeroed it): the sum over leading
 * axes, the same bits as the CPU backend's reduce. Rows go in a chunk at a time; O stays in the
 * module's memory meanwhile.
 */
export function colSumWasm(X: Float32Array, O: Float32Array, R: number, C: number): boolean {
  const k = load();
  if (!k) return false;
  const rows = Math.max(1, Math.floor(CHUNK / C));
  const acc = up16(4 * C);
  reserve(k.memory, acc + 4 * rows * C);
  const F = new Float32Array(k.memory.buffer);
  F.set(O);
  for (let r = 0; r < R; r += rows) {
    const n = Math.min(rows, R - r);
    F.set(X.subarray(r * C, (r + n) * C), acc / 4);
    k.colSum(acc, 0, n, C);
  }
  O.set(F.subarray(0, C));
  return true;
}

const up16 = (b: number): number => Math.ceil(b / 16) * 16;

/** expF32 of each element (f64), by the module's exp (for the tests); null where unavailable. */
export function expWasm(y: Float64Array): Float64Array | null {
  const k = load();
  if (!k) return null;
  const n = y.length + (y.length & 1);
  reserve(k.memory, 16 * n);
  const mem = new Float64Array(k.memory.buffer, 0, 2 * n);
  mem.set(y);
  k.exp(0, 8 * n, n);
  return mem.slice(n, n + y.length);
}
