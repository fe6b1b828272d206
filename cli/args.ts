/** Small helpers for reading command-line flags with clear errors. */
import { parseArgs } from 'node:util';
import { useBackend, backendFromEnv, type BackendName } from '../engine/registry.ts';
import type { Backend } from '../engine/backend.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type Flags = ReturnType<typeof parseArgs>['values'];

export function parse(argv: string[], options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>): Flags {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function intFlag(flags: Flags, name: string, fallback: number, min = 1): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${String(v)}"`);
  return n;
}

/** Open the backend named by --backend (or AVDIT_BACKEND) and say which was taken, on stderr. */
export async function backendFlag(flags: Flags, fallback: BackendName = 'auto'): Promise<Backend> {
  const name = (flags.backend as string | undefined) ?? backendFromEnv(fallback);
  if (!['cpu', 'webgpu', 'auto'].includes(name)) throw new UsageError(`--backend must be cpu, webgpu or auto, got "${name}"`);
  const backend = await useBackend(name as BackendName, (m) => process.stderr.write(m + '\n'));
  const precision = (flags.precision as string | undefined) ?? process.env.AVDIT_PRECISION ?? 'f32';
  if (precision !== 'f32' && precision !== 'mixed') throw new UsageError(`--precision must be f32 or mixed, got "${precision}"`);
  if (precision !== backend.precision) {
    backend.setPrecision(precision);
    process.stderr.write(`precision: ${precision} (f16 matmul and attention operands, f32 accumulation)\n`);
  }
  return backend;
}

/** --precision f32|mixed (also AVDIT_PRECISION), read by backendFlag. */
export const PRECISION_FLAG = { precision: { type: 'string' } } as const;
