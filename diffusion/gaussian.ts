/**
 * The Gaussian diffusion of ADM / DiT (Ho et al. 2020; Nichol & Dhariwal 2021) for a model that
 * predicts ε and a learned-range variance ("learn_sigma"): its output is [B, 2C, …], the first
 * C channels ε, the last C channels v ∈ [−1, 1].
 *
 * Every function takes one timestep per sample (index into this schedule). A respaced
 * diffusion is the same class built from the respaced betas plus a timestep map; the model
 * is always called with the original steps (`callModel`).
 */
import type { Tensor } from '../engine/tensor.ts';
import { add, clamp, concat, detach, div, exp, mul, narrow, sub, where } from '../autograd/index.ts';
import { checkTimesteps, extract, meanFlat, perSample, type Timesteps } from './extract.ts';
import { discretizedGaussianLogLikelihood, normalKl } from './likelihood.ts';
import { makeSchedule, type Schedule } from './schedule.ts';

/** The denoiser: x_t [B, C, …] and the ORIGINAL (unrespaced) step of each sample → [B, 2C, …]. */
export type DiffusionModel = (x: Tensor, tOriginal: number[]) => Tensor;

/**
 * 'mse' (DiT's create_diffusion default): loss = mse + vb, vb unscaled.
 * 'rescaled-mse' (ADM's rescale_learned_sigmas): vb × T/1000 (the same for T = 1000).
 */
export type LossType = 'mse' | 'rescaled-mse';

export interface MeanVariance {
  mean: Tensor;
  variance: Tensor;
  logVariance: Tensor;
  predXstart: Tensor;
}

export interface LossTerms {
  /** [B] each. */
  loss: Tensor;
  mse: Tensor;
  vb: Tensor;
}

export interface PMeanVarianceOptions {
  /** Clip the x_0 prediction to [−1, 1] (ADM's default in sampling; DiT passes false for latents). */
  clipDenoised?: boolean;
  /** Applied to the x_0 prediction before clipping. */
  denoisedFn?: (x0: Tensor) => Tensor;
}

const LN2 = Math.log(2);

/**
 * The ADM/DiT Gaussian diffusion over a beta schedule (optionally respaced): q_sample, posterior,
 * learned-range p(x_{t−1}|x_t), the hybrid loss. Tensors are [B, C, …] with one timestep per
 * sample.
 */
export class GaussianDiffusion {
  readonly schedule: Schedule;
  /** timestepMap[i] = the original step of step i (the identity when not respaced). */
  readonly timestepMap: Int32Array;
  readonly lossType: LossType;

  constructor(betas: ArrayLike<number>, opts: { timestepMap?: Int32Array; lossType?: LossType } = {}) {
    this.schedule = makeSchedule(betas);
    const n = this.schedule.numTimesteps;
    this.timestepMap = opts.timestepMap ?? Int32Array.from({ length: n }, (_, i) => i);
    if (this.timestepMap.length !== n) throw new Error(`GaussianDiffusion: timestep map has ${this.timestepMap.length} entries for ${n} steps`);
    this.lossType = opts.lossType ?? 'mse';
  }

  get numTimesteps(): number {
    return this.schedule.numTimesteps;
  }

  private ts(op: string, t: Timesteps, x: Tensor): number[] {
    return checkTimesteps(op, t, x.shape[0]!, this.numTimesteps);
  }

  /** Call the model with the original steps and check its output is [B, 2C, …]. */
  callModel(model: DiffusionModel, x: Tensor, t: Timesteps): Tensor {
    const ts = this.ts('callModel', t, x);
    const out = model(x, ts.map((i) => this.timestepMap[i]!));
    const want = [x.shape[0]!, 2 * x.shape[1]!, ...x.shape.slice(2)];
    if (out.shape.join() !== want.join()) throw new Error(`model output has shape [${out.shape}], expected [${want}] (ε and v halves)`);
    return out;
  }

  /** q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) (Ho et al. eq. 4): mean, variance, log variance. */
  qMeanVariance(x0: Tensor, t: Timesteps): { mean: Tensor; variance: Tensor; logVariance: Tensor } {
    const s = this.schedule;
    const ts = this.ts('qMeanVariance', t, x0);
    return {
      mean: mul(extract(s.sqrtAlphasCumprod, ts, x0), x0),
      variance: perSample(ts.map((i) => 1 - s.alphasCumprod[i]!), x0),
      logVariance: extract(s.logOneMinusAlphasCumprod, ts, x0),
    };
  }

  /** x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4, reparameterised). */
  qSample(x0: Tensor, t: Timesteps, noise: Tensor): Tensor {
    const s = this.schedule;
    const ts = this.ts('qSample', t, x0);
    return add(mul(extract(s.sqrtAlphasCumprod, ts, x0), x0), mul(extract(s.sqrtOneMinusAlphasCumprod, ts, x0), noise));
  }

  /** q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t) (eqs. 6–7); the log variance is clipped at t = 0. */
  qPosteriorMeanVariance(x0: Tensor, xt: Tensor, t: Timesteps): { mean: Tensor; variance: Tensor; logVarianceClipped: Tensor } {
    const s = this.schedule;
    const ts = this.ts('qPosteriorMeanVariance', t, xt);
    return {
      mean: add(mul(extract(s.posteriorMeanCoef1, ts, xt), x0), mul(extract(s.posteriorMeanCoef2, ts, xt), xt)),
      variance: extract(s.posteriorVariance, ts, xt),
      logVarianceClipped: extract(s.posteriorLogVarianceClipped, ts, xt),
    };
  }

  /** x_0 = √(1/ᾱ_t) x_t − √(1/ᾱ_t − 1) ε (eq. 4 solved for x_0). */
  predictXstartFromEps(xt: Tensor, t: Timesteps, eps: Tensor): Tensor {
    const s = this.schedule;
    const ts = this.ts('predictXstartFromEps', t, xt);
    return sub(mul(extract(s.sqrtRecipAlphasCumprod, ts, xt), xt), mul(extract(s.sqrtRecipm1AlphasCumprod, ts, xt), eps));
  }

  /** ε = (√(1/ᾱ_t) x_t − x_0) / √(1/ᾱ_t − 1). */
  predictEpsFromXstart(xt: Tensor, t: Timesteps, x0: Tensor): Tensor {
    const s = this.schedule;
    const ts = this.ts('predictEpsFromXstart', t, xt);
    return div(sub(mul(extract(s.sqrtRecipAlphasCumprod, ts, xt), xt), x0), extract(s.sqrtRecipm1AlphasCumprod, ts, xt));
  }

  /** Split a [B, 2C, …] model output into ε and v (each [B, C, …]). */
  splitOutput(out: Tensor): [Tensor, Tensor] {
    const c2 = out.shape[1]!;
    if (out.rank < 2 || c2 % 2 !== 0) throw new Error(`model output [${out.shape}] has no even channel axis to split into ε and v`);
    return [narrow(out, 1, 0, c2 / 2), narrow(out, 1, c2 / 2, c2 / 2)];
  }

  /**
   * p(x_{t−1} | x_t) from a model output [B, 2C, …]. Learned-range variance
   * (Nichol & Dhariwal 2021, eq. 15): log Σ = f·log β_t + (1 − f)·log β̃_t with f = (v + 1)/2;
   * the mean is μ̃_t(x̂_0, x_t) with x̂_0 from ε (Ho et al. eqs. 7 and 4).
   */
  pMeanVariance(modelOutput: Tensor, xt: Tensor, t: Timesteps, opts: PMeanVarianceOptions = {}): MeanVariance {
    const [eps, v] = this.splitOutput(modelOutput);
    return this.meanVarianceFrom(eps, v, xt, t, opts);
  }

  private meanVarianceFrom(eps: Tensor, v: Tensor, xt: Tensor, t: Timesteps, opts: PMeanVarianceOptions): MeanVariance {
    const s = this.schedule;
    const ts = this.ts('pMeanVariance', t, xt);
    if (eps.shape.join() !== xt.shape.join()) throw new Error(`pMeanVariance: ε half [${eps.shape}] does not match x_t [${xt.shape}]`);
    const minLog = extract(s.posteriorLogVarianceClipped, ts, xt);
    const maxLog = extract(s.logBetas, ts, xt);
    const frac = mul(add(v, 1), 0.5);
    const logVariance = add(mul(frac, maxLog), mul(sub(1, frac), minLog));
    let x0 = this.predictXstartFromEps(xt, ts, eps);
    if (opts.denoisedFn) x0 = opts.denoisedFn(x0);
    if (opts.clipDenoised ?? true) x0 = clamp(x0, -1, 1);
    const { mean } = this.qPosteriorMeanVariance(x0, xt, ts);
    return { mean, variance: exp(logVariance), logVariance, predXstart: x0 };
  }

  /**
   * The VLB term L_{t−1} in bits per dimension, [B] (Ho et al. eq. 5): KL(q(x_{t−1}|x_t,x_0) ‖
   * p(x_{t−1}|x_t)) for t > 0, the discretized decoder NLL −log p(x_0|x_1) at t = 0.
   * Both are computed for every sample and the right one is picked (as ADM).
   */
  vbTermsBpd(modelOutput: Tensor, x0: Tensor, xt: Tensor, t: Timesteps, opts: PMeanVarianceOptions = { clipDenoised: false }): Tensor {
    const ts = this.ts('vbTermsBpd', t, xt);
    const q = this.qPosteriorMeanVariance(x0, xt, ts);
    const p = this.pMeanVariance(modelOutput, xt, ts, opts);
    const kl = mul(meanFlat(normalKl(q.mean, q.logVarianceClipped, p.mean, p.logVariance)), 1 / LN2);
    const nll = mul(meanFlat(discretizedGaussianLogLikelihood(x0, p.mean, mul(p.logVariance, 0.5))), -1 / LN2);
    const first = perSample(ts.map((i) => (i === 0 ? 1 : 0)), kl);
    return where(first, nll, kl);
  }

  /**
   * The hybrid training loss per sample from the model output at x_t (ADM training_losses with
   * an ε model and learned-range variance):
   *   mse  = mean over non-batch dims of (ε − ε_θ)²            (Ho et al. eq. 14, L_simple)
   *   vb   = vbTermsBpd on [detach(ε_θ), v]  — "frozen_out": the VLB trains only the variance
   *          half; the mean gets its gradient from mse alone (Nichol & Dhariwal 2021 §3.1, L_hybrid)
   *   loss = mse + vb
   * Weighting: N&D's L_hybrid = L_simple + λ·L_vlb with λ = 0.001, and L_vlb estimated from one
   * uniform t as T·L_t, is mse + (T/1000)·vb. DiT (create_diffusion with
   * rescale_learned_sigmas = False → loss_type MSE) adds vb unscaled; ADM's RESCALED_MSE
   * multiplies it by T/1000 ('rescaled-mse' here). Training uses T = 1000, where both agree.
   */
  lossesFromOutput(modelOutput: Tensor, x0: Tensor, xt: Tensor, t: Timesteps, noise: Tensor, o: { minSnrGamma?: number } = {}): LossTerms {
    const [eps, v] = this.splitOutput(modelOutput);
    const frozen = concat([detach(eps), v], 1);
    let vb = this.vbTermsBpd(frozen, x0, xt, t, { clipDenoised: false });
    if (this.lossType === 'rescaled-mse') vb = mul(vb, this.numTimesteps / 1000);
    const d = sub(noise, eps);
    const mse = meanFlat(mul(d, d));
    const weighted = o.minSnrGamma === undefined ? mse : mul(mse, perSample(this.minSnrWeights(t, o.minSnrGamma, x0), mse));
    return { loss: add(weighted, vb), mse, vb };
  }

  /**
   * Min-SNR-γ loss weights for ε-prediction (Hang et al. 2023, eq. 8 with ε's 1/SNR):
   * w_t = min(SNR_t, γ) / SNR_t, SNR_t = ᾱ_t / (1 − ᾱ_t). Steps noisier than SNR γ keep weight 1;
   * the nearly clean ones, whose ε error is mostly detail the model cannot see, count less.
   */
  minSnrWeights(t: Timesteps, gamma: number, like: Tensor): number[] {
    if (!(gamma > 0)) throw new RangeError(`minSnrWeights: gamma must be > 0, got ${gamma}`);
    return this.ts('minSnrWeights', t, like).map((i) => {
      const ab = this.schedule.alphasCumprod[i]!;
      const snr = ab / (1 - ab);
      return Math.min(snr, gamma) / snr;
    });
  }

  /** Diffuse x_0 to x_t with the given noise, call the model, and return the loss terms ([B] each). */
  trainingLosses(model: DiffusionModel, x0: Tensor, t: Timesteps, noise: Tensor): LossTerms & { xt: Tensor; modelOutput: Tensor } {
    const xt = this.qSample(x0, t, noise);
    const modelOutput = this.callModel(model, xt, t);
    return { ...this.lossesFromOutput(modelOutput, x0, xt, t, noise), xt, modelOutput };
  }
}
