// LayerNorm + adaLN modulate, fused, on the CPU: equal to layerNorm(x)·(1 + scale) + shift
// composed from the existing ops (forward and all gradients), and gradcheck in f64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import { tensor } from '../../engine/creation.ts';
import { ShapeError } from '../../engine/errors.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { maxAbsDiff as maxAbs, randomData } from '../webgpu/helpers.ts';

/** DiT's modulate(norm(x), shift, scale) as the model composes it. */
export function composedNormModulate(x: Tensor, shift: Tensor, scale: Tensor, eps: number): Tensor {
  const [N, , D] = x.shape as [number, number, number];
  const sh = A.reshape(shift, [N, 1, D]), sc = A.reshape(scale, [N, 1, D]);
  return A.add(A.mul(A.layerNorm(x, null, null, eps), A.add(sc, 1)), sh);
}

const leaf = (shape: number[], seed: number, lo = -2, hi = 3): Tensor =>
  tensor(Float64Array.from(randomData(shape.reduce((a, b) => a * b, 1), seed, lo, hi)), shape, { dtype: 'f64', requiresGrad: true });

test('normModulate equals layerNorm·(1 + scale) + shift: y, dx, dshift, dscale (f64)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer(), (N, L, D, seed) => {
      const x = leaf([N, L, D], seed), sh = leaf([N, D], seed + 1), sc = leaf([N, D], seed + 2, -1, 1);
      const r = tensor(Float64Array.from(randomData(N * L * D, seed + 3)), [N, L, D], { dtype: 'f64' });
      const y = A.normModulate(x, sh, sc, 1e-6);
      A.backward(A.sum(A.mul(y, r)));
      const g = [x, sh, sc].map((t) => t.grad!.dataSync());
      [x, sh, sc].forEach((t) => (t.grad = null));
      const c = composedNormModulate(x, sh, sc, 1e-6);
      A.backward(A.sum(A.mul(c, r)));
      assert.ok(maxAbs(y.dataSync(), c.dataSync()) < 1e-12, 'y');
      ['dx', 'dshift', 'dscale'].forEach((name, i) => assert.ok(maxAbs(g[i]!, [x, sh, sc][i]!.grad!.dataSync()) < 1e-10, name));
    }),
    { numRuns: 40, seed: 5 },
  );
});

test('gradcheck normModulate (f64)', () => {
  for (const [N, L, D] of [[1, 1, 4], [2, 3, 5], [3, 2, 1], [2, 4, 16]] as const) {
    const inp = (shape: number[], seed: number) => ({ shape, data: Array.from(randomData(shape.reduce((a, c) => a * c, 1), seed, -1, 1)), grad: true });
    const { maxRelError } = gradcheck((x, sh, sc) => A.normModulate(x!, sh!, sc!, 1e-5), [inp([N, L, D], 1), inp([N, D], 2), inp([N, D], 3)]);
    assert.ok(maxRelError < 1e-6, `${N}×${L}×${D}: ${maxRelError}`);
  }
});

test('normModulate checks shapes', () => {
  const x = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);
  assert.throws(() => A.normModulate(x, tensor(new Float32Array(8), [2, 4]), tensor(new Float32Array(6), [2, 3])), (e: Error) => e instanceof ShapeError && /scale \[2, 3\]/.test(e.message));
});
