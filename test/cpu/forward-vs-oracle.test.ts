// Every CPU op's forward pass against the independent reference in test/oracle.ts, on random
// shapes (size-1 and broadcast dims included) and values, in f64 and f32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { broadcastPairArb, seedArb, shapeArb, values } from '../../autograd/op-cases.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import type { DType } from '../../engine/dtype.ts';
import type { Tensor } from '../../engine/tensor.ts';
import * as O from '../oracle.ts';

const RUNS = { numRuns: 40, seed: 7 };
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const mk = (r: O.Ref, dtype: DType = 'f64'): Tensor => tensor(r.data, r.shape, { dtype, backend: cpuBackend });
const ref = (shape: number[], seed: number, domain: Parameters<typeof values>[1] = 'any') => new O.Ref(shape, values(size(shape), domain, seed));

function check(t: Tensor, r: O.Ref, what: string, rtol = 1e-12, atol = 1e-12): void {
  if (t.shape.join() !== r.shape.join()) throw new Error(`${what}: shape [${t.shape}] vs oracle [${r.shape}]`);
  O.assertClose(t.dataSync(), r.data, rtol, atol, what);
}

const UNARY: [string, (x: Tensor) => Tensor, (v: number) => number, Parameters<typeof values>[1]][] = [
  ['neg', A.neg, (v) => -v, 'any'],
  ['exp', A.exp, Math.exp, 'any'],
  ['log', A.log, Math.log, 'positive'],
  ['sqrt', A.sqrt, Math.sqrt, 'positive'],
  ['rsqrt', A.rsqrt, (v) => v ** -0.5, 'positive'],
  ['recip', A.recip, (v) => 1 / v, 'nonzero'],
  ['square', A.square, (v) => v * v, 'any'],
  ['powScalar', (x) => A.powScalar(x, 1.5), (v) => v ** 1.5, 'positive'],
  ['tanh', A.tanh, Math.tanh, 'any'],
  ['sigmoid', A.sigmoid, (v) => 1 / (1 + Math.exp(-v)), 'any'],
  ['silu', A.silu, (v) => v / (1 + Math.exp(-v)), 'any'],
  ['gelu', A.gelu, O.geluRef, 'any'],
  ['relu', A.relu, (v) => Math.max(v, 0), 'any'],
  ['abs', A.abs, Math.abs, 'any'],
  ['sin', A.sin, Math.sin, 'any'],
  ['cos', A.cos, Math.cos, 'any'],
  ['clamp', (x) => A.clamp(x, -0.5, 0.7), (v) => Math.min(0.7, Math.max(-0.5, v)), 'any'],
];

for (const [name, f, g, domain] of UNARY) {
  test(`${name} matches the oracle`, () => {
    fc.assert(
      fc.property(shapeArb(0, 4), seedArb, fc.constantFrom<DType>('f64', 'f32'), (s, seed, dtype) => {
        const x = ref(s, seed, domain);
        const expect = new O.Ref(s, x.data.map(g));
        check(f(mk(x, dtype)), dtype === 'f32' ? new O.Ref(s, expect.data) : expect, name, dtype === 'f32' ? 1e-6 : 1e-12, dtype === 'f32' ? 1e-6 : 1e-12);
      }),
      RUNS,
    );
  });
}

const BINARY: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
  ['add', A.add, (x, y) => x + y],
  ['sub', A.sub, (x, y) => x - y],
  ['mul', A.mul, (x, y) => x * y],
  ['div', A.div, (x, y) => x / y],
  ['maximum', A.maximum, Math.max],
  ['minimum', A.minimum, Math.min],
  ['gt', (a, b) => A.compare('gt', a, b), (x, y) => +(x > y)],
];

for (const [name, f, g] of BINARY) {
  test(`${name} broadcasts like NumPy`, () => {
    fc.assert(
      fc.property(broadcastPairArb, seedArb, ([sa, sb], seed) => {
        const a = ref(sa, seed), b = ref(sb, seed + 1, name === 'div' ? 'nonzero' : 'any');
        check(f(mk(a), mk(b)), O.map2(a, b, g), name);
      }),
      RUNS,
    );
  });
}

test('pow (tensor exponent) matches the oracle', () => {
  fc.assert(
    fc.property(broadcastPairArb, seedArb, ([sa, sb], seed) => {
      const a = ref(sa, seed, 'positive'), b = ref(sb, seed + 1);
      check(A.pow(mk(a), mk(b)), O.map2(a, b, Math.pow), 'pow');
    }),
    RUNS,
  );
});

test('where picks by mask with broadcasting', () => {
  fc.assert(
    fc.property(broadcastPairArb, seedArb, ([sa, sb], seed) => {
      const c = new O.Ref(sa, values(size(sa), 'any', seed + 9).map((v) => +(v > 0)));
      const a = ref(sa, seed), b = ref(sb, seed + 1);
      const expect = O.Ref.build(O.broadcastShape(sa, sb), (co) => (c.atBroadcast(co) ? a.atBroadcast(co) : b.atBroadcast(co)));
      check(A.where(mk(c), mk(a), mk(b)), expect, 'where');
    }),
    RUNS,
  );
});

for (const red of ['sum', 'mean', 'max'] as const) {
  test(`${red} over random axes, keepdim or not`, () => {
    fc.assert(
      fc.property(
        shapeArb(1, 4).chain((s) => fc.tuple(fc.constant(s), fc.subarray(s.map((_, i) => i), { minLength: 1 }), fc.boolean(), seedArb)),
        ([s, axes, keep, seed]) => {
          const x = ref(s, seed);
          const t = red === 'sum' ? A.sum(mk(x), axes, keep) : red === 'mean' ? A.mean(mk(x), axes, keep) : A.max(mk(x), axes, keep);
          check(t, O.reduce(x, axes, keep, red), red);
        },
      ),
      RUNS,
    );
  });
}

test('matmul with batch broadcasting and transposes matches mathjs', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }),
      fc.constantFrom([[], []], [[3], [3]], [[3], []], [[], [2]], [[2, 1], [3]], [[1, 2], [4, 1]]),
      fc.boolean(), fc.boolean(), seedArb,
      (m, k, n, [ba, bb], ta, tb, seed) => {
        const a = ref([...ba!, ...(ta ? [k, m] : [m, k])], seed);
        const b = ref([...bb!, ...(tb ? [n, k] : [k, n])], seed + 1);
        check(A.matmul(mk(a), mk(b), ta, tb), O.matmul(a, b, ta, tb), 'matmul', 1e-12, 1e-12);
      },
    ),
    RUNS,
  );
});

test('blocked matmul is right across block edges (sizes up to 300)', () => {
  for (const [m, k, n] of [[65, 129, 257], [300, 7, 3], [1, 300, 1]] as const) {
    const a = ref([m, k], m), b = ref([k, n], n);
    check(A.matmul(mk(a), mk(b)), O.matmul(a, b, false, false), `matmul ${m}x${k}x${n}`, 1e-10, 1e-10);
  }
});

test('permute, slice, concat, expand match the oracle', () => {
  fc.assert(
    fc.property(
      shapeArb(1, 5).chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length, maxLength: s.length }), seedArb)),
      ([s, perm, seed]) => {
        const x = ref(s, seed);
        check(A.permute(mk(x), perm), O.permute(x, perm), 'permute');
        const begin = s.map((d) => Math.floor(d / 2));
        const sz = s.map((d, i) => d - begin[i]!);
        check(A.slice(mk(x), begin, sz), O.slice(x, begin, sz), 'slice');
        const axis = seed % s.length;
        check(A.concat([mk(x), mk(x)], axis), O.concat([x, x], axis), 'concat');
        const big = [2, ...s];
        check(A.expand(mk(x), big), O.Ref.build(big, (c) => x.at(c.slice(1))), 'expand');
      },
    ),
    RUNS,
  );
});

test('softmax and layerNorm match the oracle', () => {
  fc.assert(
    fc.property(shapeArb(1, 3), seedArb, fc.boolean(), (s, seed, affine) => {
      const x = ref(s, seed);
      check(A.softmax(mk(x)), O.softmax(x), 'softmax');
      const d = s.at(-1)!;
      const w = affine ? values(d, 'any', seed + 1) : null, b = affine ? values(d, 'any', seed + 2) : null;
      const wt = w && tensor(w, [d], { dtype: 'f64' }), bt = b && tensor(b, [d], { dtype: 'f64' });
      check(A.layerNorm(mk(x), wt, bt, 1e-6), O.layerNorm(x, w, b, 1e-6), 'layerNorm', 1e-10, 1e-10);
    }),
    RUNS,
  );
});

test('gather picks rows; patchify equals a stride-p convolution', () => {
  const table = ref([5, 3], 11);
  const idx = tensor([4, 0, 4, 2], [2, 2], { dtype: 'i32' });
  check(A.gather(mk(table), idx), O.Ref.build([2, 2, 3], (c) => table.at([[4, 0, 4, 2][c[0]! * 2 + c[1]!]!, c[2]!])), 'gather');
  // conv2d(x, W, stride p) == patchify(x) · W.view(D, C·p·p)ᵀ
  const [N, C, H, W, p, D] = [2, 3, 4, 6, 2, 5];
  const x = ref([N, C, H, W], 3), w = ref([D, C, p, p], 4);
  const conv = O.Ref.build([N, (H / p) * (W / p), D], ([n, t, d]) => {
    const gy = Math.floor(t! / (W / p)), gx = t! % (W / p);
    let s = 0;
    for (let c = 0; c < C; c++) for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) s += x.at([n!, c, gy * p + i, gx * p + j]) * w.at([d!, c, i, j]);
    return s;
  });
  const tokens = A.patchify(mk(x), p);
  check(A.matmul(tokens, A.reshape(mk(w), [D, C * p * p]), false, true), conv, 'patchify·W');
});

test('f32 GELU and its gradient (the fast e^y paths) agree with f64 to f32 rounding over −40 … 40', () => {
  // The expected values use the σ form, x·σ(2u), which (unlike ½x(1 + tanh u)) does not cancel for
  // very negative x; a gradient of 1 makes geluBwd return dgelu/dx itself.
  const n = 20001;
  const xs = Float32Array.from({ length: n }, (_, i) => -40 + (80 * i) / (n - 1));
  const x = tensor(xs, [n], { dtype: 'f32', backend: cpuBackend });
  const got = A.gelu(x).dataSync();
  const ones = tensor(new Float32Array(n).fill(1), [n], { dtype: 'f32', backend: cpuBackend });
  const grad = cpuBackend.binary('geluBwd', x.storage(), [n], ones.storage(), [n], [n]);
  const gotGrad = (grad as unknown as { data: Float32Array }).data;
  const c = Math.sqrt(2 / Math.PI), a = 0.044715;
  for (let i = 0; i < n; i++) {
    const v = xs[i]!;
    const s = 1 / (1 + Math.exp(-2 * c * (v + a * v ** 3)));
    const want = v * s, wantGrad = s + 2 * v * s * (1 - s) * c * (1 + 3 * a * v * v);
    if (!(Math.abs(got[i]! - want) <= 2e-7 * Math.abs(want) + 1e-38)) throw new Error(`gelu(${v}) = ${got[i]}, expected ${want}`);
    if (!(Math.abs(gotGrad[i]! - wantGrad) <= 2e-7 * Math.abs(wantGrad) + 1e-38)) throw new Error(`gelu'(${v}) = ${gotGrad[i]}, expected ${wantGrad}`);
  }
});

// The random cases' values lie in [-2, 2], where exp(x) without the max subtracted is still fine.
test('softmax of large logits (±1000) stays finite: the row max is subtracted before exp (f64 and f32)', () => {
  for (const dtype of ['f64', 'f32'] as const) {
    const y = A.softmax(tensor([1000, 1001, 999, -1000, -1001, -1000], [2, 3], { dtype, backend: cpuBackend })).dataSync();
    const e = [Math.exp(-1), 1, Math.exp(-2)], s = e[0]! + e[1]! + e[2]!;
    O.assertClose(y, [e[0]! / s, e[1]! / s, e[2]! / s, 1 / (2 + Math.exp(-1)), Math.exp(-1) / (2 + Math.exp(-1)), 1 / (2 + Math.exp(-1))], 1e-6, 1e-7, `softmax ${dtype}`);
  }
});

test('max propagates NaN, as torch.amax (f64 and f32, any position in the row)', () => {
  for (const dtype of ['f64', 'f32'] as const) {
    const m = A.max(tensor([NaN, 1, 2, 1, NaN, 2, 1, 2, NaN, 1, 2, 3], [4, 3], { dtype, backend: cpuBackend }), 1).dataSync();
    assert.deepEqual([...m].map((v) => (Number.isNaN(v) ? 'NaN' : v)), ['NaN', 'NaN', 'NaN', 3], dtype);
  }
});

// Backend.reduce's i32 max (the WebGPU i32 tests' reference): it started from −∞, which an
// Int32Array stores as 0, so rows with nothing above 0 gave 0.
test('CPU i32 max of all-negative rows, and of rows of −2³¹', () => {
  const m = cpuBackend.readSync!(cpuBackend.reduce('max', cpuBackend.fromArray(new Int32Array([-5, -3, -7, -1]), 'i32'), [2, 2], [1]));
  assert.deepEqual([...m], [-3, -1]);
  const low = cpuBackend.readSync!(cpuBackend.reduce('max', cpuBackend.fromArray(new Int32Array([-(2 ** 31), -(2 ** 31)]), 'i32'), [1, 2], [1]));
  assert.deepEqual([...low], [-(2 ** 31)]);
});
