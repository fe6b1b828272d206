// Every op's `saves` (the tensors its gradient rule reads) is complete: each gradient-check case
// runs with its inputs remade inside A.releaseUnsaved (so an input the rule reads but did not
// declare would be freed and the backward would throw) and must give the same gradients, bit for
// bit, as the plain run. Side results the rules read (LayerNorm's statistics, attention's lse, …)
// are made inside the op, so they are checked too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { OP_CASES, type OpInstance, values } from '../../autograd/op-cases.ts';
import { tensor } from '../../engine/creation.ts';
import type { Tensor } from '../../engine/tensor.ts';

function grads(c: OpInstance, release: boolean): number[][] {
  const leaves = c.inputs.map((inp) => {
    const t = tensor(Array.from(inp.data), inp.shape, { dtype: inp.dtype ?? 'f64' });
    t.requiresGrad = inp.grad;
    return t;
  });
  const body = (): Tensor => {
    // Remake the float inputs inside the segment (a = 1·x + 0 saves nothing itself).
    const xs = leaves.map((x) => (x.dtype === 'i32' ? x : A.affine(x, 1, 0)));
    return c.fn(...xs);
  };
  const y = release ? A.releaseUnsaved(body) : body();
  const r = tensor(values(y.size, 'any', 7), [...y.shape], { dtype: y.dtype });
  A.backward(A.sum(A.mul(y, r)));
  return leaves.filter((x) => x.requiresGrad).map((x) => [...x.grad!.dataSync()]);
}

test('releaseUnsaved keeps every tensor each op\'s gradient rule reads (all gradient-check ops)', () => {
  for (const { op, arb } of OP_CASES) {
    for (const c of fc.sample(arb, { numRuns: 4, seed: 11 })) {
      assert.deepEqual(grads(c, true), grads(c, false), `${op} ${c.note}`);
    }
  }
});
