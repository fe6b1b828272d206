/**
 * The noise schedule and every array derived from it, in float64 (as ADM: "use float64 for
 * accuracy"). Index t = 0 is the first diffusion step. Notation of Ho et al. 2020 (DDPM):
 *   α_t = 1 − β_t,  ᾱ_t = Π_{s≤t} α_s
 *   q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)                                  (eq. 4)
 *   q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I),                                   (eqs. 6–7)
 *     μ̃_t = β_t √ᾱ_{t−1} / (1 − ᾱ_t) · x_0 + (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t) · x_t
 *     β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
 */

/** numpy.linspace(start, stop, n) exactly: start + i·step, the last value set to stop. */
export function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

/**
 * Ho et al.'s linear schedule, β from 1e-4 to 2e-2 over 1000 steps. For other step counts
 * both ends are scaled by 1000/n (ADM's get_named_beta_schedule('linear', n)), so the
 * schedule stays similar in the limit of many steps.
 */
export function linearBetas(numTimesteps = 1000): Float64Array {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new Error(`linearBetas: step count must be a positive integer, got ${numTimesteps}`);
  const scale = 1000 / numTimesteps;
  return linspace(scale * 1e-4, scale * 0.02, numTimesteps);
}

export interface Schedule {
  readonly numTimesteps: number;
  readonly betas: Float64Array;
  readonly logBetas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** ᾱ_{t−1}, with ᾱ_{−1} = 1. */
  readonly alphasCumprodPrev: Float64Array;
  /** ᾱ_{t+1}, with ᾱ_T = 0. */
  readonly alphasCumprodNext: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  readonly logOneMinusAlphasCumprod: Float64Array;
  /** √(1/ᾱ_t) and √(1/ᾱ_t − 1): x_0 = √(1/ᾱ_t) x_t − √(1/ᾱ_t − 1) ε (eq. 4 solved for x_0). */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_t (eq. 7). */
  readonly posteriorVariance: Float64Array;
  /** log β̃_t with β̃_0 (= 0) replaced by β̃_1. */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** The two coefficients of μ̃_t (eq. 7). */
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
}

const map = (a: Float64Array, f: (v: number, i: number) => number): Float64Array => Float64Array.from(a, f);

/** All derived arrays of a beta schedule (ADM GaussianDiffusion.__init__). */
export function makeSchedule(betasIn: ArrayLike<number>): Schedule {
  const betas = Float64Array.from(betasIn);
  const n = betas.length;
  if (n === 0) throw new Error('makeSchedule: empty beta schedule');
  betas.forEach((b, i) => {
    if (!(b > 0 && b <= 1)) throw new Error(`makeSchedule: beta[${i}] = ${b} is not in (0, 1]`);
  });
  const alphasCumprod = new Float64Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) alphasCumprod[i] = acc *= 1 - betas[i]!;
  const alphasCumprodPrev = map(alphasCumprod, (_, i) => (i === 0 ? 1 : alphasCumprod[i - 1]!));
  const alphasCumprodNext = map(alphasCumprod, (_, i) => (i === n - 1 ? 0 : alphasCumprod[i + 1]!));
  const posteriorVariance = map(betas, (b, i) => (b * (1 - alphasCumprodPrev[i]!)) / (1 - alphasCumprod[i]!));
  // ADM leaves this empty for a one-step schedule; we use log β there instead of log 0.
  const posteriorLogVarianceClipped =
    n > 1 ? map(posteriorVariance, (v, i) => Math.log(i === 0 ? posteriorVariance[1]! : v)) : map(betas, Math.log);
  return {
    numTimesteps: n,
    betas,
    logBetas: map(betas, Math.log),
    alphasCumprod,
    alphasCumprodPrev,
    alphasCumprodNext,
    sqrtAlphasCumprod: map(alphasCumprod, Math.sqrt),
    sqrtOneMinusAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 - a)),
    logOneMinusAlphasCumprod: map(alphasCumprod, (a) => Math.log(1 - a)),
    sqrtRecipAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped,
    posteriorMeanCoef1: map(betas, (b, i) => (b * Math.sqrt(alphasCumprodPrev[i]!)) / (1 - alphasCumprod[i]!)),
    posteriorMeanCoef2: map(betas, (b, i) => ((1 - alphasCumprodPrev[i]!) * Math.sqrt(1 - b)) / (1 - alphasCumprod[i]!)),
  };
}
