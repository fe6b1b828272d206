// Fused attention on the CPU: equal to the composed softmax(Q Kᵀ·scale) V path (forward and
// every gradient, f64, random shapes incl. l = 1, odd lengths, dqk ≠ dv), and gradcheck in f64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import { tensor } from '../../engine/creation.ts';
import { ShapeError } from '../../engine/errors.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { randomData } from '../webgpu/helpers.ts';

/** The unfused composition the fused op must equal. */
export function composedAttention(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
  return A.matmul(A.softmax(A.mul(A.matmul(q, k, false, true), scale)), v);
}

const leaf = (shape: number[], seed: number): Tensor =>
  tensor(Float64Array.from(randomData(shape.reduce((a, b) => a * b, 1), seed, -1.5, 1.5)), shape, { dtype: 'f64', requiresGrad: true });

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-30, worst = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return worst / scale;
}

const shapeArb = fc.record({
  b: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 3 }),
  l: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 13 })),
  s: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 13 })),
  dqk: fc.constantFrom(1, 3, 8, 9),
  dv: fc.constantFrom(1, 5, 8, 72),
});

test('fused attention equals softmax(QKᵀ·scale)V: output and dQ, dK, dV (f64)', () => {
  fc.assert(
    fc.property(shapeArb, fc.integer(), ({ b, h, l, s, dqk, dv }, seed) => {
      const scale = 1 / Math.sqrt(dqk);
      const q = leaf([b, h, l, dqk], seed), k = leaf([b, h, s, dqk], seed + 1), v = leaf([b, h, s, dv], seed + 2);
      const r = tensor(Float64Array.from(randomData(b * h * l * dv, seed + 3)), [b, h, l, dv], { dtype: 'f64' });
      const fused = A.attention(q, k, v);
      A.backward(A.sum(A.mul(fused, r)));
      const gf = [q, k, v].map((t) => t.grad!.dataSync());
      [q, k, v].forEach((t) => (t.grad = null));
      const comp = composedAttention(q, k, v, scale);
      A.backward(A.sum(A.mul(comp, r)));
      const what = `b${b} h${h} l${l} s${s} dqk${dqk} dv${dv}`;
      assert.ok(maxRel(fused.dataSync(), comp.dataSync()) < 1e-12, `o ${what}`);
      ['dq', 'dk', 'dv'].forEach((name, i) => {
        const e = maxRel(gf[i]!, [q, k, v][i]!.grad!.dataSync());
        assert.ok(e < 1e-11, `${name} ${what}: ${e}`);
      });
    }),
    { numRuns: 40, seed: 7 },
  );
});

test('gradcheck attention (f64): square, l = 1, s ≠ l, dqk ≠ dv (9 / 72-like), custom scale', () => {
  const cases: [number, number, number, number, number, number | undefined][] = [
    // n, l, s, dqk, dv, scale
    [2, 3, 3, 4, 4, undefined],
    [1, 1, 4, 3, 2, undefined],
    [1, 5, 2, 9, 6, 0.7],
    [3, 2, 5, 2, 7, undefined],
  ];
  for (const [n, l, s, dqk, dv, scale] of cases) {
    const inp = (shape: number[], seed: number) => ({ shape, data: Array.from(randomData(shape.reduce((a, c) => a * c, 1), seed, -1, 1)), grad: true });
    const { maxRelError } = gradcheck((q, k, v) => A.attention(q!, k!, v!, scale), [inp([1, n, l, dqk], 1), inp([1, n, s, dqk], 2), inp([1, n, s, dv], 3)]);
    assert.ok(maxRelError < 1e-6, `n${n} l${l} s${s} ${dqk}/${dv}: ${maxRelError}`);
  }
});

test('attention rejects mismatched shapes with a message naming them', () => {
  const q = tensor(new Float32Array(2 * 3 * 4), [1, 2, 3, 4]);
  const k = tensor(new Float32Array(2 * 5 * 3), [1, 2, 5, 3]);
  assert.throws(() => A.attention(q, k, k), (e: Error) => e instanceof ShapeError && /\[2, 5, 3\]/.test(e.message));
  assert.throws(() => A.attention(tensor([1, 2], [2]), q, q), ShapeError);
});

test('a long row (l = s = 300) stays finite and matches the composition', () => {
  const q = leaf([1, 1, 300, 8], 11), k = leaf([1, 1, 300, 8], 12), v = leaf([1, 1, 300, 5], 13);
  // Large logits: exercises the max subtraction.
  const qs = A.mul(q, 20);
  const o = A.attention(qs, k, v), c = composedAttention(qs, k, v, 1 / Math.sqrt(8));
  assert.ok(maxRel(o.dataSync(), c.dataSync()) < 1e-12);
});
