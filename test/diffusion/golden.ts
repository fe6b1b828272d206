// Loads test/fixtures/diffusion_golden.json (made by make_diffusion_golden.py; no Python needed
// here) and compares arrays element by element.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import type { DType } from '../../engine/dtype.ts';
import type { Tensor } from '../../engine/tensor.ts';

interface LossCase {
  t: number[];
  xt: number[];
  mse: number[];
  vb: number[];
  loss: number[];
  pMean: number[];
  pLogVariance: number[];
  predXstart: number[];
}

export interface Golden {
  shape: number[];
  schedule: Record<string, number[]> & { indices: number[] };
  linearBetas100: number[];
  respace: Record<string, { timestepMap: number[]; betas: number[] }>;
  spaceTimesteps300_10_15_20: number[];
  x0: number[];
  noise: number[];
  modelOutput: number[];
  loss: LossCase[];
  stepX: number[];
  stepNoise: number[];
  pSample: { respacing: string; t: number[]; sample: number[]; predXstart: number[] }[];
  ddim: { eta: number; t: number[]; sample: number[]; predXstart: number[] }[];
  loopXT: number[];
  ddimLoop: number[];
  ddpmLoopNoises: number[];
  ddpmLoop: number[];
}

export const golden: Golden = JSON.parse(readFileSync(new URL('../fixtures/diffusion_golden.json', import.meta.url), 'utf8')) as Golden;

/** The fixture's data shape, [2, 3, 4, 4], and the model-output shape [2, 6, 4, 4]. */
export const SHAPE = golden.shape;
export const OUT_SHAPE = [SHAPE[0]!, 2 * SHAPE[1]!, ...SHAPE.slice(2)];

export function cpu(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f64'): Tensor {
  return tensor(Float64Array.from(data), shape, { dtype, backend: cpuBackend });
}

/** Element-wise |actual − expected| ≤ rtol·|expected| + atol; reports the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-9, atol = 1e-12): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const excess = Math.abs(a - e) - (rtol * Math.abs(e) + atol);
    if (!(excess <= worstExcess) || Number.isNaN(a)) {
      worst = i;
      worstExcess = Number.isNaN(a) ? Infinity : excess;
    }
  }
  if (worst >= 0) assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
}

export const values = (t: Tensor): number[] => Array.from(t.dataSync());
