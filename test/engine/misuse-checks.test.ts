// API misuse gets an error naming the op (engine/ and autograd/), never a silent wrong answer
// or an internal error: dtypes and backends of fused ops, fractional/NaN indices, i32 range,
// second backward, disposed intermediates, scopeAsync on throw, gradcheck dtypes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import * as raw from '../../engine/ops.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import { arange, full, tensor, zeros } from '../../engine/creation.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { DTypeError, GradError, ShapeError } from '../../engine/errors.ts';
import { scope, scopeAsync } from '../../engine/scope.ts';

const is = (cls: new (...a: never[]) => Error, re: RegExp) => (e: unknown) => e instanceof cls && re.test((e as Error).message);

test('layerNorm checks dtypes: float x, weight and bias of x\'s dtype', () => {
  const x = tensor([1, 2], [1, 2]);
  assert.throws(() => A.layerNorm(tensor([1, 2, 3], [1, 3], { dtype: 'i32' })), is(DTypeError, /layerNorm: expected a float tensor, got i32/));
  assert.throws(() => A.layerNorm(x, tensor([1, 2], [2], { dtype: 'i32' })), is(DTypeError, /layerNorm: dtypes differ/));
  assert.throws(() => A.layerNorm(x, tensor([1, 2], [2], { dtype: 'f64' })), is(DTypeError, /layerNorm: dtypes differ/));
  assert.throws(() => A.layerNorm(x, null, tensor([1, 2], [2], { dtype: 'f64' })), is(DTypeError, /layerNorm: dtypes differ/));
  assert.throws(() => A.layerNorm(tensor([1, 2], [1, 2], { dtype: 'f64' }), tensor([1, 2], [2])), is(DTypeError, /layerNorm: dtypes differ/));
  assert.throws(() => A.layerNorm(zeros([])), is(ShapeError, /layerNorm: needs rank >= 1/));
  // the right call still works, weight and bias applied
  const y = A.layerNorm(x, tensor([1, 2], [2]), tensor([0, 1], [2]), 0);
  assert.deepEqual(Array.from(y.dataSync()), [-1, 3]);
});

test('linear checks dtypes and handles K = 0', () => {
  assert.throws(() => A.linear(zeros([1, 2]), zeros([3, 2], { dtype: 'f64' })), is(DTypeError, /linear: dtypes differ/));
  assert.throws(() => A.linear(zeros([1, 2]), zeros([3, 2]), zeros([3], { dtype: 'f64' })), is(DTypeError, /linear: dtypes differ/));
  assert.throws(() => A.linear(tensor([1, 2], [1, 2], { dtype: 'i32' }), tensor([1, 2, 3, 4, 5, 6], [3, 2], { dtype: 'i32' })), is(DTypeError, /linear: expected a float/));
  const y = A.linear(zeros([2, 0]), zeros([3, 0]), full([3], 5));
  assert.deepEqual(y.shape, [2, 3]);
  assert.deepEqual(Array.from(y.dataSync()), [5, 5, 5, 5, 5, 5]);
  // and its gradient
  const x = zeros([2, 0]), w = zeros([3, 0]);
  w.requiresGrad = true;
  A.backward(A.sum(A.linear(x, w)));
  assert.deepEqual(w.grad!.shape, [3, 0]);
});

test('layerNorm of empty rows gives the empty result (forward and backward)', () => {
  for (const shape of [[2, 0], [0, 3]]) {
    const x = zeros(shape);
    x.requiresGrad = true;
    const w = zeros([shape[1]!]);
    w.requiresGrad = true;
    const y = A.layerNorm(x, w);
    assert.deepEqual(y.shape, shape);
    A.backward(A.sum(y));
    assert.deepEqual(x.grad!.shape, shape);
    assert.deepEqual(w.grad!.shape, [shape[1]]);
  }
});

test('slice, narrow and chunk reject fractional, NaN and negative counts', () => {
  const x = tensor([1, 2, 3]);
  assert.throws(() => A.slice(x, [0.5], [2]), is(ShapeError, /slice: .*must be integers/));
  assert.throws(() => A.slice(x, [NaN], [2]), is(ShapeError, /slice: .*must be integers/));
  assert.throws(() => A.slice(x, [0], [1.5]), is(ShapeError, /slice: .*must be integers/));
  assert.throws(() => A.slice(x, [0], [1, 1]), is(ShapeError, /slice: 2 sizes for a tensor of rank 1/));
  assert.throws(() => A.narrow(tensor([1, 2, 3, 4]), 0, 0.5, 2), is(ShapeError, /narrow: start 0.5/));
  assert.throws(() => A.narrow(tensor([1, 2, 3, 4]), 0, 3, 2), is(ShapeError, /narrow: box/));
  assert.throws(() => A.chunk(x, 1.5, 0), is(ShapeError, /chunk: .*integer >= 1, got 1.5/));
  assert.throws(() => A.chunk(x, -1, 0), is(ShapeError, /chunk: .*got -1/));
  assert.throws(() => A.chunk(x, 0, 0), is(ShapeError, /chunk: /));
  // valid uses unchanged
  assert.deepEqual(Array.from(A.slice(x, [-2], [-1]).dataSync()), [2, 3]);
  assert.deepEqual(Array.from(A.narrow(x, 0, 1, 2).dataSync()), [2, 3]);
  assert.deepEqual(A.chunk(tensor([1, 2, 3, 4]), 2, 0).map((t) => Array.from(t.dataSync())), [[1, 2], [3, 4]]);
});

test('slicePermuted, concatPermuted, unpackHeads and a scaled softmax reject what they cannot do, naming it', () => {
  const x = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
  assert.throws(() => raw.slicePermuted(x, [0, 0], [2, 2], [0, 0]), is(ShapeError, /slicePermuted: \[0, 0\] is not a permutation of 2 axes/));
  assert.throws(() => raw.slicePermuted(x, [0, 0], [2, 2], [1]), is(ShapeError, /slicePermuted: \[1\] is not a permutation/));
  assert.throws(() => raw.slicePermuted(x, [1, 0], [2, 2], [1, 0]), is(ShapeError, /slicePermuted: box/));
  assert.deepEqual(Array.from(raw.slicePermuted(x, [0, 1], [2, 2], [1, 0]).dataSync()), [1, 4, 2, 5]);
  assert.throws(() => raw.concatPermuted([x, x], 0, [0, 0]), is(ShapeError, /concatPermuted: \[0, 0\] is not a permutation of 2 axes/));
  assert.throws(() => raw.concatPermuted([x, tensor([1, 2], [1, 2])], 0, [1, 0]), is(ShapeError, /concatPermuted: shapes \[3, 2\], \[2, 1\] differ outside axis 0/));
  // Two [2, 3] parts stored transposed, placed as [3, 2] parts along axis 0: the transposes stacked.
  assert.deepEqual(Array.from(raw.concatPermuted([x, x], 0, [1, 0]).dataSync()), [0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5]);
  assert.throws(() => A.unpackHeads(tensor([1, 2, 3, 4], [1, 1, 4]), 1), is(ShapeError, /unpackHeads: expected \[B, L, 3·H·d\] with H = 1, got \[1, 1, 4\]/));
  assert.throws(() => A.unpackHeads(zeros([1, 2, 6]), 0), is(ShapeError, /with H = 0/));
  // The softmax's scale must be positive (its row maximum is taken of x, then scaled).
  for (const bad of [0, -1, NaN, Infinity]) assert.throws(() => A.softmax(tensor([1, 2]), bad), is(RangeError, /softmax: scale must be a finite number > 0, got/));
});

test('i32 values out of range are a DTypeError naming the value', () => {
  assert.throws(() => tensor([2 ** 40], [1], { dtype: 'i32' }), is(DTypeError, /tensor: value 1099511627776 is out of the i32 range/));
  assert.throws(() => tensor([-(2 ** 31) - 1], [1], { dtype: 'i32' }), is(DTypeError, /out of the i32 range/));
  assert.deepEqual(Array.from(tensor([2 ** 31 - 1, -(2 ** 31)], [2], { dtype: 'i32' }).dataSync()), [2 ** 31 - 1, -(2 ** 31)]);
});

test('expand, scatterAdd and arange reject bad sizes before dispatch', () => {
  assert.throws(() => A.expand(zeros([1, 3]), [-1, 3]), is(ShapeError, /expand: invalid shape \[-1, 3\]/));
  const idx = tensor([0], [1], { dtype: 'i32' });
  assert.throws(() => raw.scatterAdd(zeros([1, 2]), idx, -1), is(ShapeError, /scatterAdd: rows must be an integer >= 0, got -1/));
  assert.throws(() => raw.scatterAdd(zeros([1, 2]), idx, 1.5), is(ShapeError, /scatterAdd: rows must be an integer >= 0, got 1.5/));
  assert.throws(() => arange(0, Infinity), is(ShapeError, /arange: .*finite/));
  assert.throws(() => arange(0, 3, NaN), is(ShapeError, /arange: .*finite/));
  assert.deepEqual(Array.from(arange(0, 3).dataSync()), [0, 1, 2]);
});

test('backward a second time without retainGraph is a GradError; with it, gradients add up', () => {
  const x = full([2], 1);
  x.requiresGrad = true;
  const l = A.sum(A.exp(x));
  A.backward(l);
  assert.throws(() => A.backward(l), is(GradError, /backward through the graph a second time/));
  // through a shared intermediate freed by the first backward
  const y = A.exp(x);
  A.backward(A.sum(y));
  assert.throws(() => A.backward(A.sum(A.mul(y, y))), is(GradError, /second time.*exp/));
  // retainGraph keeps it
  const x2 = full([2], 0);
  x2.requiresGrad = true;
  const l2 = A.sum(A.exp(x2));
  A.backward(l2, undefined, { retainGraph: true });
  A.backward(l2);
  assert.deepEqual(Array.from(x2.grad!.dataSync()), [2, 2]);
});

test('backward through a disposed intermediate is a GradError naming its op', () => {
  const x = full([2], 1);
  x.requiresGrad = true;
  const y = A.exp(x);
  const l = A.sum(y);
  y.dispose();
  assert.throws(() => A.backward(l), is(GradError, /result of exp .*was disposed/));
  assert.equal(x.grad, null);
  // a saved side result (layerNorm's statistics) gone: the rule's DisposedError becomes a GradError
  const z = full([2, 3], 1);
  z.requiresGrad = true;
  const ln = A.layerNorm(z);
  const saved = ln.node!.saves!;
  saved[1]!.dispose(); // mean
  assert.throws(() => A.backward(A.sum(ln)), is(GradError, /saved by layerNorm/));
});

test('backward with a gradient of another dtype is a GradError', () => {
  const x = full([2], 1);
  x.requiresGrad = true;
  assert.throws(() => A.backward(A.exp(x), tensor([1, 1], [2], { dtype: 'i32' })), is(GradError, /gradient's dtype must match.*i32.*f32/));
});

test('checkpoint and releaseUnsaved still back-propagate once per step', () => {
  const w = full([3], 0.5);
  w.requiresGrad = true;
  for (let step = 0; step < 2; step++) {
    scope(() => {
      const x = full([3], 2);
      const h = A.releaseUnsaved(() => A.checkpoint((u) => A.mul(A.exp(u), w), x));
      A.backward(A.sum(A.mul(h, h)));
    });
  }
  assert.ok(w.grad && Number.isFinite(w.grad.dataSync()[0]!));
});

test('scopeAsync disposes what its function made when it throws, and rethrows', async () => {
  const live = () => cpuBackend.memory().liveBytes;
  const b0 = live();
  let made: ReturnType<typeof full> | null = null;
  await assert.rejects(scopeAsync(async () => {
    made = full([1000], 1, { backend: cpuBackend });
    await new Promise((r) => setTimeout(r, 1));
    throw new Error('boom');
  }), /boom/);
  assert.equal(live() - b0, 0);
  assert.ok(made!.disposed);
  // the normal path still hands back the result
  const kept = await scopeAsync(async () => full([2], 3, { backend: cpuBackend }));
  assert.deepEqual(Array.from(kept.dataSync()), [3, 3]);
});

test('assign checks dtype and shape with their own errors', () => {
  const p = zeros([2]);
  assert.throws(() => p.assign(zeros([2], { dtype: 'f64' })), is(DTypeError, /assign: dtypes differ/));
  assert.throws(() => p.assign(zeros([3])), is(ShapeError, /assign: \[3\]/));
});

test('gradcheck: integer inputs cannot have grad, checked inputs must be f64', () => {
  assert.throws(
    () => gradcheck((t, i) => A.gather(t!, i!), [{ shape: [3, 2], data: [1, 2, 3, 4, 5, 6], grad: true }, { shape: [2], data: [0, 2], grad: true, dtype: 'i32' }]),
    is(DTypeError, /gradcheck: input 1 is i32 and cannot have grad: true/),
  );
  assert.throws(() => gradcheck((x) => A.exp(x!), [{ shape: [2], data: [0.1, 0.2], grad: true, dtype: 'f32' }]), is(DTypeError, /gradcheck: input 0 is f32; .*must be f64/));
  // i32 with grad: false still fine
  const r = gradcheck((t, i) => A.gather(t!, i!), [{ shape: [3, 2], data: [1, 2, 3, 4, 5, 6], grad: true }, { shape: [2], data: [0, 2], grad: false, dtype: 'i32' }]);
  assert.ok(r.maxRelError < 1e-6);
});
