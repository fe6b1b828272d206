// The f32 CPU attention on the matrix kernels (engine/cpu/fused.ts attentionFwdGemm /
// attentionBwdGemm) and for narrow heads in WebAssembly (engine/cpu/wasm/attention.ts): o, lse,
// dQ, dK, dV against the f64 loops on random shapes (l = 1, s = 1, odd sizes, dqk ≠ dv, 9 and 72,
// several heads, custom scales), the size rules that pick them, head ranges (thread parts)
// bit-identical to the whole, and 1 vs 2 threads giving the same bits.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seeded } from '../../autograd/op-cases.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { attentionBwd, attentionBwdGemm, attentionFwd, attentionFwdGemm, attentionUsesGemm } from '../../engine/cpu/fused.ts';
import { attentionBwdWasm, attentionFwdWasm, smallHeads } from '../../engine/cpu/wasm/attention.ts';
import { KERNELS } from '../../engine/cpu/parallel-kernels.ts';
import { pool, type PartRunner } from '../../engine/cpu/threads.ts';
import type { AttentionDims } from '../../engine/backend.ts';

interface Case { n: number; l: number; s: number; dqk: number; dv: number; scale: number; seed: number }

const len = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 4, 5, 7, 9, 16, 17), fc.integer({ min: 1, max: 40 }));
const caseArb: fc.Arbitrary<Case> = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  l: len,
  s: len,
  dqk: fc.constantFrom(1, 2, 3, 8, 9, 16, 72),
  dv: fc.constantFrom(1, 5, 9, 16, 72),
  // Custom scales as multiples of the default 1/√dqk: the scores stay O(1), as in a model.
  scale: fc.constantFrom(1, 1, 2, -1.5),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
}).map((c) => ({ ...c, scale: c.scale / Math.sqrt(c.dqk) }));

function inputs({ n, l, s, dqk, dv, seed }: Case) {
  const rnd = seeded(seed);
  const mk = (m: number) => Float32Array.from({ length: m }, () => rnd() * 3 - 1.5);
  return { Q: mk(n * l * dqk), K: mk(n * s * dqk), V: mk(n * s * dv), dO: mk(n * l * dv) };
}

type F32 = Float32Array;
interface Outs<T> { o: T; lse: T; dq: T; dk: T; dv: T }

/** Forward then backward (on the forward's own o and lse) with the given pair of functions. */
function run<T extends Float32Array | Float64Array>(
  Ctor: { new (n: number): T; from(x: ArrayLike<number>): T }, c: Case, inp: ReturnType<typeof inputs>,
  fwd: typeof attentionFwd, bwd: typeof attentionBwd,
): Outs<T> {
  const d: AttentionDims = c;
  const [Q, K, V, dO] = [inp.Q, inp.K, inp.V, inp.dO].map((x) => Ctor.from(x));
  const o = new Ctor(c.n * c.l * c.dv), lse = new Ctor(c.n * c.l);
  fwd(Q!, K!, V!, d, o, lse, 0, c.n);
  const dq = new Ctor(Q!.length), dk = new Ctor(K!.length), dv = new Ctor(V!.length);
  bwd(Q!, K!, V!, o, lse, dO!, d, dq, dk, dv, 0, c.n);
  return { o, lse, dq, dk, dv };
}

const gemmFwd = attentionFwdGemm as typeof attentionFwd;
const gemmBwd = attentionBwdGemm as typeof attentionBwd;
/** The WebAssembly small-head path, on any shape (it is what attentionFwd picks for small heads). */
const smallFwd: typeof attentionFwd = (Q, K, V, d, O, LSE, h0 = 0, h1 = d.n) =>
  assert.ok(attentionFwdWasm(Q as F32, K as F32, V as F32, d, O as F32, LSE as F32, h0, h1), 'the WebAssembly module is unavailable');
const smallBwd: typeof attentionBwd = (Q, K, V, O, LSE, dO, d, dQ, dK, dV, h0 = 0, h1 = d.n) =>
  assert.ok(attentionBwdWasm(Q as F32, K as F32, V as F32, O as F32, LSE as F32, dO as F32, d, dQ as F32, dK as F32, dV as F32, h0, h1), 'the WebAssembly module is unavailable');
/** The tests that need the module: not run when AVDIT_CPU_WASM=0 turns it off. */
const WASM = process.env.AVDIT_CPU_WASM !== '0';
const maxAbs = (x: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
};

/**
 * Each output within 1e-5 of its scale: the largest |f64 value|, or where the sums cancel, the
 * size of what cancels. o is a convex combination of V's rows (max|V|); lse at least 1 (an
 * absolute error of lse is P's relative error); dS = P ∘ (dP − D) cancels (exactly, when s = 1),
 * so dQ and dK are measured against |scale| · max|dP terms| (max_i Σ_c |dO_ic| · max|V|) · max|K or Q|;
 * dV = Pᵀ dO against max_c Σ_i |dO_ic| (P ≤ 1).
 */
function assertClose(got: Outs<F32>, want: Outs<Float64Array>, c: Case, inp: ReturnType<typeof inputs>, what: string): void {
  let rowDO = 0, colDO = 0;
  for (let h = 0; h < c.n; h++) {
    for (let i = 0; i < c.l; i++) rowDO = Math.max(rowDO, inp.dO.subarray((h * c.l + i) * c.dv, (h * c.l + i + 1) * c.dv).reduce((a, x) => a + Math.abs(x), 0));
    for (let k = 0; k < c.dv; k++) {
      let sum = 0;
      for (let i = 0; i < c.l; i++) sum += Math.abs(inp.dO[(h * c.l + i) * c.dv + k]!);
      colDO = Math.max(colDO, sum);
    }
  }
  const dp = Math.abs(c.scale) * rowDO * maxAbs(inp.V);
  const floor: Record<keyof Outs<F32>, number> = { o: maxAbs(inp.V), lse: 1, dq: dp * maxAbs(inp.K), dk: dp * maxAbs(inp.Q), dv: colDO };
  for (const key of ['o', 'lse', 'dq', 'dk', 'dv'] as const) {
    const g = got[key], w = want[key];
    const tol = 1e-5 * Math.max(maxAbs(w), floor[key], 1e-30);
    for (let i = 0; i < w.length; i++) {
      if (!(Math.abs(g[i]! - w[i]!) <= tol)) assert.fail(`${what}: ${key}[${i}] = ${g[i]} vs ${w[i]} (tolerance ${tol})`);
    }
  }
}

const label = (c: Case) => `n${c.n} l${c.l} s${c.s} dqk${c.dqk} dv${c.dv} scale${c.scale.toFixed(3)}`;

test('f32 attention on the matrix kernels matches the f64 loops: o, lse, dQ, dK, dV (random shapes)', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const inp = inputs(c);
      const want = run(Float64Array, c, inp, attentionFwd, attentionBwd);
      // The gemm path and the small-head path on every shape, also where attentionFwd would not pick them ...
      assertClose(run(Float32Array, c, inp, gemmFwd, gemmBwd), want, c, inp, `gemm ${label(c)}`);
      if (WASM) assertClose(run(Float32Array, c, inp, smallFwd, smallBwd), want, c, inp, `small heads ${label(c)}`);
      // ... and whatever attentionFwd / attentionBwd pick for f32.
      assertClose(run(Float32Array, c, inp, attentionFwd, attentionBwd), want, c, inp, `dispatch ${label(c)}`);
    }),
    { numRuns: 120, seed: 5 },
  );
});

test('fixed shapes: the models\' heads (16², 32², 48², frames with dqk 2), l = 1, s = 1, 9 / 72', () => {
  const cases: [number, number, number, number, number][] = [
    // n, l, s, dqk, dv
    [4, 16, 16, 16, 16], [2, 32, 32, 16, 16], [2, 48, 48, 16, 16], [8, 4, 4, 2, 16], [8, 8, 8, 2, 16],
    [3, 1, 1, 9, 72], [3, 1, 23, 9, 72], [3, 23, 1, 72, 9], [2, 13, 29, 9, 72], [2, 29, 13, 72, 9],
  ];
  cases.forEach(([n, l, s, dqk, dv], i) => {
    const c: Case = { n, l, s, dqk, dv, scale: 1 / Math.sqrt(dqk), seed: 100 + i };
    const inp = inputs(c);
    const want = run(Float64Array, c, inp, attentionFwd, attentionBwd);
    assertClose(run(Float32Array, c, inp, gemmFwd, gemmBwd), want, c, inp, label(c));
    if (WASM) assertClose(run(Float32Array, c, inp, smallFwd, smallBwd), want, c, inp, `small heads ${label(c)}`);
  });
});

test('the size rules: narrow heads take the WebAssembly path, wider ones the matrix kernels, thin and tiny heads the loops', () => {
  const d = (l: number, s: number, dqk: number, dv: number): AttentionDims => ({ n: 1, l, s, dqk, dv, scale: 1 });
  for (const x of [d(16, 16, 16, 16), d(32, 32, 16, 16), d(48, 48, 16, 16), d(4, 4, 2, 16), d(8, 8, 2, 16), d(4, 4, 8, 8)]) assert.ok(attentionUsesGemm(x), JSON.stringify(x));
  for (const x of [d(1, 64, 16, 16), d(64, 1, 16, 16), d(3, 3, 16, 16), d(4, 4, 2, 2), d(1, 1, 72, 72)]) assert.ok(!attentionUsesGemm(x), JSON.stringify(x));
  // Narrow heads (the tiny models': dqk + dv ≤ 64) among those go to the WebAssembly path; heads of
  // a few elements keep the loops (their f64 sums: a gradient that is zero in exact arithmetic stays ~1e-17).
  for (const x of [d(16, 16, 16, 16), d(32, 32, 16, 16), d(48, 48, 16, 16), d(8, 8, 2, 16), d(4, 4, 2, 16), d(256, 256, 16, 16)]) assert.ok(smallHeads(x), JSON.stringify(x));
  for (const x of [d(256, 256, 72, 72), d(16, 16, 72, 72), d(4, 4, 9, 72), d(1, 1, 32, 32), d(4, 1, 16, 16), d(3, 3, 16, 16)]) assert.ok(!smallHeads(x), JSON.stringify(x));
  // Where they are picked, attentionFwd / attentionBwd give that path's bits.
  const big: Case = { n: 2, l: 30, s: 31, dqk: 9, dv: 72, scale: 1 / 3, seed: 41 };
  assert.ok(attentionUsesGemm(big) && !smallHeads(big));
  const bigIn = inputs(big);
  assert.deepEqual(run(Float32Array, big, bigIn, attentionFwd, attentionBwd), run(Float32Array, big, bigIn, gemmFwd, gemmBwd));
  if (!WASM) return;
  const c: Case = { n: 3, l: 9, s: 11, dqk: 9, dv: 16, scale: 1 / 3, seed: 42 };
  assert.ok(smallHeads(c));
  const inp = inputs(c);
  assert.deepEqual(run(Float32Array, c, inp, attentionFwd, attentionBwd), run(Float32Array, c, inp, smallFwd, smallBwd));
});

test('any head range (a thread part) gives the same bits as all heads at once (both paths)', () => {
  const c: Case = { n: 7, l: 13, s: 21, dqk: 9, dv: 16, scale: 0.3, seed: 9 };
  const inp = inputs(c);
  for (const [name, f, b] of [['gemm', gemmFwd, gemmBwd], ...(WASM ? [['small heads', smallFwd, smallBwd] as const] : [])] as const) {
    const whole = run(Float32Array, c, inp, f, b);
    for (const cut of [1, 3, 6]) {
      const ranges = [[0, cut], [cut, c.n]] as const;
      const fwd: typeof attentionFwd = (Q, K, V, d, O, LSE) => ranges.forEach(([x, y]) => f(Q, K, V, d, O, LSE, x, y));
      const bwd: typeof attentionBwd = (Q, K, V, O, LSE, dO, d, dQ, dK, dV) => ranges.forEach(([x, y]) => b(Q, K, V, O, LSE, dO, d, dQ, dK, dV, x, y));
      assert.deepEqual(run(Float32Array, c, inp, fwd, bwd), whole, `${name}: cut at head ${cut}`);
    }
  }
});

const threadsBefore = pool.threads;
after(() => pool.setThreads(threadsBefore));

test('1 and 2 threads give the same bits: a worker takes heads (forced split), and through the backend', async () => {
  const c: Case = { n: 10, l: 17, s: 23, dqk: 9, dv: 16, scale: 1 / 3, seed: 77 };
  const inp = inputs(c);
  pool.setThreads(1);
  const one = run(Float32Array, c, inp, attentionFwd, attentionBwd);
  pool.setThreads(2);
  // Parts of one head each: the worker starts in the background, so try for up to ~10 s until it has taken one.
  let workerTook = 0;
  for (let attempt = 0; attempt < 100 && workerTook === 0; attempt++) {
    let mainRan = 0;
    const counted = (k: PartRunner): PartRunner => (m, lo, hi) => {
      mainRan++;
      k(m, lo, hi);
    };
    const o = new Float32Array(one.o.length), lse = new Float32Array(one.lse.length);
    pool.run('attentionFwd', [inp.Q, inp.K, inp.V, o, lse], { ...c }, c.n, 1, counted(KERNELS.attentionFwd), [3, 4]);
    const dq = new Float32Array(inp.Q.length), dk = new Float32Array(inp.K.length), dv = new Float32Array(inp.V.length);
    pool.run('attentionBwd', [inp.Q, inp.K, inp.V, o, lse, inp.dO, dq, dk, dv], { ...c }, c.n, 1, counted(KERNELS.attentionBwd), [6, 7, 8]);
    assert.deepEqual({ o, lse, dq, dk, dv }, one, 'a split job differs from one thread');
    // Each job has min(2·threads, n) = 4 parts.
    workerTook = 8 - mainRan;
    if (workerTook === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(workerTook > 0, 'the worker never took a part');
  // Through the backend (its own part sizes), big enough to split: 1 and 2 threads.
  const big: AttentionDims = { n: 64, l: 48, s: 48, dqk: 16, dv: 16, scale: 0.25 };
  const rnd = seeded(3);
  const mk = (m: number) => cpuBackend.fromArray(Float32Array.from({ length: m }, () => rnd() * 2 - 1), 'f32');
  const [q, k, v, dO] = [mk(big.n * big.l * big.dqk), mk(big.n * big.s * big.dqk), mk(big.n * big.s * big.dv), mk(big.n * big.l * big.dv)];
  const both = (threads: number) => {
    pool.setThreads(threads);
    const { o, lse } = cpuBackend.attention(q!, k!, v!, big);
    const g = cpuBackend.attentionBwd(q!, k!, v!, o, lse, dO!, big);
    return [o, lse, g.dq, g.dk, g.dv].map((s) => cpuBackend.readSync!(s));
  };
  assert.deepEqual(both(2), both(1));
});
