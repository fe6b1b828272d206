// Ctrl-C during `avdit train` saves a checkpoint after the current step and exits 130; --resume
// then continues from it. (On the CPU backend the loop's awaits resolve at once, and the SIGINT
// handler never ran until the loop yielded to the event loop each step.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunMeta } from '../../train/train-state.ts';

const BIN = join(import.meta.dirname, '../../bin/avdit.mjs');
const logLines = (dir: string): number => (existsSync(join(dir, 'log.jsonl')) ? readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').filter(Boolean).length : 0);

test('Ctrl-C saves the run and exits 130; --resume goes on from there', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'avdit-sigint-')), 'run');
  const child = spawn(process.execPath, [BIN, 'train', '--out', dir, '--steps', '100000', '--ckpt-every', '100000', '--batch', '2', '--data-n', '8', '--set', 'depth=1', '--backend', 'cpu'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Wait for a few logged steps (the run is far from a scheduled checkpoint), then interrupt.
  const t0 = Date.now();
  while (logLines(dir) < 3 && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(logLines(dir) >= 3, `the run logged steps (stderr: ${stderr})`);
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupt: saving a checkpoint after this step/);
  const step = readRunMeta(join(dir, 'checkpoint.safetensors')).step;
  assert.ok(step >= 3, `checkpoint at step ${step}`);
  assert.equal(logLines(dir), step, 'the log ends at the saved step');
  const r = spawnSync(process.execPath, [BIN, 'train', '--out', dir, '--steps', String(step + 2), '--resume', '--backend', 'cpu'], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`resuming .* from step ${step}`));
  assert.equal(logLines(dir), step + 2);
});

test('Ctrl-C during sample writes the clips made so far and exits 130', async () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-sigint-sample-'));
  const run = join(root, 'run'), out = join(root, 'samples');
  const t = spawnSync(process.execPath, [BIN, 'train', '--out', run, '--steps', '1', '--batch', '2', '--data-n', '8', '--set', 'depth=1', '--backend', 'cpu'], { encoding: 'utf8', timeout: 120000 });
  assert.equal(t.status, 0, t.stderr);
  const child = spawn(process.execPath, [BIN, 'sample', '--ckpt', join(run, 'checkpoint.safetensors'), '--out', out, '--n', '200', '--batch', '1', '--steps', '100', '--sampler', 'ddim', '--backend', 'cpu'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Interrupt once a few clips are done (the progress bar counts clip-steps: 100 per clip).
  const t0 = Date.now();
  const progressed = () => Math.max(0, ...[...stderr.matchAll(/ (\d+)\/20000 /g)].map((m) => Number(m[1])));
  while (progressed() < 300 && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(progressed() >= 300, `sampling progressed (stderr: ${stderr})`);
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 130, stderr);
  const made = Number(/interrupted: (\d+) of 200 clips made/.exec(stderr)?.[1]);
  assert.ok(made >= 3 && made < 200, `${made} clips (stderr: ${stderr})`);
  const { readSafetensorsHeader } = await import('../../engine/io/safetensors.ts');
  const video = readSafetensorsHeader(join(out, 'samples.safetensors')).entries.find((e) => e.name === 'video')!;
  assert.equal(video.shape[0], made);
  assert.ok(existsSync(join(out, 'index.html')) && existsSync(join(out, `sample_${String(made - 1).padStart(3, '0')}.wav`)));
  assert.ok(!existsSync(join(out, `sample_${String(made).padStart(3, '0')}.wav`)));
});
