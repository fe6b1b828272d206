// The WebAssembly SIMD f32 matmul (engine/cpu/wasm/): C += A·Btᵀ against an f64 triple loop on
// random shapes (1, odd sizes, tails of the 4×8 tiles, chunks of rows), offsets and accumulation
// respected, row ranges (thread parts) bit-identical to the whole, gemmABt's dispatch, a worker
// thread running it, and the committed bytes equal to a fresh wabt compile of gemm.wat.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seeded } from '../../autograd/op-cases.ts';
import { gemmABt, gemmABtJs, WASM_MIN_NK } from '../../engine/cpu/matmul.ts';
import { pool } from '../../engine/cpu/threads.ts';
import { gemmWasmBytes } from '../../engine/cpu/wasm/gemm-wasm.ts';
import { gemmABtWasm, wasmGemmAvailable } from '../../engine/cpu/wasm/gemm.ts';
import { runUntilWorkerTakesPart } from './worker-parts.ts';
import { assertFreshCompile } from './fresh-wasm.ts';

const RUNS = { numRuns: 60, seed: 11 };
/** The tests that need the kernel: skipped when AVDIT_CPU_WASM=0 turns it off. */
const WASM = { skip: process.env.AVDIT_CPU_WASM === '0' ? 'AVDIT_CPU_WASM=0' : false };

interface Case { M: number; K: number; N: number; aOff: number; btOff: number; cOff: number; seed: number }

/** Sizes around the tile (4 rows × 8 columns) and the 4-wide packing steps, 1 included. */
const dim = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17), fc.integer({ min: 1, max: 70 }));
const caseArb: fc.Arbitrary<Case> = fc.record({
  M: dim, K: dim, N: dim,
  aOff: fc.integer({ min: 0, max: 9 }), btOff: fc.integer({ min: 0, max: 9 }), cOff: fc.integer({ min: 0, max: 9 }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

function operands({ M, K, N, aOff, btOff, cOff, seed }: Case) {
  const rnd = seeded(seed);
  const A = Float32Array.from({ length: aOff + M * K + 5 }, () => rnd() * 2 - 1);
  const Bt = Float32Array.from({ length: btOff + N * K + 5 }, () => rnd() * 2 - 1);
  const C = Float32Array.from({ length: cOff + M * N + 5 }, () => rnd() * 2 - 1);
  return { A, Bt, C };
}

/** C[M,N] += A·Btᵀ in f64, and the bound Σ|a·b| + |c| per element that f32 rounding scales with. */
function reference(c: Case, A: Float32Array, Bt: Float32Array, C: Float32Array): { want: Float64Array; mag: Float64Array } {
  const { M, K, N, aOff, btOff, cOff } = c;
  const want = Float64Array.from(C), mag = new Float64Array(C.length);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, m = 0;
      for (let k = 0; k < K; k++) {
        const p = A[aOff + i * K + k]! * Bt[btOff + j * K + k]!;
        s += p;
        m += Math.abs(p);
      }
      want[cOff + i * N + j]! += s;
      mag[cOff + i * N + j] = m + Math.abs(C[cOff + i * N + j]!);
    }
  }
  return { want, mag };
}

function assertClose(got: Float32Array, want: Float64Array, mag: Float64Array, K: number, what: string): void {
  for (let i = 0; i < got.length; i++) {
    // The classic bound for a dot product in f32: ≤ K + 1 roundings on any term's way into the
    // sum (its product, the partial sums, + C), each ≤ 2⁻²⁴ relative: γ_{K+1}·Σ|terms|, + 1 of slack.
    const tol = (K + 2) * 2 ** -24 * mag[i]! + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) assert.fail(`${what}: element ${i}: ${got[i]} vs ${want[i]} (tolerance ${tol})`);
  }
}

test('the WebAssembly SIMD kernel is available (Node 20 has WebAssembly SIMD)', WASM, () => {
  assert.ok(wasmGemmAvailable(), 'WebAssembly SIMD kernel failed to compile or instantiate (or AVDIT_CPU_WASM=0)');
});

test('C += A·Btᵀ matches an f64 triple loop on random shapes and offsets; nothing outside C changes', WASM, () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { A, Bt, C } = operands(c);
      const A0 = A.slice(), Bt0 = Bt.slice();
      const { want, mag } = reference(c, A, Bt, C);
      assert.equal(gemmABtWasm(A, c.aOff, Bt, c.btOff, C, c.cOff, c.M, c.K, c.N), true);
      assertClose(C, want, mag, c.K, JSON.stringify(c));
      // Outside [cOff, cOff + M·N) want holds C's old values, which must be untouched (tolerance 0 there).
      for (const i of [...Array(c.cOff).keys(), ...[0, 1, 2, 3, 4].map((t) => c.cOff + c.M * c.N + t)]) assert.equal(C[i], want[i], `C[${i}] outside the product changed`);
      assert.deepEqual(A, A0, 'A changed');
      assert.deepEqual(Bt, Bt0, 'Bt changed');
    }),
    RUNS,
  );
});

test('small integers give exact sums: every element lands in its place, C accumulated twice', WASM, () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const rnd = seeded(c.seed);
      const int = () => Math.floor(rnd() * 7) - 3;
      const { M, K, N, aOff, btOff, cOff } = c;
      const A = Float32Array.from({ length: aOff + M * K }, int), Bt = Float32Array.from({ length: btOff + N * K }, int);
      const C = Float32Array.from({ length: cOff + M * N }, int);
      const C0 = C.slice(), once = C.slice();
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) once[cOff + i * N + j]! += A[aOff + i * K + k]! * Bt[btOff + j * K + k]!;
      gemmABtWasm(A, aOff, Bt, btOff, C, cOff, M, K, N);
      assert.deepEqual(C, once);
      // C += again: C0 + 2·A·Btᵀ.
      const twice = once.map((v, i) => v + (v - C0[i]!));
      gemmABtWasm(A, aOff, Bt, btOff, C, cOff, M, K, N);
      assert.deepEqual(C, twice);
    }),
    { ...RUNS, numRuns: 40 },
  );
});

test('products larger than one chunk of rows, and any row range, give the same bits as the whole (thread parts)', WASM, () => {
  // K = 1500: chunks of 16 rows (32 Ki floats of packed A); N = 37 ends in a partial panel.
  const c: Case = { M: 70, K: 1500, N: 37, aOff: 3, btOff: 1, cOff: 2, seed: 5 };
  const { A, Bt, C } = operands(c);
  const { want, mag } = reference(c, A, Bt, C);
  const whole = C.slice();
  gemmABtWasm(A, c.aOff, Bt, c.btOff, whole, c.cOff, c.M, c.K, c.N);
  assertClose(whole, want, mag, c.K, 'M 70, K 1500, N 37');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: c.M }), fc.integer({ min: 0, max: c.M }), (x, y) => {
      const [r0, r1] = x <= y ? [x, y] : [y, x];
      const parts = C.slice();
      for (const [lo, hi] of [[0, r0], [r0, r1], [r1, c.M]] as const) {
        gemmABtWasm(A, c.aOff + lo * c.K, Bt, c.btOff, parts, c.cOff + lo * c.N, hi - lo, c.K, c.N);
      }
      assert.deepEqual(parts, whole);
    }),
    { numRuns: 15, seed: 3 },
  );
});

test('a wide C (chunks of 8 rows, bounded by N) and a long K (chunks of 8 rows, bounded by K)', WASM, () => {
  for (const c of [
    { M: 21, K: 3, N: 150_001, aOff: 1, btOff: 2, cOff: 3, seed: 9 },
    { M: 19, K: 5003, N: 11, aOff: 0, btOff: 3, cOff: 1, seed: 10 },
  ]) {
    const { A, Bt, C } = operands(c);
    const { want, mag } = reference(c, A, Bt, C);
    assert.equal(gemmABtWasm(A, c.aOff, Bt, c.btOff, C, c.cOff, c.M, c.K, c.N), true);
    assertClose(C, want, mag, c.K, `M ${c.M}, K ${c.K}, N ${c.N}`);
  }
});

test('gemmABt sends f32 with N·K ≥ WASM_MIN_NK to WebAssembly, everything else to the JS kernel', WASM, () => {
  const run = (f: typeof gemmABt, M: number, K: number, N: number, Ctor: Float32ArrayConstructor | Float64ArrayConstructor) => {
    const rnd = seeded(M * 1000 + K * 10 + N);
    const A = new Ctor(Array.from({ length: M * K }, () => rnd() - 0.5)), Bt = new Ctor(Array.from({ length: N * K }, () => rnd() - 0.5));
    const C = new Ctor(M * N);
    f(A, 0, Bt, 0, C, 0, M, K, N);
    return C;
  };
  const wasm: typeof gemmABt = (A, aOff, Bt, btOff, C, cOff, M, K, N) => {
    assert.ok(gemmABtWasm(A as Float32Array, aOff, Bt as Float32Array, btOff, C as Float32Array, cOff, M, K, N));
  };
  // Big enough: the same bits as the WebAssembly kernel, and not those of the JS one (f64 sums).
  for (const [M, K, N] of [[33, 64, 40], [1, 16, 16], [130, 256, 9]]) {
    assert.ok(K * N >= WASM_MIN_NK);
    const got = run(gemmABt, M, K, N, Float32Array);
    assert.deepEqual(got, run(wasm, M, K, N, Float32Array), `${M}×${K}×${N}`);
    assert.notDeepEqual(got, run(gemmABtJs, M, K, N, Float32Array), `${M}×${K}×${N}: the JS kernel gives the same bits, so the test tells nothing`);
  }
  // Small f32, and f64 of any size: the JS kernel.
  for (const [M, K, N] of [[64, 8, 8], [5, 3, 7]]) {
    assert.ok(K * N < WASM_MIN_NK);
    assert.deepEqual(run(gemmABt, M, K, N, Float32Array), run(gemmABtJs, M, K, N, Float32Array));
  }
  assert.deepEqual(run(gemmABt, 33, 64, 40, Float64Array), run(gemmABtJs, 33, 64, 40, Float64Array));
});

const threadsBefore = pool.threads;
after(() => pool.setThreads(threadsBefore));

test('a worker thread runs the WebAssembly kernel: its parts give the same bits as one thread', WASM, async () => {
  pool.setThreads(2);
  const M = 256, K = 96, N = 72, parts = 8;
  const rnd = seeded(17);
  const A = Float32Array.from({ length: M * K }, () => rnd() - 0.5), Bt = Float32Array.from({ length: N * K }, () => rnd() - 0.5);
  const one = new Float32Array(M * N), js = new Float32Array(M * N);
  gemmABtWasm(A, 0, Bt, 0, one, 0, M, K, N);
  gemmABtJs(A, 0, Bt, 0, js, 0, M, K, N);
  assert.notDeepEqual(one, js, 'the JS kernel gives the same bits, so the test tells nothing');
  const workerTook = await runUntilWorkerTakesPart(A, Bt, M, K, N, parts, (C) => assert.deepEqual(C, one, 'a split product differs from one thread'));
  assert.ok(workerTook > 0, 'the worker never took a part');
});

test('the committed gemm-wasm.ts is a fresh wabt compile of gemm.wat (npm run build:wasm)', () => assertFreshCompile('gemm', gemmWasmBytes));
