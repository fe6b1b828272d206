/**
 * A DiT backbone file from a pretraining run: the EMA weights (else the raw ones) of
 * DIR/checkpoint.safetensors, with the config in the metadata, and nothing else (no optimizer
 * state). This is what `avdit train --backbone` and the demo load.
 */
import { readSafetensors, writeSafetensors } from '../engine/io/safetensors.ts';
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';
import { modelWeights } from '../model/weights.ts';

export function exportBackbone(checkpoint: string, out: string, preferEma = true): { usedEma: boolean; tensors: number } {
  const f = readSafetensors(checkpoint);
  if (f.metadata['avdit.kind'] !== 'dit') throw new CheckpointError(checkpoint, undefined, 'not a DiT pretraining checkpoint (avdit.kind is not "dit")');
  const { weights, usedEma } = modelWeights(f.tensors, preferEma);
  const keep = ['format', 'avdit.kind', 'avdit.config', 'avdit.step', 'avdit.seed', 'avdit.args'];
  const meta = Object.fromEntries(keep.filter((k) => f.metadata[k] !== undefined).map((k) => [k, f.metadata[k]!]));
  writeSafetensors(out, weights, { ...meta, 'avdit.weights': usedEma ? 'ema' : 'raw' });
  return { usedEma, tensors: weights.size };
}
