// The attention operand layouts (kernels/attention-layout.ts): the contiguous layout is what the
// kernels assumed before layouts existed, vec4 rows only when every offset and stride allows,
// and a layout whose rows would leave their buffer (or whose heads do not divide n) is refused
// before any kernel runs, by layoutError and by the op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as raw from '../../engine/ops.ts';
import { tensor } from '../../engine/creation.ts';
import { ShapeError } from '../../engine/errors.ts';
import type { AttentionShape } from '../../kernels/attention.ts';
import { contiguousLayout, layoutError, rowIO, type AttentionLayout } from '../../kernels/attention-layout.ts';

const shape: AttentionShape = { n: 4, l: 5, s: 6, dqk: 8, dv: 12, scale: 1 };
const sizes = { q: 4 * 5 * 8, k: 4 * 6 * 8, v: 4 * 6 * 12, o: 4 * 5 * 12 };

/** Packed qkv [B = 2, L = 5, 3·H·d] with H = 2, d = 8 (l = s). */
function packed(): AttentionShape {
  const W = 3 * 2 * 8, row = (off: number) => ({ off, sB: 5 * W, sH: 8, sL: W });
  const layout: AttentionLayout = { H: 2, q: row(0), k: row(16), v: row(32), o: { off: 0, sB: 5 * 16, sH: 8, sL: 16 }, packed: true };
  return { n: 4, l: 5, s: 5, dqk: 8, dv: 8, scale: 1, layout };
}

test('the contiguous layout is rows of d after one another, and fits exactly', () => {
  const L = contiguousLayout(shape);
  assert.deepEqual(L.q, { off: 0, sB: 5 * 8, sH: 0, sL: 8 });
  assert.deepEqual(L.v, { off: 0, sB: 6 * 12, sH: 0, sL: 12 });
  assert.equal(layoutError({ ...shape, layout: L }, sizes), null);
  assert.match(layoutError({ ...shape, layout: L }, { ...sizes, v: sizes.v - 1 })!, /v: rows reach element 288 of a 287-element buffer/);
});

test('vec4 rows need the width and every offset and stride to divide by 4', () => {
  assert.deepEqual(rowIO(shape), { vq: true, vv: true, strided: false });
  assert.deepEqual(rowIO({ ...shape, dqk: 9 }), { vq: false, vv: true, strided: false });
  const p = packed();
  assert.deepEqual(rowIO(p), { vq: true, vv: true, strided: true });
  const odd = { ...p, layout: { ...p.layout!, k: { ...p.layout!.k, off: 18 } } };
  assert.equal(rowIO(odd).vq, false, 'an offset of 18 elements is not vec4-aligned');
});

test('a layout whose heads do not divide n, or whose rows overrun, is refused with the reason', () => {
  const p = packed();
  assert.equal(layoutError(p, { q: 2 * 5 * 48, k: 2 * 5 * 48, v: 2 * 5 * 48, o: 2 * 5 * 16 }), null);
  assert.match(layoutError({ ...p, layout: { ...p.layout!, H: 3 } }, sizes)!, /heads 3 do not divide n = 4/);
  assert.match(layoutError(p, { q: 480, k: 480, v: 470, o: 160 })!, /^v: rows reach element 480 of a 470-element buffer/);
  // Through the op: a packed layout on three different tensors, and one that overruns its tensor.
  const t = (n: number) => tensor(new Float32Array(n), [n]);
  const qkv = t(480);
  assert.throws(() => raw.attentionStrided(qkv, t(480), qkv, p, [2, 5, 16]), (e: Error) => e instanceof ShapeError && /packed layout needs q, k and v to be one tensor/.test(e.message));
  assert.throws(() => raw.attentionStrided(t(470), t(470), t(470), { ...p, layout: { ...p.layout!, packed: false } }, [2, 5, 16]), (e: Error) => e instanceof ShapeError && /rows reach element/.test(e.message));
});
