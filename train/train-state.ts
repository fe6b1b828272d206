/**
 * Saving and restoring everything a run needs to continue exactly: model parameters, AdamW's
 * m, v and per-parameter step counts, the EMA, the step, and the seed (the random stream of step
 * s is Philox(seed) from counter s·2³², so no generator state is needed beyond those two).
 */
import type { Tensor } from '../engine/tensor.ts';
import { toBackend } from '../engine/ops.ts';
import { tensor } from '../engine/creation.ts';
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';
import { checkConfig, type AVDiTConfig } from '../model/config.ts';
import type { Module } from '../model/module.ts';
import { readSafetensors, readSafetensorsHeader, writeSafetensors, type RawTensor } from '../engine/io/safetensors.ts';
import type { AdamW } from './adamw.ts';
import type { EMA } from './ema.ts';

export interface RunMeta {
  kind: 'avdit' | 'dit';
  step: number;
  seed: number;
  config: AVDiTConfig;
  /** Training options (lr, batch, …) as given. */
  args: Record<string, unknown>;
}

async function raw(t: Tensor): Promise<RawTensor> {
  return { dtype: t.dtype, shape: [...t.shape], data: await t.toArray() };
}

export async function saveTrainState(path: string, model: Module, opt: AdamW, ema: EMA | null, meta: RunMeta): Promise<void> {
  const out = new Map<string, RawTensor>();
  const named = model.namedParameters();
  for (const [k, p] of named) out.set(k, await raw(p));
  const keyOf = new Map(named.map(([k, p]) => [p, k]));
  const st = opt.stateDict();
  const optSteps: Record<string, number> = {};
  for (let i = 0; i < opt.params.length; i++) {
    const k = keyOf.get(opt.params[i]!)!;
    optSteps[k] = st.steps[i]!;
    if (st.m[i]) out.set(`opt.m.${k}`, await raw(st.m[i]!));
    if (st.v[i]) out.set(`opt.v.${k}`, await raw(st.v[i]!));
  }
  if (ema) for (let i = 0; i < ema.params.length; i++) out.set(`ema.${keyOf.get(ema.params[i]!)!}`, await raw(ema.shadow[i]!));
  writeSafetensors(path, out, {
    format: 'avdit',
    'avdit.kind': meta.kind,
    'avdit.config': JSON.stringify(meta.config),
    'avdit.step': String(meta.step),
    'avdit.seed': String(meta.seed),
    'avdit.args': JSON.stringify(meta.args),
    'avdit.opt': JSON.stringify({ step: st.step, steps: optSteps }),
    'avdit.ema.updates': String(ema?.updates ?? 0),
  });
}

/** A training checkpoint's run metadata (its header only: no tensor data is read). */
export function readRunMeta(path: string): RunMeta {
  return runMetaOf(path, readSafetensorsHeader(path).metadata);
}

function runMetaOf(path: string, m: Record<string, string>): RunMeta {
  if (m['format'] !== 'avdit' || !m['avdit.step'] || !m['avdit.opt']) throw new CheckpointError(path, undefined, 'not an avdit training checkpoint (no step/optimizer metadata)');
  const json = <T>(key: string, fallback?: string): T => {
    try {
      return JSON.parse(m[key] ?? fallback ?? '') as T;
    } catch {
      throw new CheckpointError(path, undefined, `metadata ${key} is not valid JSON`);
    }
  };
  const config = json<AVDiTConfig>('avdit.config');
  try {
    checkConfig(config);
  } catch (e) {
    throw new CheckpointError(path, undefined, `metadata avdit.config: ${(e as Error).message}`);
  }
  return {
    kind: m['avdit.kind'] as 'avdit' | 'dit',
    step: Number(m['avdit.step']),
    seed: Number(m['avdit.seed']),
    config,
    args: json<Record<string, unknown>>('avdit.args', '{}'),
  };
}

/** Restore a run saved by saveTrainState into model/opt/ema (same configuration). Returns its meta. */
export async function loadTrainState(path: string, model: Module, opt: AdamW, ema: EMA | null): Promise<RunMeta> {
  const f = readSafetensors(path);
  const m = f.metadata;
  const meta = runMetaOf(path, m);
  const named = model.namedParameters();
  const get = (k: string) => {
    const r = f.tensors.get(k);
    if (!r) throw new CheckpointError(path, k, 'missing');
    return r;
  };
  const load = async (r: RawTensor, like: Tensor): Promise<Tensor> => {
    if (r.shape.join() !== like.shape.join()) throw new CheckpointError(path, undefined, `shape [${r.shape}] does not fit [${like.shape}]`);
    const cpu = tensor(r.data, r.shape, { dtype: like.dtype });
    const moved = await toBackend(cpu, like.backend);
    cpu.dispose();
    return moved;
  };
  for (const [k, p] of named) {
    const t = await load(get(k), p);
    p.assign(t);
    t.dispose();
  }
  const keyOf = new Map(named.map(([k, p]) => [p, k]));
  const o = JSON.parse(m['avdit.opt']!) as { step: number; steps: Record<string, number> };
  const state = { step: o.step, steps: [] as number[], m: [] as (Tensor | null)[], v: [] as (Tensor | null)[] };
  for (const p of opt.params) {
    const k = keyOf.get(p)!;
    state.steps.push(o.steps[k] ?? 0);
    const mm = f.tensors.get(`opt.m.${k}`), vv = f.tensors.get(`opt.v.${k}`);
    state.m.push(mm ? await load(mm, p) : null);
    state.v.push(vv ? await load(vv, p) : null);
  }
  await opt.loadStateDict(state);
  for (const t of [...state.m, ...state.v]) t?.dispose();
  if (ema) {
    ema.updates = Number(m['avdit.ema.updates'] ?? meta.step);
    for (let i = 0; i < ema.params.length; i++) {
      const k = keyOf.get(ema.params[i]!)!;
      const t = await load(get(`ema.${k}`), ema.params[i]!);
      ema.shadow[i]!.assign(t);
      t.dispose();
    }
  }
  return meta;
}
