/**
 * Create a folder and whichever of its parents are missing, one level at a time.
 *
 * Not `mkdirSync(dir, { recursive: true })`: on Node 20 that spins forever when a parent refuses
 * the new entry with ENOENT although it exists (any path under /proc, for one), so a mistyped
 * `--out` hung the command at 100% CPU instead of failing. Here each level is made once and the
 * first refusal is the error.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  while (!existsSync(d)) {
    missing.push(d);
    const parent = dirname(d);
    if (parent === d) break;
    d = parent;
  }
  if (existsSync(d) && !statSync(d).isDirectory()) throw new Error(`${d} is a file, not a folder`);
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (e) {
      // Made meanwhile by someone else: fine, if it is a folder.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(m).isDirectory()) throw e;
    }
  }
}
