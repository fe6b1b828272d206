/**
 * Activation checkpointing flags of `avdit train` and `avdit pretrain`: `--checkpoint` (every
 * block) or `--checkpoint-blocks N|auto` (the first N blocks; `auto`: as few as let a step fit the
 * backend's memory, cli/memory-fits.ts), resolved to the model's Checkpointing.
 */
import type { Backend } from '../engine/backend.ts';
import type { AVDiTOptions } from '../model/avdit.ts';
import type { Checkpointing } from '../model/checkpointing.ts';
import type { AVDiTConfig } from '../model/config.ts';
import { UsageError, type Flags } from './args.ts';
import { checkpointBlocksThatFit } from './memory-fits.ts';

export const CHECKPOINT_FLAGS = { checkpoint: { type: 'boolean' }, 'checkpoint-blocks': { type: 'string' } } as const;

export const CHECKPOINT_HELP = `  --checkpoint        activation checkpointing per block (recompute in the backward pass: less
                      memory, about a third more time)
  --checkpoint-blocks N|auto
                      checkpoint only the first N blocks and keep the others' activations (more
                      memory, less recomputation); auto: as few as let a step fit in memory`;

/** The blocks to checkpoint (false: none), from the flags; `auto` computes it for this batch and backend. */
export async function checkpointingFromFlags(
  flags: Flags, backend: Backend, kind: 'avdit' | 'dit', c: AVDiTConfig, batch: number, opts: AVDiTOptions & { minSnrGamma?: number } = {},
): Promise<Checkpointing> {
  const blocks = flags['checkpoint-blocks'] as string | undefined;
  if (blocks === undefined) return flags.checkpoint === true;
  if (flags.checkpoint === true) throw new UsageError(`--checkpoint and --checkpoint-blocks ${blocks}: give one (--checkpoint is every block)`);
  if (blocks === 'auto') {
    const n = await checkpointBlocksThatFit(backend, kind, c, batch, opts);
    console.error(`--checkpoint-blocks auto: ${n} of ${c.depth} blocks checkpointed at batch ${batch}`);
    return n;
  }
  const n = Number(blocks);
  if (!/^\d+$/.test(blocks) || n > c.depth) throw new UsageError(`--checkpoint-blocks must be auto or a whole number from 0 to the model's depth ${c.depth}, got "${blocks}"`);
  return n;
}
