// `avdit forward` and `avdit info` as a user runs them (subprocesses), on the tiny golden model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { saveModel } from '../../model/checkpoint.ts';
import { makeConfig } from '../../model/config.ts';
import { readSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import { get, relErr } from '../model/golden-check.ts';
import { fillModule } from '../model/hashfill.ts';

const ROOT = join(import.meta.dirname, '../..');
const avdit = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, AVDIT_BACKEND: 'cpu' } });

test('avdit forward reproduces the PyTorch golden from a saved checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-fwd-'));
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(model);
  await saveModel(join(dir, 'model.safetensors'), model, makeConfig('tiny'));
  const xv = get('x_video'), xa = get('x_audio');
  writeSafetensors(join(dir, 'in.safetensors'), {
    x_video: xv, x_audio: xa, t: get('t'), y: { dtype: 'i32', shape: [2], data: Int32Array.from(get('y').data) },
  }, undefined, { i32As: 'I64' });
  const r = avdit('forward', '--ckpt', join(dir, 'model.safetensors'), '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'out.safetensors'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /out_video \[2, 4, 8, 8, 8\], out_audio \[2, 16, 8, 8\]/);
  const out = readSafetensors(join(dir, 'out.safetensors')).tensors;
  assert.ok(relErr(out.get('out_video')!.data, get('out_video').data) < 1e-4);
  assert.ok(relErr(out.get('out_audio')!.data, get('out_audio').data) < 1e-4);

  // wrong input shapes: a clear error before any work
  writeSafetensors(join(dir, 'bad.safetensors'), { x_video: { dtype: 'f32', shape: [1, 2], data: new Float32Array(2) }, x_audio: xa, t: get('t') });
  const bad = avdit('forward', '--ckpt', join(dir, 'model.safetensors'), '--inputs', join(dir, 'bad.safetensors'), '--out', join(dir, 'o2.safetensors'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /x_video has shape \[1, 2\], the model wants \[1, 4, 4, 8, 8\]/);
  // a corrupt checkpoint: a clear error naming the file
  writeFileSync(join(dir, 'corrupt.safetensors'), 'not a checkpoint');
  const c = avdit('forward', '--ckpt', join(dir, 'corrupt.safetensors'), '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'o3.safetensors'));
  assert.equal(c.status, 1);
  assert.match(c.stderr, /CheckpointError: .*corrupt\.safetensors/);
});

test('avdit forward runs a PyTorch .pt state dict (torch.save) and matches PyTorch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-pt-'));
  const fx = join(import.meta.dirname, '../fixtures/model');
  writeSafetensors(join(dir, 'in.safetensors'), {
    x_video: get('x_video'), x_audio: get('x_audio'), t: get('t'), y: { dtype: 'i32', shape: [2], data: Int32Array.from(get('y').data) },
  }, undefined, { i32As: 'I64' });
  const r = avdit('forward', '--ckpt', join(fx, 'avdit_tiny_depth1.pt'), '--preset', 'tiny', '--set', 'depth=1', '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'out.safetensors'));
  assert.equal(r.status, 0, r.stderr);
  const out = readSafetensors(join(dir, 'out.safetensors')).tensors;
  const want = readSafetensors(join(fx, 'avdit_tiny_depth1_out.safetensors')).tensors;
  assert.ok(relErr(out.get('out_video')!.data, want.get('out_video')!.data) < 1e-4);
  assert.ok(relErr(out.get('out_audio')!.data, want.get('out_audio')!.data) < 1e-4);
  // the same file with the wrong config: the mis-shaped / missing keys are listed
  const bad = avdit('forward', '--ckpt', join(fx, 'avdit_tiny_depth1.pt'), '--preset', 'tiny', '--inputs', join(dir, 'in.safetensors'), '--out', join(dir, 'o.safetensors'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /missing keys \(\d+\):\n\s+blocks\.1\./);
});

test('avdit info prints XL counts (158.7M trainable) without allocating the model', () => {
  const r = avdit('info', '--preset', 'XL', '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { total: number; trainable: number; groups: Record<string, number> };
  assert.equal(j.trainable, 158_712_288);
  assert.equal(j.total, 833_536_608);
  assert.equal(Object.values(j.groups).reduce((a, b) => a + b, 0), j.trainable);
  const u = avdit('info', '--preset', 'nope');
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown preset "nope"/);
});

test('--set applies on top of a file\'s stored config (it was ignored unless --preset was given)', () => {
  const backbone = join(ROOT, 'assets/demo-backbone.safetensors');
  const r = avdit('info', '--backbone', backbone, '--set', 'frames=4');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /D=64 depth=4 heads=4 patch=4 frames=4 /, 'the backbone\'s config with frames 4');
  assert.match(r.stdout, /backbone .*demo-backbone\.safetensors: fits/);
  const deeper = avdit('info', '--backbone', backbone, '--set', 'depth=2');
  assert.equal(deeper.status, 1);
  assert.match(deeper.stderr, /does not fit the model as a DiT backbone/);
});
