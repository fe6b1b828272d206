// Every op's analytic gradient against central finite differences in f64 (relative error < 1e-6),
// on random shapes drawn by fast-check, plus hand-computed cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import { OP_CASES } from '../../autograd/op-cases.ts';
import { TOL_F64 } from '../../autograd/gradcheck-suite.ts';
import { tensor } from '../../engine/creation.ts';

for (const c of OP_CASES) {
  test(`gradcheck ${c.op}`, () => {
    fc.assert(
      fc.property(c.arb, (inst) => {
        const { maxRelError } = gradcheck(inst.fn, inst.inputs);
        if (!(maxRelError < TOL_F64)) throw new Error(`${c.op} ${inst.note}: relative error ${maxRelError}`);
      }),
      { numRuns: 25, seed: 3 },
    );
  });
}

test('gradcheck catches a wrong rule', () => {
  // d/dx of x·x claimed as x (missing the 2): the check must fail loudly.
  const wrong = (x: import('../../engine/tensor.ts').Tensor) =>
    A.record('bad', [x], A.noGrad(() => A.mul(x, x)), (g) => [A.mul(g, x)]);
  const { maxRelError } = gradcheck(wrong, [{ shape: [3], data: [0.5, -1, 2], grad: true }]);
  assert.ok(maxRelError > 0.1, `error ${maxRelError} should be large`);
});

test('broadcast add sums the gradient back (hand-computed)', () => {
  const a = tensor([[1], [2], [3]], undefined, { dtype: 'f64', requiresGrad: true });
  const b = tensor([[10, 20, 30, 40]], undefined, { dtype: 'f64', requiresGrad: true });
  A.backward(A.sum(A.add(a, b)));
  assert.deepEqual([...a.grad!.dataSync()], [4, 4, 4]);
  assert.deepEqual([...b.grad!.dataSync()], [3, 3, 3, 3]);
});

test('matmul gradient by hand: d(sum(AB))/dA = 1·Bᵀ', () => {
  const a = tensor([[1, 2], [3, 4]], undefined, { dtype: 'f64', requiresGrad: true });
  const b = tensor([[5, 6], [7, 8]], undefined, { dtype: 'f64', requiresGrad: true });
  A.backward(A.sum(A.matmul(a, b)));
  assert.deepEqual([...a.grad!.dataSync()], [11, 15, 11, 15]);
  assert.deepEqual([...b.grad!.dataSync()], [4, 4, 6, 6]);
});
