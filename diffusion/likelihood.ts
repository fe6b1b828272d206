/**
 * Gaussian divergences and likelihoods for the variational bound (in nats), as ADM's
 * diffusion_utils. Composed from differentiable ops, so gradients flow to every tensor input.
 */
import { full } from '../engine/creation.ts';
import type { Tensor } from '../engine/tensor.ts';
import { add, compare, exp, log, maximum, mul, neg, square, sub, tanh, where } from '../autograd/index.ts';

const scalar = (v: number, like: Tensor): Tensor => full([], v, { dtype: like.dtype, backend: like.backend });

/**
 * KL(N(μ1, e^{lv1}) ‖ N(μ2, e^{lv2})) elementwise, broadcasting:
 *   ½ (−1 + lv2 − lv1 + e^{lv1 − lv2} + (μ1 − μ2)² e^{−lv2})
 */
export function normalKl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor): Tensor {
  const t = add(add(sub(logvar2, logvar1), exp(sub(logvar1, logvar2))), mul(square(sub(mean1, mean2)), exp(neg(logvar2))));
  return mul(add(t, -1), 0.5);
}

/**
 * Φ(x) ≈ ½ (1 + tanh(√(2/π) (x + 0.044715 x³))) (the GELU approximation). x³ is x·x², not
 * pow, so negative x is fine on every backend.
 */
export function approxStandardNormalCdf(x: Tensor): Tensor {
  const inner = add(x, mul(mul(x, square(x)), 0.044715));
  return mul(add(tanh(mul(inner, Math.sqrt(2 / Math.PI))), 1), 0.5);
}

/**
 * log p(x) for x on the 8-bit grid rescaled to [−1, 1], bins of width 2/255, under
 * N(mean, e^{2·logScale}) (Ho et al. 2020, eq. 13): log(Φ(x⁺) − Φ(x⁻)), with the outer bins
 * open to ±∞ (x < −0.999 → log Φ(x⁺); x > 0.999 → log(1 − Φ(x⁻))). Probabilities are floored
 * at 1e-12 before the log.
 */
export function discretizedGaussianLogLikelihood(x: Tensor, mean: Tensor, logScale: Tensor): Tensor {
  const centered = sub(x, mean);
  const invStd = exp(neg(logScale));
  const cdfPlus = approxStandardNormalCdf(mul(invStd, add(centered, 1 / 255)));
  const cdfMin = approxStandardNormalCdf(mul(invStd, add(centered, -1 / 255)));
  const floor = scalar(1e-12, x);
  const logCdfPlus = log(maximum(cdfPlus, floor));
  const logOneMinusCdfMin = log(maximum(neg(add(cdfMin, -1)), floor));
  const logCdfDelta = log(maximum(sub(cdfPlus, cdfMin), floor));
  const low = compare('lt', x, scalar(-0.999, x));
  const high = compare('gt', x, scalar(0.999, x));
  return where(low, logCdfPlus, where(high, logOneMinusCdfMin, logCdfDelta));
}
