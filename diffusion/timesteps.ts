/** Training timesteps: t ~ U{0, …, T−1} per sample (DiT's torch.randint; ADM's UniformSampler). */
import { rand } from '../engine/creation.ts';
import { cpuBackend } from '../engine/cpu/backend.ts';
import type { Generator } from '../engine/rng.ts';

/**
 * One timestep per sample, uniform over 0 … numTimesteps − 1, from `generator` (the default
 * stream if absent).
 */
export function sampleTimesteps(batch: number, numTimesteps: number, generator?: Generator): number[] {
  // Drawn on the CPU (the values are needed on the host); u < 1 so floor(u·T) ≤ T − 1.
  const u = rand([batch], { dtype: 'f64', backend: cpuBackend, generator }).dataSync();
  return Array.from(u, (v) => Math.min(numTimesteps - 1, Math.floor(v * numTimesteps)));
}
