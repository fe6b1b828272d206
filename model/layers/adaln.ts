/** DiT's LayerNorm (no affine, eps 1e-6) and adaLN's modulate. */
import * as A from '../../autograd/index.ts';
import type { Tensor } from '../../engine/tensor.ts';

export const NORM_EPS = 1e-6;

/** LayerNorm over the last axis without weight or bias. */
export function norm(x: Tensor): Tensor {
  return A.layerNorm(x, null, null, NORM_EPS);
}

/**
 * modulate(x, shift, scale) = x·(1 + scale) + shift, with x [N, L, D] and shift, scale [N, D]
 * broadcast over the L tokens.
 */
export function modulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  const n = shift.shape[0]!, d = shift.shape[1]!;
  return A.add(A.mul(x, A.add(A.reshape(scale, [n, 1, d]), 1)), A.reshape(shift, [n, 1, d]));
}

/** norm then modulate, the input of every adaLN-conditioned sub-layer, as one fused op. */
export function normModulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  return A.normModulate(x, shift, scale, NORM_EPS);
}
