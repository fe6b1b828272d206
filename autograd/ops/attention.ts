/**
 * Fused scaled-dot-product attention, softmax(scale·Q Kᵀ) V, as one differentiable op on
 * [B, H, L, d] tensors (any leading dims; they are flattened to n = B·H, a free reshape).
 * The forward saves O and the row logsumexp; the backward is FA2's (Dao 2023): P is recomputed
 * from lse, never stored, so memory stays O(L·d) instead of O(L²). Equal to
 * softmax(mul(matmul(q, kᵀ), scale)) @ v, which the tests check.
 */
import * as raw from '../../engine/ops.ts';
import { ShapeError } from '../../engine/errors.ts';
import { fmt } from '../../engine/shape.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { record } from '../tape.ts';

/** q [..., L, dqk], k [..., S, dqk], v [..., S, dv] → [..., L, dv]; scale defaults to 1/√dqk. */
export function attention(q: Tensor, k: Tensor, v: Tensor, scale?: number): Tensor {
  if (q.rank < 3 || k.rank !== q.rank || v.rank !== q.rank) {
    throw new ShapeError(`attention: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)} must have one rank >= 3 ([..., len, dim])`);
  }
  const lead = q.shape.slice(0, -2);
  for (const t of [k, v]) {
    if (t.shape.slice(0, -2).join() !== lead.join()) {
      throw new ShapeError(`attention: leading dims differ: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}`);
    }
  }
  const flat = (t: Tensor): Tensor => raw.reshape(t, [-1, t.shape.at(-2)!, t.shape.at(-1)!]);
  const [q3, k3, v3] = [flat(q), flat(k), flat(v)];
  const { o, lse, dims } = raw.attention(q3, k3, v3, scale);
  const y = o.view([...lead, dims.l, dims.dv]);
  return record('attention', [q, k, v], y, (g) => {
    const r = raw.attentionBwd(q3, k3, v3, o, lse, raw.reshape(g, [dims.n, dims.l, dims.dv]), dims);
    return [r.dq.view(q.shape), r.dk.view(k.shape), r.dv.view(v.shape)];
  }, [q3, k3, v3, o, lse]);
}
