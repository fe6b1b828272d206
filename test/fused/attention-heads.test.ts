// Attention on heads read in place (kernels/attention-layout.ts) on the CPU: attentionPacked on a
// packed qkv [B, L, 3·H·d] and attentionHeads on per-projection q, k, v [B, len, H·d] equal the
// split-heads → attention → merge-heads composition (output and every gradient, f64), gradcheck,
// and clear errors for shapes that do not fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import { tensor } from '../../engine/creation.ts';
import { ShapeError } from '../../engine/errors.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { maxAbsDiff as maxAbs, randomData } from '../webgpu/helpers.ts';

const leaf = (shape: number[], seed: number): Tensor =>
  tensor(Float64Array.from(randomData(shape.reduce((a, b) => a * b, 1), seed, -1.5, 1.5)), shape, { dtype: 'f64', requiresGrad: true });

/** [B, len, H·d] → [B, H, len, d] and back, as the model did before the in-place heads. */
const split = (x: Tensor, H: number): Tensor => {
  const [b, l, w] = x.shape as [number, number, number];
  return A.permute(A.reshape(x, [b, l, H, w / H]), [0, 2, 1, 3]);
};
const merge = (x: Tensor): Tensor => {
  const [b, h, l, d] = x.shape as [number, number, number, number];
  return A.reshape(A.permute(x, [0, 2, 1, 3]), [b, l, h * d]);
};

/** Output and gradients of `f` and `g` on the same leaves, against one random cotangent. */
function sameAs(leaves: Tensor[], f: () => Tensor, g: () => Tensor, what: string): void {
  const y = f();
  const r = tensor(Float64Array.from(randomData(y.size, 99)), y.shape, { dtype: 'f64' });
  A.backward(A.sum(A.mul(y, r)));
  const grads = leaves.map((t) => t.grad!.dataSync());
  leaves.forEach((t) => (t.grad = null));
  const c = g();
  A.backward(A.sum(A.mul(c, r)));
  assert.deepEqual(y.shape, c.shape, `${what}: shape`);
  assert.ok(maxAbs(y.dataSync(), c.dataSync()) < 1e-12, `${what}: output`);
  leaves.forEach((t, i) => assert.ok(maxAbs(grads[i]!, t.grad!.dataSync()) < 1e-10, `${what}: gradient ${i}`));
}

test('attentionPacked equals split → attention → merge on a packed qkv (f64)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 11 }), fc.constantFrom(1, 3, 8, 9), fc.integer(), (B, H, L, d, seed) => {
      const qkv = leaf([B, L, 3 * H * d], seed);
      sameAs([qkv], () => A.attentionPacked(qkv, H), () => {
        const [q, k, v] = A.chunk(qkv, 3, 2).map((t) => split(t, H)) as [Tensor, Tensor, Tensor];
        return merge(A.attention(q, k, v));
      }, `B${B} H${H} L${L} d${d}`);
    }),
    { numRuns: 30, seed: 3 },
  );
});

test('attentionPacked with q and k narrower than v (dqk, scale) equals split → attention → merge (f64)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 11 }), fc.constantFrom(1, 3, 9, 12), fc.constantFrom(2, 8, 18),
      fc.constantFrom(undefined, 0.3), fc.integer(),
      (B, H, L, dqk, dv, scale, seed) => {
        const W = H * (2 * dqk + dv);
        const qkv = leaf([B, L, W], seed);
        sameAs([qkv], () => A.attentionPacked(qkv, H, { dqk, scale }), () => {
          const part = (from: number, width: number) => split(A.narrow(qkv, 2, from, width), H);
          return merge(A.attention(part(0, H * dqk), part(H * dqk, H * dqk), part(2 * H * dqk, H * dv), scale));
        }, `B${B} H${H} L${L} ${dqk}/${dv} scale ${scale}`);
      },
    ),
    { numRuns: 30, seed: 5 },
  );
});

test('attentionHeads equals split → attention → merge with l ≠ s and dqk ≠ dv (f64)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }),
      fc.constantFrom(1, 3, 9), fc.constantFrom(2, 8, 72), fc.integer(),
      (B, H, L, S, dqk, dv, seed) => {
        const q = leaf([B, L, H * dqk], seed), k = leaf([B, S, H * dqk], seed + 1), v = leaf([B, S, H * dv], seed + 2);
        sameAs([q, k, v], () => A.attentionHeads(q, k, v, H), () => merge(A.attention(split(q, H), split(k, H), split(v, H))), `B${B} H${H} L${L} S${S} ${dqk}/${dv}`);
      },
    ),
    { numRuns: 30, seed: 4 },
  );
});

test('attentionPacked on [B, L, G, W] (sequences across the third axis, attention along the second) equals permuting G in front (f64)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4 }),
      fc.constantFrom(3, 4, 9), fc.constantFrom(4, 8), fc.integer(),
      (B, H, L, G, dqk, dv, seed) => {
        const W = H * (2 * dqk + dv);
        const qkv = leaf([B, L, G, W], seed);
        sameAs([qkv], () => A.attentionPacked(qkv, H, { dqk }), () => {
          // [B, L, G, W] → [B·G, L, W] (the model's permute before the in-place layout), attention, and back.
          const front = A.reshape(A.permute(qkv, [0, 2, 1, 3]), [B * G, L, W]);
          const o = A.attentionPacked(front, H, { dqk });
          return A.permute(A.reshape(o, [B, G, L, H * dv]), [0, 2, 1, 3]);
        }, `B${B} H${H} L${L} G${G} ${dqk}/${dv}`);
      },
    ),
    { numRuns: 30, seed: 7 },
  );
});

test('gradcheck attentionPacked and attentionHeads (f64)', () => {
  const inp = (shape: number[], seed: number) => ({ shape, data: Array.from(randomData(shape.reduce((a, c) => a * c, 1), seed, -1, 1)), grad: true });
  for (const [B, H, L, d] of [[1, 1, 3, 4], [2, 2, 5, 3]] as const) {
    const { maxRelError } = gradcheck((x) => A.attentionPacked(x!, H), [inp([B, L, 3 * H * d], 1)]);
    assert.ok(maxRelError < 1e-6, `packed ${B}×${H}×${L}×${d}: ${maxRelError}`);
  }
  const { maxRelError } = gradcheck((q, k, v) => A.attentionHeads(q!, k!, v!, 2), [inp([2, 3, 2 * 3], 1), inp([2, 4, 2 * 3], 2), inp([2, 4, 2 * 5], 3)]);
  assert.ok(maxRelError < 1e-6, `heads: ${maxRelError}`);
  // q, k of 3 beside v of 5, two heads: columns [q 6 | k 6 | v 10].
  const narrow = gradcheck((x) => A.attentionPacked(x!, 2, { dqk: 3 }), [inp([2, 4, 2 * (2 * 3 + 5)], 4)]);
  assert.ok(narrow.maxRelError < 1e-6, `packed narrow: ${narrow.maxRelError}`);
  // Grouped: [B, L, G, W], three sequences per batch entry along the third axis.
  const grouped = gradcheck((x) => A.attentionPacked(x!, 2, { dqk: 3 }), [inp([2, 4, 3, 2 * (2 * 3 + 5)], 5)]);
  assert.ok(grouped.maxRelError < 1e-6, `packed grouped: ${grouped.maxRelError}`);
});

test('attentionPacked and attentionHeads refuse shapes that do not fit, naming them', () => {
  const t = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  assert.throws(() => A.attentionPacked(t([2, 3, 10]), 2), (e: Error) => e instanceof ShapeError && /qkv \[2, 3, 10\]/.test(e.message));
  assert.throws(() => A.attentionPacked(t([6, 12]), 2), (e: Error) => e instanceof ShapeError && /\[B, L, 3·H·d\]/.test(e.message));
  // q and k of 3 take all 12 columns of two heads: no room for v.
  assert.throws(() => A.attentionPacked(t([2, 3, 12]), 2, { dqk: 3 }), (e: Error) => e instanceof ShapeError && /qkv \[2, 3, 12\] must be \[B, L, 2·H·3 \+ H·dv\]/.test(e.message));
  assert.throws(() => A.attentionHeads(t([2, 3, 6]), t([2, 4, 6]), t([2, 5, 6]), 2), (e: Error) => e instanceof ShapeError && /v \[2, 5, 6\]/.test(e.message));
  assert.throws(() => A.attentionHeads(t([2, 3, 6]), t([2, 4, 4]), t([2, 4, 6]), 2), (e: Error) => e instanceof ShapeError && /k \[2, 4, 4\]/.test(e.message));
});
