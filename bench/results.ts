/** Writes a benchmark's figures to bench/results/NAME.json with the date and machine. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

export function writeResult(name: string, data: Record<string, unknown>): string {
  const dir = process.env.OUT ?? join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  // The AVDIT_* settings in force (kernel choices handed over by gpu-run.sh's TUNE=1, and the like).
  const settings = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('AVDIT_')));
  const record = { name, date: new Date().toISOString(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, settings, ...data };
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(`wrote ${file}`);
  return file;
}
