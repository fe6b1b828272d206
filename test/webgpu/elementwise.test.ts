import { test } from 'node:test';
import fc from 'fast-check';
import { BINARY_OPS, UNARY_OPS, type UnaryOp } from '../../engine/backend.ts';
import { both, broadcast, broadcastPairArb, cpu, expectSame, randomData, RUNS, shapeArb, sizeOf, useGpu } from './helpers.ts';

const gpu = useGpu();

/** Inputs each op is defined on (log/sqrt want positives, pow a positive base). */
function domain(op: string, x: Float32Array): Float32Array {
  if (['log', 'sqrt', 'rsqrt', 'recip', 'powScalar', 'pow', 'div'].includes(op)) return x.map((v) => Math.abs(v) + 0.1);
  return x;
}

test('unary ops match the CPU on random shapes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...UNARY_OPS), shapeArb(4, 7), fc.integer(), async (op: UnaryOp, shape, seed) => {
      const x = domain(op, randomData(sizeOf(shape), seed, -4, 4));
      const [c, g] = both(gpu(), x);
      const [a, b] = op === 'clamp' ? [-1, 1.5] : op === 'powScalar' ? [1.7, 0] : [1.5, -0.25];
      // exp/tanh/log and friends may differ from f64-rounded results by a few ulp.
      await expectSame(gpu(), gpu().unary(op, g, a, b), cpu.unary(op, c, a, b), 3e-5, 1e-6, op);
    }),
    { numRuns: 40 },
  );
});

test('unary ops on special values: 0, ±large, exact integers', async () => {
  const x = new Float32Array([0, -0, 1, -1, 2, -3, 30, -30, 100, -100, 1e-3]);
  for (const op of ['neg', 'abs', 'sign', 'square', 'tanh', 'sigmoid', 'silu', 'gelu', 'relu', 'clamp', 'affine'] as const) {
    const [c, g] = both(gpu(), x);
    await expectSame(gpu(), gpu().unary(op, g, -2, 3), cpu.unary(op, c, -2, 3), 3e-5, 1e-6, op);
  }
  const y = new Float32Array([-2, -1, 0, 1, 2, 3]);
  for (const p of [2, 3, -1]) {
    const [c, g] = both(gpu(), y.filter((v) => p > 0 || v !== 0));
    await expectSame(gpu(), gpu().unary('powScalar', g, p, 0), cpu.unary('powScalar', c, p, 0), 1e-6, 1e-6, `pow ${p}`);
  }
});

test('binary ops broadcast like the CPU (ranks 0..5, size-1 dims)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...BINARY_OPS), broadcastPairArb(5, 4), fc.integer(), async (op, [as, bs], seed) => {
      const out = broadcast(as, bs);
      const xa = domain(op, randomData(sizeOf(as), seed));
      let xb = domain(op, randomData(sizeOf(bs), seed + 1));
      if (['eq', 'ge', 'le'].includes(op)) xb = xb.map((v, i) => (i % 2 ? v : xa[i % xa.length]!)); // some ties
      const [ca, ga] = both(gpu(), xa), [cb, gb] = both(gpu(), xb);
      await expectSame(gpu(), gpu().binary(op, ga, as, gb, bs, out), cpu.binary(op, ca, as, cb, bs, out), 3e-5, 1e-6, `${op} ${as} ${bs}`);
    }),
    { numRuns: 40 },
  );
});

test('where broadcasts its three inputs; i32 binary ops', async () => {
  await fc.assert(
    fc.asyncProperty(broadcastPairArb(4, 4), shapeArb(2, 4), fc.integer(), async ([as, bs], cs0, seed) => {
      const out = broadcast(as, bs);
      const cs = cs0.length <= out.length ? out.slice(out.length - cs0.length).map((d, i) => (cs0[i]! % 2 ? d : 1)) : [];
      const xc = randomData(sizeOf(cs), seed).map((v) => (v > 0 ? 1 : 0));
      const [cc, gc] = both(gpu(), xc), [ca, ga] = both(gpu(), randomData(sizeOf(as), seed + 1)), [cb, gb] = both(gpu(), randomData(sizeOf(bs), seed + 2));
      const fullOut = broadcast(out, cs);
      await expectSame(gpu(), gpu().where(gc, cs, ga, as, gb, bs, fullOut), cpu.where(cc, cs, ca, as, cb, bs, fullOut), 0, 0, 'where');
      const ia = Int32Array.from(randomData(sizeOf(as), seed, -50, 50), Math.trunc);
      const ib = Int32Array.from(randomData(sizeOf(bs), seed + 3, -50, 50), Math.trunc);
      const [cia, gia] = both(gpu(), ia, 'i32'), [cib, gib] = both(gpu(), ib, 'i32');
      for (const op of ['add', 'sub', 'mul', 'maximum', 'lt'] as const) {
        await expectSame(gpu(), gpu().binary(op, gia, as, gib, bs, out), cpu.binary(op, cia, as, cib, bs, out), 0, 0, `i32 ${op}`);
      }
    }),
    RUNS,
  );
});

test('more than 65535 workgroups (folded grid)', async () => {
  const n = 65536 * 256 + 777; // 65540 workgroups of 256
  const x = new Float32Array(n).map((_, i) => (i % 1000) / 7);
  const [c, g] = both(gpu(), x);
  const [cs, gs] = both(gpu(), new Float32Array([0.5]));
  await expectSame(gpu(), gpu().binary('mul', g, [n], gs, [1], [n]), cpu.binary('mul', c, [n], cs, [1], [n]), 0, 0, 'big mul');
});

test('the vector form (innermost dim a multiple of 4: vec4 loads, splat of stride-0 inputs) matches the CPU', async () => {
  const pairs: [number[], number[]][] = [[[3, 8], [8]], [[5, 4], [5, 1]], [[2, 3, 12], []], [[4, 1, 8], [1, 6, 8]], [[16], [16]], [[2, 4], [3, 2, 1]]];
  for (const [as, bs] of pairs) {
    const out = broadcast(as, bs);
    for (const op of ['add', 'mul', 'maximum', 'geluBwd', 'pow', 'lt'] as const) {
      const xa = domain(op, randomData(sizeOf(as), 1)), xb = domain(op, randomData(sizeOf(bs), 2));
      const [ca, ga] = both(gpu(), xa), [cb, gb] = both(gpu(), xb);
      await expectSame(gpu(), gpu().binary(op, ga, as, gb, bs, out), cpu.binary(op, ca, as, cb, bs, out), 3e-5, 1e-6, `${op} ${as} ${bs}`);
      await expectSame(gpu(), gpu().binary(op, gb, bs, ga, as, out), cpu.binary(op, cb, bs, ca, as, out), 3e-5, 1e-6, `${op} ${bs} ${as}`);
    }
  }
  for (const op of UNARY_OPS) {
    const x = domain(op, randomData(1024, 3, -4, 4));
    const [c, g] = both(gpu(), x);
    await expectSame(gpu(), gpu().unary(op, g, 1.5, -0.25), cpu.unary(op, c, 1.5, -0.25), 3e-5, 1e-6, `${op} [1024]`);
  }
  const [cc, gc] = both(gpu(), new Float32Array([1, 0, 1, 1, 0])), [ca, ga] = both(gpu(), randomData(20, 4)), [cb, gb] = both(gpu(), randomData(4, 5));
  await expectSame(gpu(), gpu().where(gc, [5, 1], ga, [5, 4], gb, [4], [5, 4]), cpu.where(cc, [5, 1], ca, [5, 4], cb, [4], [5, 4]), 0, 0, 'where');
  const ia = Int32Array.from({ length: 24 }, (_, i) => i * 7 - 80), ib = Int32Array.from({ length: 8 }, (_, i) => 3 - i);
  const [cia, gia] = both(gpu(), ia, 'i32'), [cib, gib] = both(gpu(), ib, 'i32');
  await expectSame(gpu(), gpu().binary('add', gia, [3, 8], gib, [8], [3, 8]), cpu.binary('add', cia, [3, 8], cib, [8], [3, 8]), 0, 0, 'i32 add');
});

test('i32 ops are exact over the whole range (integer arithmetic, not f32): wrap, division by 0, large values, where', async () => {
  const big = [0, 1, -1, 7, -7, 2 ** 24 + 1, -(2 ** 24) - 3, 123456789, -987654321, 2 ** 31 - 1, -(2 ** 31), 46341, -46340, 3, 0, 2];
  // Products past 2^53 (123456789·987654321, (2^31 − 1)·(−2^31 + 5)) wrap only if done in integers.
  const other = [3, 0, 2, -7, 0, 1, 2, 987654321, -1, -(2 ** 31) + 5, -1, 46341, 46341, 0, 5, -(2 ** 31)];
  for (const shape of [[16], [4, 4], [2, 8]]) {
    // [16] and [4, 4] run the vec4 form, [2, 8] with a broadcast [1, 8] the scalar one.
    const bShape = shape.length === 2 && shape[0] === 2 ? [1, 8] : shape;
    const [ca, ga] = both(gpu(), Int32Array.from(big), 'i32'), [cb, gb] = both(gpu(), Int32Array.from(other.slice(0, sizeOf(bShape))), 'i32');
    for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'gt', 'ge', 'lt', 'le'] as const) {
      await expectSame(gpu(), gpu().binary(op, ga, shape, gb, bShape, shape), cpu.binary(op, ca, shape, cb, bShape, shape), 0, 0, `i32 ${op} ${shape}`);
    }
    for (const op of ['neg', 'abs', 'sign', 'relu', 'square'] as const) {
      await expectSame(gpu(), gpu().unary(op, ga, 0, 0), cpu.unary(op, ca, 0, 0), 0, 0, `i32 ${op}`);
    }
    const [cc, gc] = both(gpu(), Float32Array.from(big, (v) => (v > 0 ? 1 : 0)));
    await expectSame(gpu(), gpu().where(gc, shape, ga, shape, gb, bShape, shape), cpu.where(cc, shape, ca, shape, cb, bShape, shape), 0, 0, `i32 where ${shape}`);
  }
});
