/**
 * Shared by the WebGPU kernel tests: one backend per test file (Dawn dislikes devices being made
 * and destroyed repeatedly), CPU-oracle comparison, and fast-check arbitraries for small shapes.
 */
import { after, before } from 'node:test';
import fc from 'fast-check';
import type { Backend, Storage } from '../../engine/backend.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import type { DType, TypedArray } from '../../engine/dtype.ts';
import { openWebGpuBackend, type WebGpuBackend } from '../../engine/webgpu/backend.ts';

export const cpu = cpuBackend;

/**
 * The WebGPU backend in poison mode (test/webgpu/poison.test.ts): every buffer a kernel gets
 * starts as NaN, so a kernel that reads what it did not write fails its comparison instead of
 * passing on a fresh buffer's zeros. (Only tests that count dispatches open it without.)
 */
export async function openPoisonedGpu(): Promise<Backend> {
  const b = await openWebGpuBackend();
  (b as WebGpuBackend).ctx.poison = true;
  return b;
}

/** Open the GPU backend (poisoned) before the file's tests and destroy it after; `gpu()` returns it. */
export function useGpu(): () => Backend {
  let b: Backend | null = null;
  before(async () => {
    b = await openPoisonedGpu();
  });
  after(async () => {
    await b?.destroy();
  });
  return () => {
    if (!b) throw new Error('the webgpu backend is not open');
    return b;
  };
}

export const RUNS = { numRuns: 20 };

/** The same data on both backends. */
export function both(gpu: Backend, data: TypedArray, dtype: DType = 'f32'): [Storage, Storage] {
  return [cpu.fromArray(data, dtype), gpu.fromArray(data, dtype)];
}

/** Throws with the first mismatch when |g − c| > atol + rtol·|c| (atol may be given per element). */
export function assertClose(got: TypedArray, want: TypedArray, rtol = 1e-5, atol: number | ArrayLike<number> = 1e-6, what = ''): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length} vs ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, w = want[i]!;
    const a = typeof atol === 'number' ? atol : atol[i]!;
    if (!(Math.abs(g - w) <= a + rtol * Math.abs(w))) {
      throw new Error(`${what}: element ${i} of ${got.length}: gpu ${g} vs cpu ${w} (|diff| ${Math.abs(g - w)})`);
    }
  }
}

/** Read both and compare. */
export async function expectSame(
  gpu: Backend, g: Storage, c: Storage, rtol = 1e-5, atol: number | ArrayLike<number> = 1e-6, what = '',
): Promise<void> {
  assertClose(await gpu.read(g), cpu.readSync!(c), rtol, atol, what);
}

/** max |a_i − b_i|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** The spacing of f32 numbers at |v| (one unit in the last place). */
export const ulp32 = (v: number): number => 2 ** (Math.floor(Math.log2(Math.max(Math.abs(v), 2 ** -126))) - 23);

/**
 * How far f32 can move a normalised row: rounding x − μ costs about one ulp of the row's largest
 * |x|, which x̂ = (x − μ)·r multiplies by r. A row whose values nearly agree has a huge r, so x̂ (and
 * everything made from it) is ill-conditioned in f32 however it is computed: tests must allow
 * k·κ on top of their usual tolerance. Returns κ per row.
 */
export function normConditioning(x: TypedArray, rstd: TypedArray, D: number): Float64Array {
  const rows = rstd.length, out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = 0; j < D; j++) m = Math.max(m, Math.abs(x[r * D + j]!));
    out[r] = ulp32(m) * rstd[r]!;
  }
  return out;
}

/** A per-element tolerance base + k·κ_row for [rows, D] outputs. */
export function perRowAtol(kappa: Float64Array, D: number, base: number, k: number): Float64Array {
  const out = new Float64Array(kappa.length * D);
  for (let r = 0; r < kappa.length; r++) out.fill(base + k * kappa[r]!, r * D, (r + 1) * D);
  return out;
}

/** A deterministic f32 array of n values in [lo, hi). */
export function randomData(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return out;
}

/** Shapes of rank 0..maxRank with dims 1..maxDim (size-1 dims are common). */
export const shapeArb = (maxRank = 5, maxDim = 5): fc.Arbitrary<number[]> =>
  fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: maxDim })), { minLength: 0, maxLength: maxRank });

/** A shape and a second shape that broadcasts against it (dims dropped from the left or set to 1). */
export const broadcastPairArb = (maxRank = 5, maxDim = 5): fc.Arbitrary<[number[], number[]]> =>
  shapeArb(maxRank, maxDim).chain((s) =>
    fc.tuple(fc.integer({ min: 0, max: s.length }), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }), fc.boolean()).map(
      ([drop, ones, swap]) => {
        const t = s.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
        return swap ? [t, s] : [s, t];
      },
    ),
  );

export const sizeOf = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);

export function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    return da === 1 ? db : da;
  });
}
