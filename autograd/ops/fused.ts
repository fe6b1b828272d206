/**
 * LayerNorm fused with DiT's adaLN modulate (`modulate(norm(x), shift, scale)` in DiT's
 * models.py): y = LN(x)·(1 + scale) + shift, LN without affine parameters, shift and scale
 * broadcast over the L tokens of each sample. One kernel instead of layerNorm + mul + add, and
 * one backward (kernels/norm-modulate.ts derives it).
 */
import * as raw from '../../engine/ops.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { record } from '../tape.ts';

/**
 * DiT's gated residual x + gate ⊙ y (adaLN-Zero), x and y [N, L, D], gate [N, D] broadcast over
 * the L tokens: one op (kernels/gated-add.ts) instead of mul + add. Gradients: dx = g,
 * dgate = Σ_t g ⊙ y, dy = gate ⊙ g.
 */
export function addGated(x: Tensor, gate: Tensor, y: Tensor): Tensor {
  const { out, dims } = raw.gatedAdd(x, gate, y, 'addGated'); // errors name the op the caller called
  return record('addGated', [x, gate, y], out, (g) => {
    const r = raw.gatedAddBwd(g, gate, gate.requiresGrad ? y : null, dims);
    return [g, r.dgate, r.dy];
  }, gate.requiresGrad ? [gate, y] : [gate]); // y only feeds dgate: a frozen gate lets it go
}

/** x [N, L, D], shift [N, D], scale [N, D] → [N, L, D]; DiT uses eps = 1e-6. */
export function normModulate(x: Tensor, shift: Tensor, scale: Tensor, eps = 1e-6): Tensor {
  const { y, mean, rstd, dims } = raw.normModulate(x, shift, scale, eps);
  return record('normModulate', [x, shift, scale], y, (g) => {
    const r = raw.normModulateBwd(g, x, mean, rstd, scale, dims);
    return [r.dx, r.dshift, r.dscale];
  }, [x, scale, mean, rstd]);
}
