/**
 * A training run's folder: `checkpoint.safetensors` (model keys as they are, optimizer state under
 * `opt.m.` / `opt.v.`, EMA under `ema.`, written atomically), `log.jsonl` (one line per step) and
 * `loss.png`. Checked before any long work starts.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from '../data/make-dirs.ts';

export const CKPT = 'checkpoint.safetensors';
export const LOG = 'log.jsonl';
export const LOSS_PNG = 'loss.png';

export class RunDirError extends Error {
  override name = 'RunDirError';
}

/** Make sure `dir` is (or can become) a writable folder. */
export function prepareRunDir(dir: string): string {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new RunDirError(`${dir} is a file, not a folder`);
  try {
    makeDirs(dir);
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new RunDirError(`cannot write to ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return dir;
}

export const ckptPath = (dir: string): string => join(dir, CKPT);
export const logPath = (dir: string): string => join(dir, LOG);
