// `avdit forward` input checks (subprocesses): --out's folder, a DiT backbone as --ckpt, batch 0,
// t outside the diffusion steps, and --precision.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { saveModel } from '../../model/checkpoint.ts';
import { makeConfig } from '../../model/config.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';

const ROOT = join(import.meta.dirname, '../..');
const avdit = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, AVDIT_BACKEND: 'cpu' } });
const dir = mkdtempSync(join(tmpdir(), 'avdit-forward-checks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = makeConfig('demo');
const ckpt = join(dir, 'model.safetensors');
await saveModel(ckpt, new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, config), config);

/** Inputs for the demo config with batch B and timesteps t. */
function inputs(name: string, B: number, t: number[]): string {
  const f32 = (shape: number[]) => ({ dtype: 'f32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const path = join(dir, name);
  writeSafetensors(path, { x_video: f32([B, 8, 3, 16, 16]), x_audio: f32([B, 1, 32, 16]), t: { dtype: 'f32', shape: [B], data: Float32Array.from(t) } });
  return path;
}
const good = inputs('in.safetensors', 2, [0, 999]);
const forward = (...args: string[]) => avdit('forward', '--backend', 'cpu', ...args);

test('forward: --out in a missing folder or under a file is a usage error before the forward pass', () => {
  const missing = forward('--ckpt', ckpt, '--inputs', good, '--out', join(dir, 'nope', 'out.safetensors'));
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, /^avdit forward: --out .*nope.*: folder .* does not exist\n$/);
  const underFile = forward('--ckpt', ckpt, '--inputs', good, '--out', join(good, 'out.safetensors'));
  assert.equal(underFile.status, 2, underFile.stderr);
  assert.match(underFile.stderr, /^avdit forward: --out .*: .*in\.safetensors is not a folder\n$/);
});

test('forward: a DiT backbone as --ckpt gets the one-line message sample gives', () => {
  const backbone = join(ROOT, 'assets/demo-backbone.safetensors');
  const r = forward('--ckpt', backbone, '--inputs', good, '--out', join(dir, 'o.safetensors'));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^avdit forward: .*demo-backbone\.safetensors is a DiT backbone \(from avdit pretrain\); train AV-DiT on it first: avdit train --backbone .*\n$/);
});

test('forward: batch 0 and t outside [0, 1000) are usage errors naming the file and tensor', () => {
  const empty = forward('--ckpt', ckpt, '--inputs', inputs('b0.safetensors', 0, []), '--out', join(dir, 'o.safetensors'));
  assert.equal(empty.status, 2, empty.stderr);
  assert.match(empty.stderr, /b0\.safetensors: x_video has shape \[0, 8, 3, 16, 16\]: need a batch of at least one clip/);
  for (const [name, t] of [['tnan', NaN], ['tneg', -1], ['tbig', 1000]] as const) {
    const r = forward('--ckpt', ckpt, '--inputs', inputs(`${name}.safetensors`, 2, [5, t]), '--out', join(dir, 'o.safetensors'));
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${name}\\.safetensors: t must hold diffusion steps in \\[0, 1000\\), got ${t}`));
  }
  assert.ok(!existsSync(join(dir, 'o.safetensors')));
});

test('forward: --precision f32|mixed is accepted like the other commands; others are usage errors', () => {
  const r = forward('--ckpt', ckpt, '--inputs', good, '--out', join(dir, 'out.safetensors'), '--precision', 'f32');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /forward: batch 2 .*out_video \[2, 8, 6, 16, 16\]/);
  const bad = forward('--ckpt', ckpt, '--inputs', good, '--out', join(dir, 'out2.safetensors'), '--precision', 'f16');
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--precision must be f32 or mixed, got "f16"/);
});
