// Environment variables the engine reads: a bad AVDIT_BACKEND is an error naming it; a bad or
// oversized AVDIT_CPU_THREADS is a warning saying what is used instead, printed once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { threadCount } from '../../engine/cpu/threads.ts';
import { backendFromEnv } from '../../engine/registry.ts';
import { withEnv } from '../env.ts';

const ROOT = join(import.meta.dirname, '../..');

test('AVDIT_BACKEND: cpu, webgpu or auto; unset or empty gives the fallback; anything else throws naming it', () => {
  for (const v of ['cpu', 'webgpu', 'auto'] as const) assert.equal(withEnv('AVDIT_BACKEND', v, () => backendFromEnv('cpu')), v);
  assert.equal(withEnv('AVDIT_BACKEND', undefined, () => backendFromEnv('auto')), 'auto');
  assert.equal(withEnv('AVDIT_BACKEND', '', () => backendFromEnv('auto')), 'auto');
  assert.throws(() => withEnv('AVDIT_BACKEND', 'bogus', () => backendFromEnv('auto')), /^Error: AVDIT_BACKEND must be cpu, webgpu or auto, got "bogus"$/);
  assert.throws(() => withEnv('AVDIT_BACKEND', 'CPU', () => backendFromEnv()), /AVDIT_BACKEND/);
});

test('AVDIT_CPU_THREADS: a positive integer up to twice the cores; otherwise the cores or the cap, with a warning', () => {
  const run = (env: string | undefined, cores = 2) => {
    const warnings: string[] = [];
    return { n: threadCount(env, cores, (m) => warnings.push(m)), warnings };
  };
  assert.deepEqual(run(undefined), { n: 2, warnings: [] });
  assert.deepEqual(run(''), { n: 2, warnings: [] });
  assert.deepEqual(run('1'), { n: 1, warnings: [] });
  assert.deepEqual(run('4'), { n: 4, warnings: [] });
  for (const bad of ['0', '-1', 'abc', '1.5']) {
    assert.deepEqual(run(bad), { n: 2, warnings: [`AVDIT_CPU_THREADS=${bad} is not a positive integer; using 2 threads (the core count)`] });
  }
  assert.deepEqual(run('100000'), { n: 4, warnings: ['AVDIT_CPU_THREADS=100000 is more than twice the 2 cores; using 4 threads'] });
  assert.equal(run('5', 0).n, 2); // at least one core
});

test('the CPU thread pool warns once, on the main thread only (workers import the module too)', () => {
  // AVDIT_CPU_THREADS=abc gives the core count; 2 threads start one worker wherever we run. (A
  // script file, not --eval: workers inherit the flags, and --input-type stops them.)
  const script = join(mkdtempSync(join(tmpdir(), 'avdit-threads-env-')), 'pool.mts');
  writeFileSync(script, `
    import { pool } from ${JSON.stringify(join(ROOT, 'engine/cpu/threads.ts'))};
    import { runUntilWorkerTakesPart } from ${JSON.stringify(join(ROOT, 'test/cpu/worker-parts.ts'))};
    const cores = pool.threads;
    pool.setThreads(2);
    const M = 512, K = 64, N = 64;
    const took = await runUntilWorkerTakesPart(new Float32Array(M * K), new Float32Array(N * K), M, K, N, 4);
    await new Promise((r) => setTimeout(r, 300)); // let a worker's stderr reach ours
    console.log(cores, took);`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', env: { ...process.env, AVDIT_CPU_THREADS: 'abc' } });
  rmSync(dirname(script), { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  const warnings = r.stderr.match(/AVDIT_CPU_THREADS=abc is not a positive integer; using \d+ threads/g) ?? [];
  assert.equal(warnings.length, 1, r.stderr);
  const [cores, took] = r.stdout.trim().split(' ').map(Number);
  assert.ok(cores! >= 1 && took! > 0, r.stdout); // the worker ran (so it imported threads.ts)
});
