/** Small helpers for reading command-line flags with clear errors. */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend, backendFromEnv, type BackendName } from '../engine/registry.ts';
import type { Backend } from '../engine/backend.ts';
import { prepareRunDir, RunDirError } from '../train/run-dir.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type Flags = ReturnType<typeof parseArgs>['values'];

export function parse(argv: string[], options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>): Flags {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false }).values;
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'--([^'=]+)'/.exec(err.message)?.[1];
    const near = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag ? nearest(flag, Object.keys(options)) : [];
    if (near.length) throw new UsageError(`unknown option --${flag} (did you mean ${near.map((n) => `--${n}`).join(' or ')}?)`);
    // `--steps -1`: parseArgs takes "-1" for an option and says so in three lines.
    const value = flag ? argv[argv.indexOf(`--${flag}`) + 1] : undefined;
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && value?.startsWith('-')) throw new UsageError(`--${flag} ${value}: a value starting with "-" must be written --${flag}=${value}`);
    throw new UsageError(err.message);
  }
}

/** The candidates within two edits of `word` (for "did you mean"), closest first. */
export function nearest(word: string, candidates: readonly string[]): string[] {
  return candidates
    .map((c) => [c, editDistance(c, word)] as const)
    .filter(([, d]) => d <= 2)
    .sort((a, b) => a[1] - b[1])
    .map(([c]) => c);
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length]!;
}

export function intFlag(flags: Flags, name: string, fallback: number, min = 1): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = String(v).trim() === '' ? NaN : Number(v); // Number('') is 0
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${String(v)}"`);
  // Past 2^53 neighbouring integers collide as doubles (--seed 1e300 ran as --seed 0).
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} must be at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1), got "${String(v)}"`);
  return n;
}

/**
 * A decimal flag: a finite number passing `ok` (fallback if absent), else a usage error naming the
 * flag and `want` (what `ok` asks for).
 */
export function numFlag(flags: Flags, name: string, fallback: number, ok: (v: number) => boolean = () => true, want = 'a finite number'): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const x = String(v).trim() === '' ? NaN : Number(v); // Number('') is 0
  if (!Number.isFinite(x) || !ok(x)) throw new UsageError(`--${name} must be ${want}, got "${String(v)}"`);
  return x;
}

/** Open the backend named by --backend (or AVDIT_BACKEND) and say which was taken, on stderr. */
export async function backendFlag(flags: Flags, fallback: BackendName = 'auto'): Promise<Backend> {
  let name = flags.backend as string | undefined;
  if (name === undefined) {
    try {
      name = backendFromEnv(fallback);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (!['cpu', 'webgpu', 'auto'].includes(name)) throw new UsageError(`--backend must be cpu, webgpu or auto, got "${name}"`);
  // The precision is checked before the backend opens; which name it came by is named in the error.
  const given = flags.precision as string | undefined, env = process.env.AVDIT_PRECISION;
  const source = given !== undefined ? '--precision' : env ? 'AVDIT_PRECISION' : null;
  const precision = given ?? (env || 'f32');
  if (precision !== 'f32' && precision !== 'mixed') throw new UsageError(`${source ?? '--precision'} must be f32 or mixed, got "${precision}"`);
  const backend = await useBackend(name as BackendName, (m) => process.stderr.write(m + '\n'));
  if (precision !== backend.precision) {
    try {
      backend.setPrecision(precision);
    } catch (e) {
      throw new UsageError(`${source}=${precision}: ${(e as Error).message}`.replace('--precision=', '--precision '));
    }
    process.stderr.write(`precision: ${precision} (f16 matmul and attention operands, f32 accumulation)\n`);
  }
  return backend;
}

/** --precision f32|mixed (also AVDIT_PRECISION), read by backendFlag. */
export const PRECISION_FLAG = { precision: { type: 'string' } } as const;

/** The folder named by flag `--<flag>`, made if missing and checked writable: a usage error (exit 2) naming the flag if not. */
export function outDirFlag(flag: string, dir: string): string {
  try {
    return prepareRunDir(dir);
  } catch (e) {
    if (e instanceof RunDirError) throw new UsageError(`--${flag} ${e.message}`);
    throw e;
  }
}

/**
 * Check, making nothing, that `--<flag> DIR` could be made a writable folder: DIR is a writable
 * folder, or missing below one (its nearest existing parent). A usage error naming the flag if not,
 * so a bad --out is refused before any data is made or model built; outDirFlag makes it later.
 * (As root, access() allows what mkdir may still refuse, e.g. under /proc: outDirFlag reports that.)
 * `access` is fs.accessSync (tests pass one that refuses, since root may write anywhere).
 */
export function checkOutDirFlag(flag: string, dir: string, access: (path: string, mode: number) => void = accessSync): void {
  const full = resolve(dir);
  let d = full;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  let isDir: boolean;
  try {
    isDir = statSync(d).isDirectory();
  } catch (e) {
    throw new UsageError(`--${flag} cannot write to ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!isDir) throw new UsageError(d === full ? `--${flag} ${dir} is a file, not a folder` : `--${flag} cannot make ${dir}: ${d} is a file, not a folder`);
  try {
    access(d, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new UsageError(d === full ? `--${flag} cannot write to ${dir} (${code})` : `--${flag} cannot make ${dir}: ${d} is not writable (${code})`);
  }
}

export { INTERRUPTED } from '../train/interrupt.ts';
