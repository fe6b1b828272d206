/**
 * Loading a DiT backbone (ours, or the official `DiT-XL-2-256x256.pt`) into an AV-DiT: every DiT
 * key must be there with the model's shape; the AV-DiT additions keep their initial values.
 */
import type { Tensor } from '../engine/tensor.ts';
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';
import { fmt } from '../engine/shape.ts';
import type { Module } from './module.ts';
import type { RawTensor } from '../engine/io/safetensors.ts';
import { tensor } from '../engine/creation.ts';

/** Keys AV-DiT adds to DiT's. */
export const AV_ONLY = /(^audio_|\.audio_lora\.|\.temporal\.|\.fusion_|\.audio_adapter\.)/;

/** Check `raw` against the DiT part of `model`; a list of every problem, or empty. */
export function backboneProblems(model: Module, raw: Map<string, { shape: readonly number[] }>): string[] {
  return fitProblems(model, raw, 'backbone', (k) => !AV_ONLY.test(k));
}

/**
 * Missing, unexpected and mis-shaped keys of `raw` (its side named `label`) against the parameters
 * of `model` that `keep` selects; at most 8 names per kind.
 */
export function fitProblems(model: Module, raw: Map<string, { shape: readonly number[] }>, label = 'checkpoint', keep: (key: string) => boolean = () => true): string[] {
  const own = new Map(model.namedParameters().filter(([k]) => keep(k)));
  const list = (ks: string[]) => `${ks.slice(0, 8).join(', ')}${ks.length > 8 ? ', …' : ''}`;
  const problems: string[] = [];
  const missing = [...own.keys()].filter((k) => !raw.has(k));
  const unexpected = [...raw.keys()].filter((k) => !own.has(k));
  if (missing.length) problems.push(`missing keys (${missing.length}): ${list(missing)}`);
  if (unexpected.length) problems.push(`unexpected keys (${unexpected.length}): ${list(unexpected)}`);
  for (const [k, t] of own) {
    const r = raw.get(k);
    if (r && r.shape.join() !== t.shape.join()) problems.push(`${k}: ${label} ${fmt(r.shape)}, model ${fmt(t.shape)}`);
  }
  return problems;
}

/** A CheckpointError listing backboneProblems, if any (`model` may be a shapes-only one). */
export function checkBackboneFits(model: Module, raw: Map<string, { shape: readonly number[] }>, path: string): void {
  const problems = backboneProblems(model, raw);
  if (problems.length) throw new CheckpointError(path, undefined, `does not fit the model as a DiT backbone:\n  ${problems.join('\n  ')}`);
}

/** Copy the backbone's values into `model` (frozen flags unchanged). */
export function loadBackbone(model: Module, raw: Map<string, RawTensor>, path: string): void {
  checkBackboneFits(model, raw, path);
  for (const [k, p] of model.namedParameters()) {
    const r = raw.get(k);
    if (!r) continue;
    const t: Tensor = tensor(r.data, r.shape, { backend: p.backend, dtype: p.dtype });
    p.assign(t);
    t.dispose();
  }
}
