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
import type { AttentionLayout, RowLayout } from '../../engine/backend.ts';
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

/**
 * Row layout of [B, len, W] rows holding H heads of width d at column `col` (kernels/attention-layout.ts);
 * with G > 1, of [B, len, G, W]: B·G sequences of len positions, sequence (b, g) across the third axis.
 */
const headRows = (len: number, W: number, d: number, col: number, G = 1): RowLayout =>
  G === 1 ? { off: col, sB: len * W, sH: d, sL: W } : { off: col, sB: len * G * W, sH: d, sL: G * W, G, sG: W };

/**
 * Multi-head attention on a packed projection: qkv [B, L, 3·H·d] (columns q, k, v, each H heads of
 * d; DiT's) → [B, L, H·d]. The same as splitting the heads ([B, H, L, d] permutes), `attention`,
 * and merging them back, but the kernels read the heads where the projection wrote them and write
 * the merged output (kernels/attention-layout.ts): no permute copies, forward or backward. The
 * gradient is one packed dqkv shaped like qkv.
 *
 * `dqk`: q and k are narrower than v (AV-DiT's temporal adapter): qkv [B, L, H·dqk + H·dqk + H·dv]
 * (columns q, then k, then v), out [B, L, H·dv]. `scale` defaults to 1/√dqk.
 *
 * qkv may also be [B, L, G, W]: B·G sequences, sequence (b, g) made of the rows (b, 0…L−1, g), i.e.
 * attention along the second axis (AV-DiT's temporal adapter over the frames of each video token,
 * [B, M, Lv, W]) read in place, out [B, L, G, H·dv]; no permute brings the frames to the front.
 */
export function attentionPacked(qkv: Tensor, heads: number, opts: { scale?: number; dqk?: number } = {}): Tensor {
  const op = 'attentionPacked';
  const W = qkv.shape.at(-1) ?? 0;
  const dqk = opts.dqk ?? W / (3 * heads);
  const dv = (W - 2 * heads * dqk) / heads;
  const whole = (x: number): boolean => Number.isInteger(x) && x >= 1;
  if ((qkv.rank !== 3 && qkv.rank !== 4) || !whole(heads) || !whole(dqk) || !whole(dv)) {
    const want = opts.dqk === undefined ? '[B, L, 3·H·d] or [B, L, G, 3·H·d]' : `[B, L, 2·H·${opts.dqk} + H·dv] or [B, L, G, …]`;
    throw new ShapeError(`${op}: qkv ${fmt(qkv.shape)} must be ${want} with H = ${heads} heads`);
  }
  const [B, L] = qkv.shape as [number, number];
  const G = qkv.rank === 4 ? qkv.shape[2]! : 1;
  const Dq = heads * dqk, Dv = heads * dv;
  const layout: AttentionLayout = {
    H: heads, q: headRows(L, W, dqk, 0, G), k: headRows(L, W, dqk, Dq, G), v: headRows(L, W, dv, 2 * Dq, G), o: headRows(L, Dv, dv, 0, G), packed: true,
  };
  const dims = { n: B * G * heads, l: L, s: L, dqk, dv, scale: opts.scale ?? 1 / Math.sqrt(dqk), layout };
  const { o, lse } = raw.attentionStrided(qkv, qkv, qkv, dims, qkv.rank === 4 ? [B, L, G, Dv] : [B, L, Dv]);
  return record(op, [qkv], o, (g) => [raw.attentionBwd(qkv, qkv, qkv, o, lse, g, dims).dq], [qkv, o, lse]);
}

/**
 * Multi-head attention on per-projection tensors q [B, L, H·dqk], k [B, S, H·dqk], v [B, S, H·dv]
 * → [B, L, H·dv] (AV-DiT's temporal adapter, whose q, k are narrower than v), heads read and the
 * output written in place as attentionPacked.
 */
export function attentionHeads(q: Tensor, k: Tensor, v: Tensor, heads: number, scale?: number): Tensor {
  const op = 'attentionHeads';
  const ok = [q, k, v].every((t) => t.rank === 3 && t.shape[2]! % heads === 0) && Number.isInteger(heads) && heads >= 1
    && k.shape[0] === q.shape[0] && v.shape[0] === q.shape[0] && v.shape[1] === k.shape[1] && k.shape[2] === q.shape[2];
  if (!ok) throw new ShapeError(`${op}: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)} must be [B, L, H·dqk], [B, S, H·dqk], [B, S, H·dv] with H = ${heads}`);
  const [B, L, Wq] = q.shape as [number, number, number];
  const S = k.shape[1]!, Wv = v.shape[2]!;
  const dqk = Wq / heads, dv = Wv / heads;
  const layout: AttentionLayout = {
    H: heads, q: headRows(L, Wq, dqk, 0), k: headRows(S, Wq, dqk, 0), v: headRows(S, Wv, dv, 0), o: headRows(L, Wv, dv, 0), packed: false,
  };
  const dims = { n: B * heads, l: L, s: S, dqk, dv, scale: scale ?? 1 / Math.sqrt(dqk), layout };
  const { o, lse } = raw.attentionStrided(q, k, v, dims, [B, L, Wv]);
  return record(op, [q, k, v], o, (g) => {
    const r = raw.attentionBwd(q, k, v, o, lse, g, dims);
    return [r.dq, r.dk, r.dv];
  }, [q, k, v, o, lse]);
}
