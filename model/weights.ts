/**
 * Model weights out of a state file: plain keys, with the EMA's values (`ema.<key>`) in place of
 * the raw ones when asked and present; optimizer state (`opt.*`) is left out.
 */
import type { RawTensor } from '../engine/io/safetensors.ts';

export function modelWeights(tensors: Map<string, RawTensor>, preferEma = true): { weights: Map<string, RawTensor>; usedEma: boolean } {
  const weights = new Map<string, RawTensor>();
  let usedEma = false;
  for (const [k, t] of tensors) {
    if (k.startsWith('opt.') || k.startsWith('ema.')) continue;
    const e = preferEma ? tensors.get(`ema.${k}`) : undefined;
    if (e) usedEma = true;
    weights.set(k, e ?? t);
  }
  return { weights, usedEma };
}
