import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { both, broadcast, broadcastPairArb, cpu, expectSame, randomData, RUNS, shapeArb, sizeOf, useGpu } from './helpers.ts';

const gpu = useGpu();

test('permute', async () => {
  const arb = shapeArb(5, 5).chain((s) => fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length, maxLength: s.length }).map((p) => [s, p] as const));
  await fc.assert(
    fc.asyncProperty(arb, fc.integer(), async ([shape, perm], seed) => {
      const [c, g] = both(gpu(), randomData(sizeOf(shape), seed));
      await expectSame(gpu(), gpu().permute(g, shape, perm), cpu.permute(c, shape, perm), 0, 0, 'permute');
    }),
    RUNS,
  );
});

/** A shape with a box inside it. */
const boxArb = shapeArb(5, 6).chain((s) =>
  fc.tuple(...s.map((d) => fc.integer({ min: 0, max: d - 1 }).chain((b) => fc.integer({ min: 0, max: d - b }).map((n) => [b, n] as const)))).map(
    (bn) => [s, bn.map((x) => x[0]), bn.map((x) => x[1])] as const,
  ),
);

test('slice and padSlice (its gradient)', async () => {
  await fc.assert(
    fc.asyncProperty(boxArb, fc.integer(), async ([shape, begin, size], seed) => {
      const [c, g] = both(gpu(), randomData(sizeOf(shape), seed));
      await expectSame(gpu(), gpu().slice(g, shape, begin, size), cpu.slice(c, shape, begin, size), 0, 0, 'slice');
      const [cs, gs] = both(gpu(), randomData(sizeOf(size), seed + 1));
      await expectSame(gpu(), gpu().padSlice(gs, size, shape, begin), cpu.padSlice(cs, size, shape, begin), 0, 0, 'padSlice');
    }),
    RUNS,
  );
});

test('slice with its axes permuted in the same copy: the GPU as the CPU, and the CPU as a slice then a permute', async () => {
  const arb = boxArb.chain(([s, b, n]) => fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length, maxLength: s.length }).map((p) => [s, b, n, p] as const));
  await fc.assert(
    fc.asyncProperty(arb, fc.integer(), async ([shape, begin, size, perm], seed) => {
      const [c, g] = both(gpu(), randomData(sizeOf(shape), seed));
      const want = cpu.slice(c, shape, begin, size, perm);
      await expectSame(gpu(), gpu().slice(g, shape, begin, size, perm), want, 0, 0, 'slice, permuted');
      const twoSteps = cpu.permute(cpu.slice(c, shape, begin, size), size, perm);
      assert.deepEqual(cpu.readSync!(want), cpu.readSync!(twoSteps));
    }),
    RUNS,
  );
});

test('concat of parts stored permuted (the adjoint of the permuted slice): the GPU as the CPU, and as permuting each part first', async () => {
  const arb = shapeArb(4, 4).filter((s) => s.length > 0).chain((base) =>
    fc.tuple(fc.nat(base.length - 1), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }), fc.shuffledSubarray(base.map((_, i) => i), { minLength: base.length, maxLength: base.length }))
      .map(([axis, sizes, perm]) => [base, axis, sizes, perm] as const),
  );
  await fc.assert(
    fc.asyncProperty(arb, fc.integer(), async ([base, axis, sizes, perm], seed) => {
      const parts = sizes.map((n) => base.map((d, i) => (i === axis ? n : d)));
      const stored = parts.map((p) => perm.map((a) => p[a]!));
      const pairs = stored.map((s, k) => both(gpu(), randomData(sizeOf(s), seed + k)));
      const perms = parts.map(() => perm);
      const want = cpu.concat(pairs.map((p) => p[0]), parts, axis, perms);
      await expectSame(gpu(), gpu().concat(pairs.map((p) => p[1]), parts, axis, perms), want, 0, 0, 'concat, permuted parts');
      // Permuting each stored part back (output axis a is stored axis perm.indexOf(a)) and concatenating plainly.
      const inverse = base.map((_, a) => perm.indexOf(a));
      const plain = cpu.concat(pairs.map((p, k) => cpu.permute(p[0], stored[k]!, inverse)), parts, axis);
      assert.deepEqual(cpu.readSync!(want), cpu.readSync!(plain));
    }),
    RUNS,
  );
});

test('concat along any axis, expand', async () => {
  await fc.assert(
    fc.asyncProperty(shapeArb(4, 4).filter((s) => s.length > 0), fc.nat(), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }), fc.integer(), async (base, ax, sizes, seed) => {
      const axis = ax % base.length;
      const shapes = sizes.map((n) => base.map((d, i) => (i === axis ? n : d)));
      const pairs = shapes.map((s, k) => both(gpu(), randomData(sizeOf(s), seed + k)));
      await expectSame(gpu(), gpu().concat(pairs.map((p) => p[1]), shapes, axis), cpu.concat(pairs.map((p) => p[0]), shapes, axis), 0, 0, 'concat');
    }),
    RUNS,
  );
  await fc.assert(
    fc.asyncProperty(broadcastPairArb(5, 4), fc.integer(), async ([s, t], seed) => {
      const out = broadcast(s, t);
      const [c, g] = both(gpu(), randomData(sizeOf(s), seed));
      await expectSame(gpu(), gpu().expand(g, s, out), cpu.expand(c, s, out), 0, 0, 'expand');
    }),
    RUNS,
  );
});

test('copies 4 words at a time where the layout allows (head splits, aligned slices, concat, expand), else 1', async () => {
  const x = randomData(2 * 3 * 4 * 8, 9);
  const [c, g] = both(gpu(), x);
  for (const perm of [[0, 2, 1, 3], [2, 0, 1, 3], [0, 1, 3, 2]]) {
    await expectSame(gpu(), gpu().permute(g, [2, 3, 4, 8], perm), cpu.permute(c, [2, 3, 4, 8], perm), 0, 0, `permute ${perm}`);
  }
  const [c2, g2] = both(gpu(), randomData(4 * 12, 10));
  for (const [begin, size] of [[[1, 4], [2, 8]], [[1, 2], [2, 8]], [[0, 0], [4, 12]], [[2, 4], [2, 4]]]) {
    await expectSame(gpu(), gpu().slice(g2, [4, 12], begin!, size!), cpu.slice(c2, [4, 12], begin!, size!), 0, 0, `slice ${begin} ${size}`);
    const [cs, gs] = both(gpu(), randomData(size![0]! * size![1]!, 11));
    await expectSame(gpu(), gpu().padSlice(gs, size!, [4, 12], begin!), cpu.padSlice(cs, size!, [4, 12], begin!), 0, 0, `padSlice ${begin} ${size}`);
  }
  const [ca, ga] = both(gpu(), randomData(24, 12)), [cb, gb] = both(gpu(), randomData(12, 13));
  await expectSame(gpu(), gpu().concat([ga, gb], [[3, 8], [3, 4]], 1), cpu.concat([ca, cb], [[3, 8], [3, 4]], 1), 0, 0, 'concat axis 1');
  await expectSame(gpu(), gpu().concat([gb, ga], [[3, 4], [6, 4]], 0), cpu.concat([cb, ca], [[3, 4], [6, 4]], 0), 0, 0, 'concat axis 0');
  const [ce, ge] = both(gpu(), randomData(8, 14));
  await expectSame(gpu(), gpu().expand(ge, [1, 8], [3, 8]), cpu.expand(ce, [1, 8], [3, 8]), 0, 0, 'expand');
});

test('cast, fill', async () => {
  const x = new Float32Array([0, 1.7, -1.7, 2.5, -2.5, 1e6 + 0.5, -123.99]);
  const [c, g] = both(gpu(), x);
  const gi = gpu().cast(g, 'i32');
  await expectSame(gpu(), gi, cpu.cast(c, 'i32'), 0, 0, 'f32->i32');
  await expectSame(gpu(), gpu().cast(gi, 'f32'), cpu.cast(cpu.cast(c, 'i32'), 'f32'), 0, 0, 'i32->f32');
  await expectSame(gpu(), gpu().fill(1000, 'f32', -0.25), cpu.fill(1000, 'f32', -0.25), 0, 0, 'fill f32');
  await expectSame(gpu(), gpu().fill(5, 'i32', -7), cpu.fill(5, 'i32', -7), 0, 0, 'fill i32');
  assert.equal((await gpu().read(gpu().fill(0, 'f32', 1))).length, 0);
});

test('gather and scatterAdd (deterministic, repeated indices)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 20 }), fc.integer(), async (V, D, n, seed) => {
      const idx = Int32Array.from(randomData(n, seed, 0, V), Math.floor);
      const [ct, gt] = both(gpu(), randomData(V * D, seed + 1));
      const [ci, gi] = both(gpu(), idx, 'i32');
      await expectSame(gpu(), gpu().gather(gt, [V, D], gi), cpu.gather(ct, [V, D], ci), 0, 0, 'gather');
      const [cs, gs] = both(gpu(), randomData(n * D, seed + 2));
      await expectSame(gpu(), gpu().scatterAdd(gs, [n, D], gi, V), cpu.scatterAdd(cs, [n, D], ci, V), 1e-6, 1e-6, 'scatterAdd');
    }),
    RUNS,
  );
});

test('gather/scatterAdd with an out-of-range index throw at the next read', async () => {
  const t = gpu().fromArray(new Float32Array(6), 'f32');
  const bad = gpu().fromArray(new Int32Array([0, 3]), 'i32');
  await assert.rejects(gpu().read(gpu().gather(t, [3, 2], bad)), /gather: an index is out of range for a table of 3 rows/);
  const ok = gpu().gather(t, [3, 2], gpu().fromArray(new Int32Array([2]), 'i32'));
  assert.equal((await gpu().read(ok)).length, 2);
  const src = gpu().fromArray(new Float32Array(4), 'f32');
  await assert.rejects(gpu().read(gpu().scatterAdd(src, [2, 2], bad, 2)), /scatterAdd: an index is out of range for 2 rows/);
});

test('matmul: transposes and batch broadcasting', async () => {
  const dims = fc.integer({ min: 1, max: 9 });
  const batchArb = fc.constantFrom<[number[], number[]]>([[], []], [[3], [3]], [[3], []], [[], [2]], [[2, 1], [1, 3]], [[4, 2], [2]], [[1], [5]]);
  await fc.assert(
    fc.asyncProperty(dims, dims, dims, fc.boolean(), fc.boolean(), batchArb, fc.integer(), async (M, N, K, tA, tB, [ba, bb], seed) => {
      const as = [...ba, ...(tA ? [K, M] : [M, K])], bs = [...bb, ...(tB ? [N, K] : [K, N])];
      const out = [...broadcast(ba, bb), M, N];
      const [ca, ga] = both(gpu(), randomData(sizeOf(as), seed)), [cb, gb] = both(gpu(), randomData(sizeOf(bs), seed + 1));
      await expectSame(gpu(), gpu().matmul(ga, as, gb, bs, tA, tB, out), cpu.matmul(ca, as, cb, bs, tA, tB, out), 1e-5, 1e-5, `matmul ${as} ${bs}`);
    }),
    { numRuns: 25 },
  );
});

test('matmul against the CPU backend at sizes of several tiles: edge tiles, vec4 and scalar loads, transposes, batch broadcast', async () => {
  // Up to 150: three 64-row and two 128-column tiles of lavapipe's config, K over ten 16-steps;
  // multiples of 4 take the vec4 loads, the rest the scalar ones.
  const dim = fc.oneof(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 37 }).map((d) => 4 * d));
  const batchArb = fc.constantFrom<[number[], number[]]>([[], []], [[2], [2]], [[2], []], [[], [2]], [[2, 1], [1, 2]]);
  await fc.assert(
    fc.asyncProperty(dim, dim, dim, fc.boolean(), fc.boolean(), batchArb, fc.integer(), async (M, N, K, tA, tB, [ba, bb], seed) => {
      const as = [...ba, ...(tA ? [K, M] : [M, K])], bs = [...bb, ...(tB ? [N, K] : [K, N])];
      const out = [...broadcast(ba, bb), M, N];
      const [ca, ga] = both(gpu(), randomData(sizeOf(as), seed)), [cb, gb] = both(gpu(), randomData(sizeOf(bs), seed + 1));
      const g = gpu().matmul(ga, as, gb, bs, tA, tB, out), c = cpu.matmul(ca, as, cb, bs, tA, tB, out);
      // |a·b| ≤ 4 per term: f32 sums of K terms in different orders differ by about √K·K·2⁻²⁴·4.
      await expectSame(gpu(), g, c, 1e-5, 3e-6 * K, `matmul ${as} ${bs}`);
      for (const s of [ga, gb, g]) gpu().free(s);
    }),
    { numRuns: 20, seed: 1 },
  );
});
