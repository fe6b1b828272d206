/**
 * `--resume`: a run's checkpoint remembers the model config and the training options it was
 * started with (train/train-state.ts RunMeta), so `avdit train --resume DIR` (the same as
 * `--out DIR --resume`) alone continues the run as it was. Options left off the command line take
 * the run's values; given ones win, with a notice for each that differs from the run's (a new --lr
 * is a choice; a new --steps, the usual one, goes unmentioned). Another --seed (it would not
 * continue the same run), an EMA gained or lost, or a --preset / --set that gives a different model
 * are usage errors.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AVDiTConfig } from '../model/config.ts';
import { ckptPath } from '../train/run-dir.ts';
import { readRunMeta } from '../train/train-state.ts';
import { UsageError, type Flags } from './args.ts';
import { configFromFlags } from './model-flags.ts';

/** Flag name → the key of RunMeta.args its value is stored under. */
const STORED: Record<string, string> = {
  'data-n': 'dataN',
  'data-seed': 'dataSeed',
  steps: 'steps',
  batch: 'batch',
  lr: 'lr',
  'weight-decay': 'weightDecay',
  betas: 'betas',
  'grad-clip': 'gradClip',
  ema: 'ema',
  seed: 'seed',
  'ckpt-every': 'ckptEvery',
  conditional: 'conditional',
  fusion: 'fusion',
  'min-snr': 'minSnrGamma',
};

/**
 * `--resume DIR` (or `--resume=DIR`): takes the folder out of `argv` (parseArgs knows --resume as a
 * boolean, for `--out DIR --resume`). The word after a bare --resume is its folder unless it starts
 * with "-" (another flag). Give the result's `dir` to resumeDirFlag after parsing.
 */
export function splitResumeDir(argv: readonly string[]): { argv: string[]; dir: string | undefined } {
  const out: string[] = [];
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    let given: string | undefined;
    if (a.startsWith('--resume=')) given = a.slice('--resume='.length);
    else if (a === '--resume' && i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) given = argv[++i]!;
    if (given !== undefined) {
      if (given === '') throw new UsageError('--resume= needs a folder (or write --resume alone, with --out DIR)');
      if (dir !== undefined && resolve(dir) !== resolve(given)) throw new UsageError(`--resume ${dir} and --resume ${given}: two different run folders`);
      dir = given;
    }
    out.push(given !== undefined ? '--resume' : a);
  }
  return { argv: out, dir };
}

/** Apply `--resume DIR` (from splitResumeDir) to parsed flags: --out DIR --resume; another --out is a usage error. */
export function resumeDirFlag(flags: Flags, dir: string | undefined): void {
  if (dir === undefined) return;
  const out = flags.out as string | undefined;
  if (out !== undefined && resolve(out) !== resolve(dir)) throw new UsageError(`--resume ${dir} and --out ${out} name different run folders (give one: --resume DIR alone continues the run in DIR)`);
  flags.out = out ?? dir;
  flags.resume = true;
}

/** The --data value a stored data spec came from. */
function dataFlag(spec: unknown): string | undefined {
  const s = spec as { kind?: string; dir?: string } | undefined;
  return s?.kind === 'synthetic' ? 'synthetic' : s?.kind === 'shards' ? s.dir : undefined;
}

/**
 * With --resume: fill `flags` (in place) from the run in --out and return the run's model config;
 * without, null (and refuse to start over a run already in --out unless --overwrite). `kind`: the command's run kind (an `avdit pretrain` run cannot be resumed by `avdit train`).
 */
export function resumeFlags(flags: Flags, kind: 'avdit' | 'dit', say: (line: string) => void = (l) => console.error(l)): AVDiTConfig | null {
  const out = flags.out as string | undefined;
  if (!out) throw new UsageError('--out DIR (or --resume DIR) is required');
  const path = ckptPath(out);
  if (flags.resume !== true) {
    // A new run would replace the checkpoint and the log of the one in --out.
    if (existsSync(path) && flags.overwrite !== true) {
      throw new UsageError(`--out ${out} already holds a run (step ${readRunMeta(path).step}): continue it with --resume, or start over with --overwrite`);
    }
    return null;
  }
  if (!existsSync(path)) throw new UsageError(`--resume: no ${path} (start the run without --resume)`);
  const meta = readRunMeta(path);
  const command = (k: string) => (k === 'dit' ? 'avdit pretrain' : 'avdit train');
  if (meta.kind !== kind) throw new UsageError(`--resume: ${path} is a run of ${command(meta.kind)}, not of ${command(kind)}`);

  const stored: Record<string, unknown> = { ...meta.args, data: dataFlag(meta.args.data) };
  const differs: string[] = [];
  for (const [flag, key] of [...Object.entries(STORED), ['data', 'data']] as [string, string][]) {
    const was = stored[key];
    if (was === undefined || was === null) continue;
    const given = flag === 'fusion' && flags['no-fusion'] === true ? 'none' : flags[flag];
    if (given === undefined) flags[flag] = typeof was === 'boolean' ? was : String(was);
    else if (flag !== 'steps' && String(given) !== String(was)) differs.push(`--${flag} ${String(given)} (the run had ${String(was)})`);
  }
  // Another seed would not continue this run (each step's random stream derives from it).
  if (stored.seed !== undefined && String(flags.seed) !== String(stored.seed)) {
    throw new UsageError(`--resume: the run used --seed ${String(stored.seed)}; another seed would not continue it (leave --seed out)`);
  }
  // The EMA's tensors exist or not: a run cannot gain or lose them on resuming (another decay is fine).
  const hadEma = Number(stored.ema) > 0, wantsEma = Number(flags.ema) > 0;
  if (stored.ema !== undefined && hadEma !== wantsEma) {
    throw new UsageError(`--resume: the run has ${hadEma ? `an EMA (decay ${String(stored.ema)}); --ema 0 would drop it` : 'no EMA; --ema needs one from its start'} (start a new run to change that)`);
  }
  if (differs.length) say(`resuming ${out} with ${differs.join(', ')}`);

  if (flags.preset === undefined && flags.set === undefined) return meta.config;
  const asked = configFromFlags(flags, 'demo', meta.config);
  const fields = Object.keys({ ...meta.config, ...asked }) as (keyof AVDiTConfig)[];
  const wrong = fields.filter((f) => meta.config[f] !== asked[f]);
  if (wrong.length) {
    throw new UsageError(`--resume: --preset/--set give another model than the run's (${wrong.map((f) => `${f} ${String(asked[f])}, the run ${String(meta.config[f])}`).join('; ')}); leave them out to resume`);
  }
  return meta.config;
}
