// Misuse across backends (CPU + WebGPU, lavapipe in CI: kept tiny): where the backends used to
// disagree or the GPU read garbage, both now give the same error naming the op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import * as raw from '../../engine/ops.ts';
import { tensor } from '../../engine/creation.ts';
import { DTypeError, ShapeError } from '../../engine/errors.ts';
import { cpu, useGpu } from '../webgpu/helpers.ts';

const gpu = useGpu();
const is = (cls: new (...a: never[]) => Error, re: RegExp) => (e: unknown) => e instanceof cls && re.test((e as Error).message);

test('layerNorm and linear refuse operands on different backends, and i32 on the GPU', async () => {
  const g = gpu();
  const xc = tensor([1, 2], [1, 2], { backend: cpu }), xg = tensor([1, 2], [1, 2], { backend: g });
  assert.throws(() => A.layerNorm(xc, tensor([1, 2], [2], { backend: g })), is(DTypeError, /layerNorm: tensors live on different backends/));
  assert.throws(() => A.layerNorm(xg, tensor([1, 2], [2], { backend: cpu })), is(DTypeError, /layerNorm: tensors live on different backends/));
  assert.throws(() => A.layerNorm(xg, null, tensor([1, 2], [2], { backend: cpu })), is(DTypeError, /layerNorm: tensors live on different backends/));
  assert.throws(() => A.layerNorm(xg, tensor([1, 2], [2], { backend: g, dtype: 'i32' })), is(DTypeError, /layerNorm: dtypes differ/));
  assert.throws(() => A.layerNorm(tensor([1, 2, 3], [1, 3], { backend: g, dtype: 'i32' })), is(DTypeError, /layerNorm: expected a float tensor, got i32/));
  assert.throws(() => A.linear(xc, tensor([1, 2, 3, 4, 5, 6], [3, 2], { backend: g })), is(DTypeError, /linear: tensors live on different backends/));
  // the weight is applied on the GPU
  assert.deepEqual(Array.from(await A.layerNorm(xg, tensor([1, 2], [2], { backend: g }), null, 0).toArray()), [-1, 2]);
  // empty rows: same empty result on both
  for (const be of [cpu, g]) assert.deepEqual(A.layerNorm(tensor([], [2, 0], { backend: be })).shape, [2, 0]);
});

test('NaN / fractional slices, negative expand and scatterAdd rows: the same ShapeError on both backends', () => {
  for (const be of [cpu, gpu()]) {
    const x = tensor([1, 2, 3], [3], { backend: be });
    assert.throws(() => raw.slice(x, [NaN], [2]), is(ShapeError, /slice: .*must be integers/), be.name);
    assert.throws(() => raw.slice(x, [0.5], [2]), is(ShapeError, /slice: .*must be integers/), be.name);
    assert.throws(() => raw.expand(tensor([1, 2, 3], [1, 3], { backend: be }), [-1, 3]), is(ShapeError, /expand: invalid shape/), be.name);
    const idx = tensor([0], [1], { backend: be, dtype: 'i32' });
    assert.throws(() => raw.scatterAdd(tensor([1, 2], [1, 2], { backend: be }), idx, -1), is(ShapeError, /scatterAdd: rows must be/), be.name);
  }
});

test('assign across backends is a clear error', () => {
  const p = tensor([1, 2], [2], { backend: cpu });
  assert.throws(() => p.assign(tensor([3, 4], [2], { backend: gpu() })), is(DTypeError, /assign: tensors live on different backends \(webgpu \[2\] into cpu \[2\]\)/));
  assert.deepEqual(Array.from(p.dataSync()), [1, 2]);
});

test('casts to i32 round toward zero and saturate on both backends (the CPU wrapped around 2^32); NaN gives 0 on the CPU', async () => {
  const vals = [3e10, -3e10, 2.7, -2.7, 2147483520, -2147483648];
  const want = [2147483520, -2147483648, 2, -2, 2147483520, -2147483648];
  for (const be of [cpu, gpu()]) assert.deepEqual(Array.from(await raw.cast(tensor(vals, [vals.length], { backend: be }), 'i32').toArray()), want, be.name);
  assert.deepEqual(Array.from(await raw.cast(tensor([NaN], [1], { backend: cpu }), 'i32').toArray()), [0]);
  assert.deepEqual(Array.from(await raw.cast(tensor([3e10], [1], { backend: cpu, dtype: 'f64' }), 'i32').toArray()), [2147483647], 'from f64: up to 2^31 - 1');
});
