// Shared by the checkpoint tests: fixture paths, expected values, temp folders, error matchers.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { CheckpointError } from '../../engine/io/checkpoint-errors.ts';
import type { RawTensor } from '../../engine/io/safetensors.ts';

export const FIXTURES = new URL('../fixtures/checkpoints/', import.meta.url).pathname;
export const fixture = (name: string): string => join(FIXTURES, name);

export interface Expected {
  dtype: string;
  shape: number[];
  values: number[];
}
/** expected.json: per fixture, per tensor, the wire dtype, shape and values PyTorch saw. */
export const EXPECTED = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Record<string, Record<string, Expected>>;

/** Assert `got` holds exactly the expected tensors (order, shapes, values; f16/bf16/f32 compared exactly). */
export function assertMatches(got: Map<string, RawTensor>, want: Record<string, Expected>): void {
  assert.deepEqual([...got.keys()].sort(), Object.keys(want).sort());
  for (const [name, e] of Object.entries(want)) {
    const t = got.get(name)!;
    const engine = e.dtype === 'F64' ? 'f64' : ['F32', 'F16', 'BF16'].includes(e.dtype) ? 'f32' : 'i32';
    assert.equal(t.dtype, engine, name);
    assert.deepEqual(t.shape, e.shape, name);
    assert.deepEqual(Array.from(t.data), e.values, name);
  }
}

/** A fresh temp folder, removed by the returned function. */
export function tempDir(): [string, () => void] {
  const d = mkdtempSync(join(tmpdir(), 'avdit-ckpt-'));
  return [d, () => rmSync(d, { recursive: true, force: true })];
}

/** Matcher for assert.throws: a CheckpointError whose message matches every pattern. */
/** Run `fn` in a fresh temp folder, removed afterwards whatever happens. */
export function inTempDir(fn: (dir: string) => void): void {
  const [dir, done] = tempDir();
  try {
    fn(dir);
  } finally {
    done();
  }
}

export const ckptError = (...patterns: RegExp[]) => (e: unknown): boolean => {
  assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
  for (const p of patterns) assert.match(e.message, p);
  return true;
};
