/**
 * Classifier-free guidance (Ho & Salimans 2022): ε̂ = ε_uncond + w·(ε_cond − ε_uncond).
 */
import type { Tensor } from '../engine/tensor.ts';
import { add, concat, mul, narrow, sub } from '../autograd/index.ts';
import type { DiffusionModel } from './gaussian.ts';

/**
 * Wrap a model that is called on the doubled batch [x; x] with timesteps [t; t] and whose first
 * B outputs are conditional, the last B unconditional (its closure supplies [y; y_null]).
 * Returns a model for the plain batch B: the guided ε on ALL ε channels (DiT's
 * forward_with_cfg guides only the first 3 by default, for reproducibility; we do not), and
 * the variance half from the conditional output. w = 1 gives the conditional model.
 */
export function classifierFreeGuidance(doubled: DiffusionModel, scale: number): DiffusionModel {
  return (x: Tensor, t: number[]): Tensor => {
    const b = x.shape[0]!;
    const c = x.shape[1]!;
    const out = doubled(concat([x, x], 0), [...t, ...t]);
    if (out.shape[0] !== 2 * b || out.shape[1] !== 2 * c) {
      throw new Error(`classifierFreeGuidance: model output [${out.shape}] should be [${2 * b}, ${2 * c}, …] for the doubled batch`);
    }
    return guideDoubled(out, scale);
  };
}

/**
 * The guidance step on one output of the doubled batch [cond; uncond] (2B, 2C, …): ε = ε_u + w(ε_c −
 * ε_u) on the noise half, the variance half from the conditional output; (B, 2C, …).
 */
export function guideDoubled(out: Tensor, scale: number): Tensor {
  const b = out.shape[0]! / 2;
  const c = out.shape[1]! / 2;
  const cond = narrow(out, 0, 0, b);
  const uncond = narrow(out, 0, b, b);
  const condEps = narrow(cond, 1, 0, c);
  const uncondEps = narrow(uncond, 1, 0, c);
  const eps = add(uncondEps, mul(sub(condEps, uncondEps), scale));
  return concat([eps, narrow(cond, 1, c, c)], 1);
}
