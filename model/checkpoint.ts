/**
 * Model checkpoints on disk: our safetensors (the config in its metadata) or a PyTorch `.pt`
 * state dict (read by the restricted unpickler), told apart by their first bytes.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Backend } from '../engine/backend.ts';
import { tensor } from '../engine/creation.ts';
import type { Tensor } from '../engine/tensor.ts';
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';
import { checkConfig, type AVDiTConfig } from './config.ts';
import type { Module } from './module.ts';
import { readPt } from './pt-reader.ts';
import { readSafetensors, writeSafetensors, type RawTensor } from '../engine/io/safetensors.ts';
import { looksLikeZip } from './zip-reader.ts';

export interface StateFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
  format: 'safetensors' | 'pt';
}

export async function readStateFile(path: string): Promise<StateFile> {
  // Only the first bytes are read here: the readers read by position, so files over 2 GiB (DiT-XL) work.
  const head = new Uint8Array(4);
  try {
    const fd = openSync(path, 'r');
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
  } catch (e) {
    throw new CheckpointError(path, undefined, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (looksLikeZip(head)) return { tensors: (await readPt(path)).tensors, metadata: {}, format: 'pt' };
  const f = readSafetensors(path);
  return { tensors: f.tensors, metadata: f.metadata, format: 'safetensors' };
}

/** The model config our checkpoints keep in metadata `avdit.config`, if any. */
export function configFromMetadata(meta: Record<string, string>, path: string): AVDiTConfig | null {
  const raw = meta['avdit.config'];
  if (!raw) return null;
  let c: AVDiTConfig;
  try {
    c = JSON.parse(raw) as AVDiTConfig;
  } catch {
    throw new CheckpointError(path, undefined, "metadata avdit.config is not valid JSON");
  }
  try {
    checkConfig(c);
  } catch (e) {
    throw new CheckpointError(path, undefined, `metadata avdit.config: ${(e as Error).message}`);
  }
  return c;
}

/** Raw tensors → engine tensors (f32 for floats, i32 for integers) on a backend. */
export function toEngine(raw: Map<string, RawTensor>, backend: Backend): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, r] of raw) {
    const dtype = r.dtype === 'i32' ? 'i32' : 'f32';
    out.set(k, tensor(r.data, r.shape, { dtype, backend }).keep());
  }
  return out;
}

/** Write a module's state dict (plus extra tensors) atomically, with the config in the metadata. */
export async function saveModel(path: string, model: Module, config: AVDiTConfig, extra: Map<string, Tensor> = new Map(), metadata: Record<string, string> = {}): Promise<void> {
  const out = new Map<string, RawTensor>();
  for (const [k, t] of [...model.stateDict(), ...extra]) out.set(k, { dtype: t.dtype, shape: [...t.shape], data: await t.toArray() });
  writeSafetensors(path, out, { ...metadata, 'avdit.config': JSON.stringify(config), format: 'avdit' });
}
