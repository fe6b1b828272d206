/**
 * Ancestral (DDPM) and DDIM sampling, one step or a whole loop over a (respaced) diffusion.
 * Steps come in two forms: from a model output (pure maths, for tests and for models that
 * produce several modalities in one call) and from a model callback. Loops run under noGrad
 * and free each step's intermediates.
 */
import { randn } from '../engine/creation.ts';
import type { Backend } from '../engine/backend.ts';
import type { DType } from '../engine/dtype.ts';
import type { Generator } from '../engine/rng.ts';
import { scope } from '../engine/scope.ts';
import type { Tensor } from '../engine/tensor.ts';
import { add, exp, mul, noGrad } from '../autograd/index.ts';
import { checkTimesteps, nonzeroMask, perSample, type Timesteps } from './extract.ts';
import type { DiffusionModel, GaussianDiffusion, PMeanVarianceOptions } from './gaussian.ts';

export interface StepOptions extends PMeanVarianceOptions {
  /** The step's standard normal noise (drawn from `generator` when absent). */
  noise?: Tensor;
  generator?: Generator;
}

export interface DdimOptions extends StepOptions {
  /** 0: deterministic DDIM; 1: the DDPM posterior variance (Song et al. 2021, eq. 16). */
  eta?: number;
}

export interface StepResult {
  sample: Tensor;
  predXstart: Tensor;
}

const drawNoise = (x: Tensor, o: StepOptions): Tensor =>
  o.noise ?? randn(x.shape, { dtype: x.dtype, backend: x.backend, generator: o.generator });

/**
 * x_{t−1} = μ_θ(x_t, t) + [t > 0]·exp(½ log Σ_θ)·z, z ~ N(0, I) (Ho et al. 2020, Algorithm 2,
 * with the learned variance of Nichol & Dhariwal 2021).
 */
export function pSampleFromOutput(d: GaussianDiffusion, modelOutput: Tensor, x: Tensor, t: Timesteps, o: StepOptions = {}): StepResult {
  const ts = checkTimesteps('pSample', t, x.shape[0]!, d.numTimesteps);
  const p = d.pMeanVariance(modelOutput, x, ts, o);
  const noise = drawNoise(x, o);
  const sample = add(p.mean, mul(mul(nonzeroMask(ts, x), exp(mul(p.logVariance, 0.5))), noise));
  return { sample, predXstart: p.predXstart };
}

/**
 * One ancestral DDPM step: call the model at x_t and draw x_{t−1} ~ p(x_{t−1} | x_t) (no noise at
 * t = 0).
 */
export function pSample(d: GaussianDiffusion, model: DiffusionModel, x: Tensor, t: Timesteps, o: StepOptions = {}): StepResult {
  return pSampleFromOutput(d, d.callModel(model, x, t), x, t, o);
}

/**
 * DDIM (Song et al. 2021, eq. 12): with ε̂ re-derived from the (clipped) x̂_0,
 *   σ_t = η √((1 − ᾱ_{t−1})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t−1})
 *   x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1 − ᾱ_{t−1} − σ_t²) ε̂ + [t > 0] σ_t z
 * The learned variance is not used. The per-sample coefficients are computed in float64.
 */
export function ddimSampleFromOutput(d: GaussianDiffusion, modelOutput: Tensor, x: Tensor, t: Timesteps, o: DdimOptions = {}): StepResult {
  const ts = checkTimesteps('ddimSample', t, x.shape[0]!, d.numTimesteps);
  const s = d.schedule;
  const eta = o.eta ?? 0;
  const p = d.pMeanVariance(modelOutput, x, ts, o);
  const eps = d.predictEpsFromXstart(x, ts, p.predXstart);
  const sigma = ts.map((i) => {
    const ab = s.alphasCumprod[i]!;
    const abPrev = s.alphasCumprodPrev[i]!;
    return eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
  });
  const cX0 = perSample(ts.map((i) => Math.sqrt(s.alphasCumprodPrev[i]!)), x);
  const cEps = perSample(ts.map((i, b) => Math.sqrt(1 - s.alphasCumprodPrev[i]! - sigma[b]! ** 2)), x);
  let sample = add(mul(p.predXstart, cX0), mul(eps, cEps));
  if (eta !== 0) sample = add(sample, mul(perSample(ts.map((i, b) => (i !== 0 ? sigma[b]! : 0)), x), drawNoise(x, o)));
  return { sample, predXstart: p.predXstart };
}

/** One DDIM step (Song et al. 2021) from x_t to x_{t−1}; deterministic when eta = 0. */
export function ddimSample(d: GaussianDiffusion, model: DiffusionModel, x: Tensor, t: Timesteps, o: DdimOptions = {}): StepResult {
  return ddimSampleFromOutput(d, d.callModel(model, x, t), x, t, o);
}

/** A model that denoises several tensors (e.g. video and audio latents) in one call, same t. */
export type JointModel = (xs: Tensor[], tOriginal: number[]) => Tensor[];

export interface LoopOptions extends PMeanVarianceOptions {
  /** 'ddpm' (ancestral, default) or 'ddim'. */
  method?: 'ddpm' | 'ddim';
  /** DDIM's η (default 0). */
  eta?: number;
  /** x_T per tensor (drawn from `generator` when absent). */
  noise?: Tensor[];
  /** Noise for a step (loop index, tensor index); drawn from `generator` when absent. */
  stepNoise?: (step: number, index: number) => Tensor;
  generator?: Generator;
  dtype?: DType;
  backend?: Backend;
  /** Called after each step: step counts 1 … total, t is the respaced step just taken. */
  onStep?: (info: { step: number; total: number; t: number; tOriginal: number }) => void;
}

/**
 * Run the reverse process from x_T over every step of `d`, T−1 down to 0 (ADM's p_sample_loop /
 * ddim_sample_loop), for several tensors that share the batch and the timesteps.
 */
export function sampleLoopJoint(d: GaussianDiffusion, model: JointModel, shapes: readonly (readonly number[])[], o: LoopOptions = {}): Tensor[] {
  return noGrad(() => {
    const batch = shapes[0]?.[0];
    if (batch === undefined || shapes.some((s) => s[0] !== batch)) throw new Error('sampleLoop: every shape needs the same batch size first');
    const init = o.noise ?? shapes.map((s) => randn(s, { dtype: o.dtype ?? 'f32', backend: o.backend, generator: o.generator }));
    init.forEach((x, k) => {
      if (x.shape.join() !== shapes[k]!.join()) throw new Error(`sampleLoop: x_T ${k} has shape [${x.shape}], expected [${shapes[k]}]`);
    });
    let xs = init;
    const total = d.numTimesteps;
    for (let i = total - 1, step = 1; i >= 0; i--, step++) {
      const t = new Array<number>(batch).fill(i);
      const next = scope(() => {
        const outs = model(xs, t.map((v) => d.timestepMap[v]!));
        if (outs.length !== xs.length) throw new Error(`sampleLoop: model returned ${outs.length} outputs for ${xs.length} inputs`);
        return xs.map((x, k) => {
          const want = [x.shape[0]!, 2 * x.shape[1]!, ...x.shape.slice(2)].join();
          if (outs[k]!.shape.join() !== want) throw new Error(`sampleLoop: output ${k} has shape [${outs[k]!.shape}], expected [${want}]`);
          const so: DdimOptions = {
            clipDenoised: o.clipDenoised,
            denoisedFn: o.denoisedFn,
            eta: o.eta,
            generator: o.generator,
            noise: o.stepNoise?.(step - 1, k),
          };
          const r = o.method === 'ddim' ? ddimSampleFromOutput(d, outs[k]!, x, t, so) : pSampleFromOutput(d, outs[k]!, x, t, so);
          return r.sample;
        });
      });
      if (xs !== init || !o.noise) xs.forEach((x) => x.dispose()); // never the caller's x_T
      xs = next;
      o.onStep?.({ step, total, t: i, tOriginal: d.timestepMap[i]! });
    }
    return xs;
  });
}

/** DDPM ancestral sampling of one tensor of `shape` (ADM p_sample_loop). */
export function pSampleLoop(d: GaussianDiffusion, model: DiffusionModel, shape: readonly number[], o: Omit<LoopOptions, 'method' | 'noise'> & { noise?: Tensor } = {}): Tensor {
  const { noise, ...rest } = o;
  return sampleLoopJoint(d, (xs, t) => [model(xs[0]!, t)], [shape], { ...rest, ...(noise ? { noise: [noise] } : {}), method: 'ddpm' })[0]!;
}

/** DDIM sampling of one tensor of `shape` (ADM ddim_sample_loop; use a "ddimN" respacing). */
export function ddimSampleLoop(d: GaussianDiffusion, model: DiffusionModel, shape: readonly number[], o: Omit<LoopOptions, 'method' | 'noise'> & { noise?: Tensor } = {}): Tensor {
  const { noise, ...rest } = o;
  return sampleLoopJoint(d, (xs, t) => [model(xs[0]!, t)], [shape], { ...rest, ...(noise ? { noise: [noise] } : {}), method: 'ddim' })[0]!;
}
