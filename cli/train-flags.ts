/** Flags shared by `avdit pretrain` and `avdit train`, read and checked before any work starts. */
import { existsSync } from 'node:fs';
import { UsageError, intFlag, numFlag, type Flags } from './args.ts';

export const TRAIN_FLAGS = {
  data: { type: 'string' },
  'data-n': { type: 'string' },
  'data-seed': { type: 'string' },
  out: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  betas: { type: 'string' },
  'grad-clip': { type: 'string' },
  ema: { type: 'string' },
  seed: { type: 'string' },
  'ckpt-every': { type: 'string' },
  resume: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  'time-budget': { type: 'string' },
  backend: { type: 'string' },
  precision: { type: 'string' },
} as const;

export const TRAIN_HELP = `  --data synthetic|DIR   the synthetic audio-visual set (default) or a folder of latent shards
  --data-n N             synthetic clips (default 256); --data-seed S (default 0)
  --out DIR              run folder: checkpoint.safetensors, log.jsonl, loss.png (required)
  --steps N              train until step N (default 200); --batch B (default 8)
  --lr X                 AdamW learning rate (default 5e-4); --weight-decay X (default 0)
  --betas B1,B2          AdamW's moment decays (default 0.9,0.999)
  --grad-clip X          clip the global gradient norm at X (default: off)
  --ema D                EMA decay (default 0.999; 0 = no EMA)
  --seed S               run seed (default 0); --ckpt-every N (default 50)
  --resume [DIR]         continue the run in DIR (--resume DIR is --out DIR --resume) from its
                         checkpoint, with its model and options (flags given here override them)
  --overwrite            start a new run in an --out that holds one (its checkpoint and log are replaced)
  --time-budget S        stop (with a checkpoint) after S seconds of training
  --backend cpu|webgpu|auto
  --precision f32|mixed  mixed: f16 matmul and attention operands, f32 accumulation (tensor cores on NVIDIA)`;

export interface TrainArgs {
  data: string;
  dataN: number;
  dataSeed: number;
  out: string;
  steps: number;
  batch: number;
  lr: number;
  weightDecay: number;
  /** AdamW's β₁, β₂. */
  betas: [number, number];
  gradClip: number | undefined;
  ema: number;
  seed: number;
  ckptEvery: number;
  resume: boolean;
  /** Seconds, or undefined. */
  timeBudget: number | undefined;
}

/**
 * --data-seed: the synthetic set seeds its clips with 32-bit arithmetic (data/synthetic.ts), so
 * seeds 2³² apart would give the same clips; eval's real sets take dataSeed + 1000 and + 2000.
 */
function dataSeedFlag(flags: Flags): number {
  const s = intFlag(flags, 'data-seed', 0, 0);
  if (s >= 2 ** 32 - 2000) throw new UsageError(`--data-seed must be below ${2 ** 32 - 2000} (the synthetic clips are seeded with 32 bits), got ${s}`);
  return s;
}

/** --betas B1,B2: two numbers in [0, 1). */
function betasFlag(flags: Flags): [number, number] {
  const raw = flags.betas as string | undefined;
  if (raw === undefined) return [0.9, 0.999];
  const b = raw.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (b.length !== 2 || !b.every((v) => v >= 0 && v < 1)) throw new UsageError(`--betas must be two numbers in [0, 1) as B1,B2 (e.g. 0.9,0.999), got "${raw}"`);
  return [b[0]!, b[1]!];
}

export function trainArgs(flags: Flags): TrainArgs {
  const out = flags.out as string | undefined;
  if (!out) throw new UsageError('--out DIR (or --resume DIR) is required');
  const data = (flags.data as string | undefined) ?? 'synthetic';
  if (data !== 'synthetic' && !existsSync(data)) throw new UsageError(`--data ${data}: no such folder`);
  return {
    data,
    dataN: intFlag(flags, 'data-n', 256),
    dataSeed: dataSeedFlag(flags),
    out,
    steps: intFlag(flags, 'steps', 200),
    batch: intFlag(flags, 'batch', 8),
    lr: numFlag(flags, 'lr', 5e-4, (v) => v > 0, 'a number > 0'),
    weightDecay: numFlag(flags, 'weight-decay', 0, (v) => v >= 0, 'a number ≥ 0'),
    betas: betasFlag(flags),
    gradClip: flags['grad-clip'] === undefined ? undefined : numFlag(flags, 'grad-clip', 1, (v) => v > 0, 'a number > 0'),
    ema: numFlag(flags, 'ema', 0.999, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    seed: intFlag(flags, 'seed', 0, 0),
    ckptEvery: intFlag(flags, 'ckpt-every', 50),
    resume: flags.resume === true,
    timeBudget: flags['time-budget'] === undefined ? undefined : numFlag(flags, 'time-budget', 0, (v) => v > 0, 'a number of seconds > 0'),
  };
}
