// DiT's gated residual x + gate ⊙ y as one op, on the CPU: equal to add(x, mul(gate, y)) composed
// from the existing ops (forward and every gradient, with the gate trainable or frozen), and
// gradcheck in f64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import { tensor } from '../../engine/creation.ts';
import { ShapeError } from '../../engine/errors.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { maxAbsDiff as maxAbs, randomData } from '../webgpu/helpers.ts';

const leaf = (shape: number[], seed: number, requiresGrad = true): Tensor =>
  tensor(Float64Array.from(randomData(shape.reduce((a, b) => a * b, 1), seed, -2, 3)), shape, { dtype: 'f64', requiresGrad });

test('addGated equals x + gate·y composed: out, dx, dgate, dy (f64), with the gate trainable or frozen', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.integer(), (N, L, D, gateGrad, seed) => {
      const x = leaf([N, L, D], seed), gate = leaf([N, D], seed + 1, gateGrad), y = leaf([N, L, D], seed + 2);
      const r = tensor(Float64Array.from(randomData(N * L * D, seed + 3)), [N, L, D], { dtype: 'f64' });
      const out = A.addGated(x, gate, y);
      A.backward(A.sum(A.mul(out, r)));
      const leaves = [x, gate, y];
      const g = leaves.map((t) => t.grad?.dataSync() ?? null);
      leaves.forEach((t) => (t.grad = null));
      const c = A.add(x, A.mul(A.reshape(gate, [N, 1, D]), y));
      A.backward(A.sum(A.mul(c, r)));
      assert.ok(maxAbs(out.dataSync(), c.dataSync()) < 1e-12, 'out');
      ['dx', 'dgate', 'dy'].forEach((name, i) => {
        const want = leaves[i]!.grad?.dataSync() ?? null;
        assert.equal(g[i] === null, want === null, `${name}: present in one and not the other`);
        if (want) assert.ok(maxAbs(g[i]!, want) < 1e-10, name);
      });
      assert.equal(g[1] === null, !gateGrad, 'dgate exactly when the gate is trainable');
    }),
    { numRuns: 40, seed: 7 },
  );
});

test('gradcheck addGated (f64)', () => {
  for (const [N, L, D] of [[1, 1, 4], [2, 3, 5], [3, 2, 1], [2, 4, 16]] as const) {
    const inp = (shape: number[], seed: number) => ({ shape, data: Array.from(randomData(shape.reduce((a, c) => a * c, 1), seed, -1, 1)), grad: true });
    const { maxRelError } = gradcheck((x, g, y) => A.addGated(x!, g!, y!), [inp([N, L, D], 1), inp([N, D], 2), inp([N, L, D], 3)]);
    assert.ok(maxRelError < 1e-6, `${N}×${L}×${D}: ${maxRelError}`);
  }
});

test('addGated checks shapes', () => {
  const x = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);
  assert.throws(() => A.addGated(x, tensor(new Float32Array(6), [2, 3]), x), (e: Error) => e instanceof ShapeError && /gate \[2, 3\]/.test(e.message));
  assert.throws(() => A.addGated(x, tensor(new Float32Array(8), [2, 4]), tensor(new Float32Array(24), [2, 4, 3])), (e: Error) => e instanceof ShapeError && /y \[2, 4, 3\]/.test(e.message));
});
