/**
 * Per-sample schedule values as tensors: one t per batch element, the value shaped
 * [B, 1, …, 1] so that it broadcasts over the data (ADM's _extract_into_tensor). Values are
 * taken from the float64 arrays and stored in the data's dtype (ADM casts to float32).
 */
import { tensor } from '../engine/creation.ts';
import type { Tensor } from '../engine/tensor.ts';
import { mean } from '../autograd/index.ts';

export type Timesteps = readonly number[] | Int32Array;

/** Check t against the batch and the schedule length; returns a plain number[]. */
export function checkTimesteps(op: string, t: Timesteps, batch: number, numTimesteps: number): number[] {
  const ts = Array.from(t);
  if (ts.length !== batch) throw new Error(`${op}: ${ts.length} timesteps for a batch of ${batch}`);
  for (const v of ts) {
    if (!Number.isInteger(v) || v < 0 || v >= numTimesteps) throw new Error(`${op}: timestep ${v} is not an integer in [0, ${numTimesteps})`);
  }
  return ts;
}

/** [B, 1, …, 1] (rank of `like`) holding values[b], in like's dtype and backend. */
export function perSample(values: ArrayLike<number>, like: Tensor): Tensor {
  const shape = [like.shape[0]!, ...like.shape.slice(1).map(() => 1)];
  return tensor(Array.from(values), shape, { dtype: like.dtype, backend: like.backend });
}

/** arr[t_b] per sample, broadcastable to `like`. */
export function extract(arr: Float64Array, t: readonly number[], like: Tensor): Tensor {
  return perSample(t.map((i) => arr[i]!), like);
}

/** 1 where t_b ≠ 0, else 0 ("no noise at the last step"), broadcastable to `like`. */
export function nonzeroMask(t: readonly number[], like: Tensor): Tensor {
  return perSample(t.map((i) => (i !== 0 ? 1 : 0)), like);
}

/** Mean over every axis but the batch axis: [B, …] → [B]. */
export function meanFlat(x: Tensor): Tensor {
  if (x.rank < 2) throw new Error(`meanFlat: expected [B, …] with rank ≥ 2, got rank ${x.rank}`);
  return mean(x, x.shape.slice(1).map((_, i) => i + 1));
}
