/**
 * The ADM / DiT Gaussian diffusion. `createDiffusion(respacing)` mirrors DiT's
 * create_diffusion: linear schedule over 1000 steps, ε prediction, learned-range variance,
 * loss MSE + VLB, respaced to `respacing` ("" = all steps, "250", "ddim50", "10,15,20").
 */
import { GaussianDiffusion, type LossType } from './gaussian.ts';
import { respace, spaceTimesteps } from './respace.ts';
import { linearBetas, makeSchedule } from './schedule.ts';

export * from './schedule.ts';
export * from './respace.ts';
export * from './extract.ts';
export * from './likelihood.ts';
export * from './gaussian.ts';
export * from './samplers.ts';
export * from './guidance.ts';
export * from './timesteps.ts';

export interface CreateDiffusionOptions {
  /** Steps of the base schedule (default 1000; betas scaled by 1000/steps as ADM). */
  steps?: number;
  lossType?: LossType;
}

/**
 * DiT's create_diffusion: linear betas over `steps` (default 1000), respaced by `respacing` ('' =
 * none, '250', 'ddim50', or section counts).
 */
export function createDiffusion(respacing: string | readonly number[] = '', o: CreateDiffusionOptions = {}): GaussianDiffusion {
  const base = makeSchedule(linearBetas(o.steps ?? 1000));
  const { betas, timestepMap } = respace(base.alphasCumprod, spaceTimesteps(base.numTimesteps, respacing));
  return new GaussianDiffusion(betas, { timestepMap, lossType: o.lossType ?? 'mse' });
}
