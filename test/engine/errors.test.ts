// Bad input gets a clear error naming the op and the shapes, never a wrong number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { tensor, zeros, randn } from '../../engine/creation.ts';
import { DisposedError, DTypeError, ShapeError } from '../../engine/errors.ts';
import { scope } from '../../engine/scope.ts';

test('mismatched shapes name the op and both shapes', () => {
  assert.throws(() => A.add(zeros([2, 3]), zeros([4])), (e: Error) => e instanceof ShapeError && /add: shapes \[2, 3\] and \[4\]/.test(e.message));
  assert.throws(() => A.matmul(zeros([2, 3]), zeros([4, 5])), /matmul: inner dimensions differ: \[2, 3\] @ \[4, 5\] \(3 vs 4\)/);
  assert.throws(() => A.matmul(zeros([2, 2, 3]), zeros([3, 3, 5])), /matmul \(batch dims\): shapes \[2\] and \[3\]/);
  assert.throws(() => A.concat([zeros([2, 3]), zeros([3, 3])], 1), /concat: shapes \[2, 3\], \[3, 3\] differ outside axis 1/);
  assert.throws(() => A.reshape(zeros([2, 3]), [4]), /reshape: cannot reshape \[2, 3\]/);
  assert.throws(() => A.linear(zeros([2, 3]), zeros([4, 5])), /linear: input \[2, 3\] does not fit weight \[4, 5\]/);
  assert.throws(() => A.layerNorm(zeros([2, 3]), zeros([4])), /layerNorm: weight \[4\] must be \[3\]/);
  assert.throws(() => A.patchify(zeros([1, 3, 5, 4]), 2), /5×4 is not divisible by patch size 2/);
  assert.throws(() => A.patchify(zeros([1, 3, 6, 6]), 1.5), /patchify: patch size 1.5 is not a positive integer/);
  assert.throws(() => A.patchify(zeros([1, 3, 6, 6]), 0), /patch size 0 is not a positive integer/);
  assert.throws(() => A.unpatchify(zeros([1, 4, 8]), 2, 2, 1.5, 8 / 3), /unpatchify: grid height 1.5 is not a positive integer/);
  assert.throws(() => A.slice(zeros([2, 3]), [1, 2], [2, 1]), /slice: box/);
  assert.throws(() => A.addGated(zeros([2, 3, 4]), zeros([2, 5]), zeros([2, 3, 4])), /^ShapeError: addGated: x \[2, 3, 4\], gate \[2, 5\]/);
  assert.throws(() => A.expand(zeros([2, 3]), [3, 3]), /expand: shapes \[2, 3\] and \[3, 3\] cannot be broadcast/);
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
  assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
});

test('axes out of range are errors', () => {
  assert.throws(() => A.sum(zeros([2, 3]), 2), /sum: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(() => A.transpose(zeros([2, 3]), 0, -3), /transpose: axis -3 is out of range/);
  assert.throws(() => A.permute(zeros([2, 3]), [0, 0]), /not a permutation/);
  assert.throws(() => A.sum(zeros([2, 3]), [1, -1]), /repeated axis/);
});

test('wrong dtypes are errors', () => {
  const idx = tensor([0, 1], undefined, { dtype: 'i32' });
  assert.throws(() => A.add(zeros([2]), zeros([2], { dtype: 'f64' })), (e: Error) => e instanceof DTypeError && /dtypes differ/.test(e.message));
  assert.throws(() => A.exp(idx), /exp: expected a float tensor, got i32/);
  assert.throws(() => A.gather(zeros([3, 2]), zeros([2])), /gather: indices must be i32, got f32/);
  assert.throws(() => A.gather(zeros([3, 2]), tensor([3], undefined, { dtype: 'i32' })), /index 3 at position 0 is out of range for a table of 3 rows/);
  assert.throws(() => tensor([0.5], undefined, { dtype: 'i32' }), /not an integer/);
  assert.throws(() => randn([2], { dtype: 'i32' }), /dtype must be f32 or f64/);
});

test('a disposed tensor cannot be used; scopes dispose what they do not return', async () => {
  const x = zeros([2, 2]);
  x.dispose();
  assert.throws(() => A.exp(x), (e: Error) => e instanceof DisposedError && /exp: tensor #\d+ of shape \[2, 2\] was disposed/.test(e.message));
  let inner!: ReturnType<typeof zeros>;
  const kept = scope(() => {
    inner = zeros([3]);
    return A.add(inner, 1);
  });
  assert.ok(inner.disposed);
  assert.ok(!kept.disposed);
  assert.throws(() => inner.dataSync(), DisposedError);
  await assert.rejects(zeros([2]).item(), /item: tensor of shape \[2\] has 2 elements/);
});
