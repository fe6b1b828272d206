import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rowTuning } from '../../kernels/row.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import fc from 'fast-check';
import { both, cpu, expectSame, normConditioning, perRowAtol, randomData, RUNS, shapeArb, sizeOf, useGpu } from './helpers.ts';

const gpu = useGpu();

/** A shape and a non-empty subset of its axes. */
const shapeAxesArb = shapeArb(5, 6).filter((s) => s.length > 0).chain((s) =>
  fc.subarray(s.map((_, i) => i), { minLength: 1 }).map((axes) => [s, axes] as const),
);

test('sum and max over any axes match the CPU', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('sum' as const, 'max' as const), shapeAxesArb, fc.integer(), async (op, [shape, axes], seed) => {
      const [c, g] = both(gpu(), randomData(sizeOf(shape), seed));
      // Tree vs sequential summation order: tolerance scales with the row length.
      await expectSame(gpu(), gpu().reduce(op, g, shape, axes), cpu.reduce(op, c, shape, axes), 1e-5, 1e-5, `${op} ${shape} ${axes}`);
    }),
    { numRuns: 30 },
  );
});

test('reduce: long rows (workgroup tree), many short rows (serial), negatives for max, i32 sum', async () => {
  const cases: [number[], number[]][] = [[[3, 5000], [1]], [[2000, 3], [1]], [[7, 300, 5], [0, 2]], [[70000], [0]]];
  for (const [shape, axes] of cases) {
    const x = randomData(sizeOf(shape), 3, -5, -1);
    const [c, g] = both(gpu(), x);
    await expectSame(gpu(), gpu().reduce('max', g, shape, axes), cpu.reduce('max', c, shape, axes), 0, 0, `max ${shape}`);
    await expectSame(gpu(), gpu().reduce('sum', g, shape, axes), cpu.reduce('sum', c, shape, axes), 1e-5, 1e-3, `sum ${shape}`);
  }
  const xi = Int32Array.from({ length: 600 }, (_, i) => (i % 13) - 6);
  const [ci, gi] = both(gpu(), xi, 'i32');
  await expectSame(gpu(), gpu().reduce('sum', gi, [20, 30], [0]), cpu.reduce('sum', ci, [20, 30], [0]), 0, 0, 'i32 sum');
});

test('reduce layouts: columns (one pass and chunked into partials), batched and strided, contiguous rows', async () => {
  // [shape, axes]: Σ over rows of [R, C] (5000 rows → 20 chunks of 256, then a second pass),
  // a batch of column sums, reduced dims that merge, reduced dims that do not (two strides),
  // contiguous rows short and long.
  const cases: [number[], number[]][] = [
    [[5000, 40], [0]], [[3, 700, 33], [1]], [[4, 300, 2, 20], [1, 2]], [[6, 20, 5, 17], [0, 2]],
    [[300, 16], [0]], [[37, 16], [1]], [[9, 1200], [1]], [[2, 3, 100000], [2]],
  ];
  for (const [shape, axes] of cases) {
    const [c, g] = both(gpu(), randomData(sizeOf(shape), 5, -3, 2));
    await expectSame(gpu(), gpu().reduce('max', g, shape, axes), cpu.reduce('max', c, shape, axes), 0, 0, `max ${shape} ${axes}`);
    await expectSame(gpu(), gpu().reduce('sum', g, shape, axes), cpu.reduce('sum', c, shape, axes), 1e-5, 2e-4, `sum ${shape} ${axes}`);
  }
  const xi = Int32Array.from({ length: 3000 * 20 }, (_, i) => (i % 17) - 8);
  const [ci, gi] = both(gpu(), xi, 'i32');
  await expectSame(gpu(), gpu().reduce('sum', gi, [3000, 20], [0]), cpu.reduce('sum', ci, [3000, 20], [0]), 0, 0, 'i32 sum, chunked columns');
  await expectSame(gpu(), gpu().reduce('max', gi, [20, 3000], [1]), cpu.reduce('max', ci, [20, 3000], [1]), 0, 0, 'i32 max, rows');
});

// Row lengths for every invocations-per-row choice of kernels/row.ts (8 … 256 per row, several rows per workgroup).
// Rows of 4096 are the longest kept in registers (16 per invocation, as 4 vec4), 4100 (vec4) and
// 5001 (scalar) are read again each pass (kernels/row.ts); the examples make sure all run every time.
const rowsArb = fc.tuple(
  fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 }),
  fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 250, max: 700 }), fc.constantFrom(1152, 2100, 4096, 4100, 5001)),
);

test('softmax and softmaxBwd over the last axis', async () => {
  await fc.assert(
    fc.asyncProperty(rowsArb, fc.integer(), async ([lead, D], seed) => {
      const shape = [...lead, D];
      const n = sizeOf(shape);
      const [cx, gx] = both(gpu(), randomData(n, seed, -6, 6));
      const cy = cpu.softmax(cx, shape), gy = gpu().softmax(gx, shape);
      await expectSame(gpu(), gy, cy, 2e-5, 1e-7, 'softmax');
      const [cdy, gdy] = both(gpu(), randomData(n, seed + 1));
      await expectSame(gpu(), gpu().softmaxBwd(gy, gdy, shape), cpu.softmaxBwd(cy, cdy, shape), 2e-4, 1e-6, 'softmaxBwd');
    }),
    { ...RUNS, examples: [[[[2], 4096], 1], [[[1], 4100], 3], [[[3], 5001], 2]] },
  );
});

test('layerNorm forward (with/without weight and bias) and backward', async () => {
  await fc.assert(
    fc.asyncProperty(rowsArb, fc.boolean(), fc.boolean(), fc.integer(), async ([lead, D], hasW, hasB, seed) => {
      const shape = [...lead, D];
      const n = sizeOf(shape);
      const [cx, gx] = both(gpu(), randomData(n, seed, -3, 5));
      const [cw, gw] = hasW ? both(gpu(), randomData(D, seed + 1)) : [null, null];
      const [cb, gb] = hasB ? both(gpu(), randomData(D, seed + 2)) : [null, null];
      const c = cpu.layerNorm(cx, shape, cw, cb, 1e-6), g = gpu().layerNorm(gx, shape, gw, gb, 1e-6);
      // Rows whose values nearly agree are ill-conditioned in f32 (helpers.normConditioning).
      const rs = cpu.readSync!(c.rstd), kappa = normConditioning(cpu.readSync!(cx), rs, D);
      await expectSame(gpu(), g.y, c.y, 1e-4, perRowAtol(kappa, D, 1e-5, 16), 'y');
      await expectSame(gpu(), g.mean, c.mean, 1e-5, 1e-6, 'mean');
      await expectSame(gpu(), g.rstd, c.rstd, 1e-4, kappa.map((k, r) => 1e-5 + 8 * k * rs[r]!), 'rstd');
      const [cdy, gdy] = both(gpu(), randomData(n, seed + 3));
      const cg = cpu.layerNormBwd(cdy, cx, c.mean, c.rstd, cw, shape, hasB);
      const gg = gpu().layerNormBwd(gdy, gx, g.mean, g.rstd, gw, shape, hasB);
      await expectSame(gpu(), gg.dx, cg.dx, 1e-3, perRowAtol(kappa.map((k, r) => k * rs[r]!), D, 1e-4, 64), 'dx');
      if (hasW) await expectSame(gpu(), gg.dw!, cg.dw!, 1e-4, 1e-4 + 16 * kappa.reduce((s, k) => s + k, 0), 'dw');
      if (hasB) await expectSame(gpu(), gg.db!, cg.db!, 1e-4, 1e-4, 'db');
      if (!hasW && gg.dw !== null) throw new Error('dw without weight');
    }),
    { ...RUNS, examples: [[[[2], 4096], true, true, 1], [[[1], 4100], false, true, 3], [[[3], 5001], true, false, 2]] },
  );
});

test('row reductions: subgroup shuffles and the workgroup tree both match the CPU, at every row width', async () => {
  const be = gpu() as WebGpuBackend;
  const keys: string[] = [];
  const dispatch = be.ctx.dispatch.bind(be.ctx);
  be.ctx.dispatch = (d) => { keys.push(d.key); dispatch(d); };
  const SG = be.ctx.features.subgroupSize;
  try {
    for (const subgroups of [true, false]) {
      rowTuning.subgroups = subgroups;
      keys.length = 0;
      // Row kernels: 8 … 256 invocations per row (narrower than, as wide as, wider than a subgroup);
      // reduce's rows layout: from 4 per row (several rows inside one subgroup on lavapipe's 8).
      for (const D of [5, 64, 100, 256, 520, 1152, 2100]) {
        const shape = [3, D];
        const [cx, gx] = both(be, randomData(3 * D, D, -4, 4));
        await expectSame(be, be.softmax(gx, shape), cpu.softmax(cx, shape), 2e-5, 1e-7, `softmax D=${D}`);
        const c = cpu.layerNorm(cx, shape, null, null, 1e-6), g = be.layerNorm(gx, shape, null, null, 1e-6);
        await expectSame(be, g.y, c.y, 1e-4, 1e-5, `layerNorm D=${D}`);
      }
      for (const R of [16, 40, 64, 300, 1152, 70000]) {
        const [cx, gx] = both(be, randomData(5 * R, R, -3, 2));
        await expectSame(be, be.reduce('max', gx, [5, R], [1]), cpu.reduce('max', cx, [5, R], [1]), 0, 0, `max rows of ${R}`);
        await expectSame(be, be.reduce('sum', gx, [5, R], [1]), cpu.reduce('sum', cx, [5, R], [1]), 1e-5, 1e-3, `sum rows of ${R}`);
      }
      // The one-workgroup-per-output layout (a long reduced axis that is not contiguous).
      const [cx, gx] = both(be, randomData(3 * 4000 * 2, 9, -3, 2));
      await expectSame(be, be.reduce('max', gx, [3, 4000, 2], [1]), cpu.reduce('max', cx, [3, 4000, 2], [1]), 0, 0, 'max, strided');
      await expectSame(be, be.reduce('sum', gx, [3, 4000, 2], [1]), cpu.reduce('sum', cx, [3, 4000, 2], [1]), 1e-5, 1e-3, 'sum, strided');
      const built = keys.filter((k) => /^(softmax|layernorm|reduce\/\w+\/\w+\/(rows|tree))/.test(k));
      const withSg = built.filter((k) => /sg\d+/.test(k));
      // The subgroup forms must really have run where the adapter has a fixed subgroup size.
      assert.equal(withSg.length, subgroups && SG ? built.length : 0, `${subgroups ? 'subgroup' : 'tree'} keys: ${built.join(' ')}`);
    }
  } finally {
    rowTuning.subgroups = true;
    be.ctx.dispatch = dispatch;
  }
});

// The random cases above keep |x| ≤ 6 (softmax) and var(x) ≫ eps (layerNorm, eps 1e-6), where
// exp without the row max and an eps in the wrong place still pass: these rows are where they fail.
test('softmax of large logits (rows at ±1000) and layerNorm of rows whose variance is below eps', async () => {
  for (const D of [5, 64, 300]) {
    const shape = [3, D];
    const x = randomData(3 * D, D, -6, 6).map((v, i) => v + [1000, -1000, 0][Math.floor(i / D)]!);
    const [cx, gx] = both(gpu(), x);
    await expectSame(gpu(), gpu().softmax(gx, shape), cpu.softmax(cx, shape), 2e-5, 1e-7, `softmax D=${D}`);
    // var ≈ 3e-7 against eps = 1e-5: r = 1/√(var + eps) is mostly eps.
    const [cs, gs] = both(gpu(), randomData(3 * D, D + 1, -1e-3, 1e-3));
    const [cw, gw] = both(gpu(), randomData(D, D + 2)), [cb, gb] = both(gpu(), randomData(D, D + 3));
    const c = cpu.layerNorm(cs, shape, cw, cb, 1e-5), g = gpu().layerNorm(gs, shape, gw, gb, 1e-5);
    await expectSame(gpu(), g.rstd, c.rstd, 1e-5, 0, `layerNorm rstd D=${D}`);
    await expectSame(gpu(), g.y, c.y, 1e-4, 1e-5, `layerNorm y D=${D}`);
    const [cdy, gdy] = both(gpu(), randomData(3 * D, D + 4));
    const cg = cpu.layerNormBwd(cdy, cs, c.mean, c.rstd, cw, shape, true), gg = gpu().layerNormBwd(gdy, gs, g.mean, g.rstd, gw, shape, true);
    await expectSame(gpu(), gg.dx, cg.dx, 1e-3, 1e-3, `layerNorm dx D=${D}`);
    await expectSame(gpu(), gg.dw!, cg.dw!, 1e-4, 1e-4, `layerNorm dw D=${D}`);
  }
});

// The i32 cases above have a positive value in every row: a max that starts from 0 passes them.
test('i32 max of all-negative rows, in every layout (rows, columns one pass and chunked, serial, tree)', async () => {
  const cases: [number[], number[]][] = [[[20, 300], [1]], [[300, 20], [0]], [[3000, 20], [0]], [[2000, 3], [1]], [[3, 4000, 2], [1]]];
  for (const [shape, axes] of cases) {
    // Spread over the negatives, and every element −2³¹ (the reduction's own start value).
    for (const x of [Int32Array.from({ length: sizeOf(shape) }, (_, i) => -1 - ((i * 7919) % 100000) * 20000), new Int32Array(sizeOf(shape)).fill(-(2 ** 31))]) {
      const g = gpu().reduce('max', gpu().fromArray(x, 'i32'), shape, axes);
      // The reference in f64 (the values are exact there).
      const want = cpu.reduce('max', cpu.fromArray(Float64Array.from(x), 'f64'), shape, axes);
      await expectSame(gpu(), g, want, 0, 0, `i32 max ${shape} ${axes} from ${x[0]}`);
    }
  }
});
