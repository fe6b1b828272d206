/**
 * Differentiable layout ops. reshape is free; the others copy through a kernel. Each gradient
 * is the adjoint move: permute ↔ inverse permute, slice ↔ padSlice, concat ↔ slices,
 * expand ↔ sum over the expanded axes.
 */
import * as raw from '../../engine/ops.ts';
import { ShapeError } from '../../engine/errors.ts';
import { fmt, normAxis, transposePerm, type Shape } from '../../engine/shape.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { record, recordMany } from '../tape.ts';
import { zeros } from '../../engine/creation.ts';
import { unbroadcast } from './broadcast.ts';

/** The same elements in a new shape (one dim may be −1); free: shares the storage. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  return record('reshape', [x], raw.reshape(x, shape), (g) => [g.view(x.shape)], []);
}

export const flatten = (x: Tensor): Tensor => reshape(x, [x.size]);

/** Insert a size-1 axis at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.rank + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

/** Reorder the axes: output axis i is input axis perm[i]; makes a contiguous copy. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const y = raw.permute(x, perm);
  const p = perm.map((a) => normAxis('permute', a, x.rank));
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  return record('permute', [x], y, (g) => [raw.permute(g, inverse)], []);
}

/** Swap axes d0 and d1 (default the last two; negative axes count from the end). */
export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  return permute(x, transposePerm('transpose', x.rank, d0, d1));
}

/** x[begin : begin + size] per axis (size −1: to the end; negative begin counts from the end). */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[], op = 'slice'): Tensor {
  const y = raw.slice(x, begin, size, op);
  const b = x.shape.map((d, i) => {
    const v = begin[i] ?? 0;
    return v < 0 ? v + d : v;
  });
  return record('slice', [x], y, (g) => [raw.padSlice(g, x.shape, b)], []);
}

/** Take [start, start + length) along one axis. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis('narrow', axis, x.rank);
  if (!Number.isInteger(start) || !Number.isInteger(length) || length < 0) {
    throw new ShapeError(`narrow: start ${start} and length ${length} must be integers (length >= 0) for axis ${a} of ${fmt(x.shape)}`);
  }
  const begin = x.shape.map((_, i) => (i === a ? start : 0));
  const size = x.shape.map((d, i) => (i === a ? length : d));
  return slice(x, begin, size, 'narrow');
}

/** x placed at `begin` inside zeros of `outShape` (slice's adjoint); its gradient is the slice back. */
export function padSlice(x: Tensor, outShape: Shape, begin: readonly number[]): Tensor {
  return record('padSlice', [x], raw.padSlice(x, outShape, begin), (g) => [raw.slice(g, begin, x.shape)], []);
}

/** Join tensors along `axis`; all other dims must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const y = raw.concat(xs, axis);
  const a = normAxis('concat', axis, xs[0]!.rank);
  return record('concat', xs, y, (g) => {
    let at = 0;
    return xs.map((x) => {
      const begin = g.shape.map((_, i) => (i === a ? at : 0));
      at += x.shape[a]!;
      return x.requiresGrad ? raw.slice(g, begin, x.shape) : null;
    });
  }, []);
}

/**
 * A packed projection [B, L, 3·H·d] (per token q, k, v of H heads of width d) → q, k, v, each
 * [B, H, L, d]: the composed attention's head split as one op. Forward, each gathered from its
 * third in one copy (slicePermuted); backward, the three gradients placed back into one
 * [B, L, 3·H·d] in one copy too (concatPermuted; zeros where an output got none). As a permute and
 * three `chunk` slices it was two copies forward, and backward three full-size zero-padded slice
 * gradients, two full-size sums and a permute.
 */
export function unpackHeads(qkv: Tensor, heads: number): [Tensor, Tensor, Tensor] {
  const [b, l, w] = qkv.shape as [number, number, number];
  if (qkv.rank !== 3 || !Number.isInteger(heads) || heads < 1 || w % (3 * heads) !== 0) {
    throw new ShapeError(`unpackHeads: expected [B, L, 3·H·d] with H = ${heads}, got ${fmt(qkv.shape)}`);
  }
  const d = w / 3 / heads;
  const packed = raw.reshape(qkv, [b, l, 3, heads, d]);
  // Output i: the box [:, :, i] with its axes (b, i, h, l, d), then a free reshape to [b, h, l, d].
  const outs = [0, 1, 2].map((i) => raw.reshape(raw.slicePermuted(packed, [0, 0, i, 0, 0], [b, l, 1, heads, d], [0, 2, 3, 1, 4]), [b, heads, l, d]));
  // Backward: the gradients as stored, [b, h, l, d] = the parts' axes (b, i, h, l, d) permuted,
  // placed back into [b, l, 3, h, d] in one copy (zeros for an output that got none).
  return recordMany('unpackHeads', [qkv], outs, (grads) => {
    const parts = grads.map((g) => (g ? raw.reshape(g, [b, 1, heads, l, d]) : zeros([b, 1, heads, l, d], { dtype: qkv.dtype, backend: qkv.backend })));
    return [raw.reshape(raw.concatPermuted(parts, 2, [0, 2, 3, 1, 4]), [b, l, w])];
  }, []) as [Tensor, Tensor, Tensor];
}

/** Split into `n` equal parts along an axis (as torch.chunk with equal sizes). */
export function chunk(x: Tensor, n: number, axis = -1): Tensor[] {
  const a = normAxis('chunk', axis, x.rank);
  const d = x.shape[a]!;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`chunk: the number of parts must be an integer >= 1, got ${n} (axis ${a} of ${fmt(x.shape)})`);
  if (d % n !== 0) throw new ShapeError(`chunk: axis ${a} of ${fmt(x.shape)} does not split into ${n} equal parts`);
  return Array.from({ length: n }, (_, i) => narrow(x, a, (i * d) / n, d / n));
}

/** Broadcast x to `shape` (size-1 dims repeat); the gradient sums over the expanded dims. */
export function expand(x: Tensor, shape: Shape): Tensor {
  return record('expand', [x], raw.expand(x, shape), (g) => [unbroadcast(g, x.shape)], []);
}

/**
 * Patchify: [N, C, H, W] → [N, (H/p)(W/p), C·p·p], tokens in row-major order of the patch grid
 * and each token's features in (c, i, j) order, so that token·Wᵀ with W = conv.weight.view(D, C·p·p)
 * equals a stride-p p×p Conv2d. It is a reshape + permute + reshape.
 */
export function patchify(x: Tensor, p: number): Tensor {
  if (x.rank !== 4) throw new ShapeError(`patchify: expected [N, C, H, W], got ${fmt(x.shape)}`);
  if (!(Number.isInteger(p) && p >= 1)) throw new ShapeError(`patchify: patch size ${p} is not a positive integer`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h % p !== 0 || w % p !== 0) throw new ShapeError(`patchify: ${h}×${w} is not divisible by patch size ${p}`);
  const t = reshape(x, [n, c, h / p, p, w / p, p]);
  const u = permute(t, [0, 2, 4, 1, 3, 5]); // [N, h, w, C, p, p]
  return reshape(u, [n, (h / p) * (w / p), c * p * p]);
}

/**
 * Unpatchify (DiT's): [N, h·w, p·p·C] with features in (i, j, c) order → [N, C, h·p, w·p].
 * Note the feature order differs from patchify's: it follows DiT's final linear layer.
 */
export function unpatchify(x: Tensor, p: number, c: number, h: number, w: number): Tensor {
  for (const [k, v] of Object.entries({ 'patch size': p, channels: c, 'grid height': h, 'grid width': w })) {
    if (!(Number.isInteger(v) && v >= 1)) throw new ShapeError(`unpatchify: ${k} ${v} is not a positive integer`);
  }
  if (x.rank !== 3 || x.shape[1] !== h * w || x.shape[2] !== p * p * c) {
    throw new ShapeError(`unpatchify: expected [N, ${h * w}, ${p * p * c}], got ${fmt(x.shape)}`);
  }
  const n = x.shape[0]!;
  const t = reshape(x, [n, h, w, p, p, c]);
  const u = permute(t, [0, 5, 1, 3, 2, 4]); // [N, C, h, p, w, p]
  return reshape(u, [n, c, h * p, w * p]);
}

/** A new leaf sharing x's storage, cut from the graph. */
export function detach(x: Tensor): Tensor {
  return x.view(x.shape);
}


