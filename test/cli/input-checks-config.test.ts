// Config checks (--set, a checkpoint's stored config), `avdit info --backbone / --ckpt`, and
// gradcheck validating its flags before printing anything.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { saveModel } from '../../model/checkpoint.ts';
import { checkConfig, makeConfig, PRESETS, type AVDiTConfig } from '../../model/config.ts';
import { readSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';

const ROOT = join(import.meta.dirname, '../..');
const avdit = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, AVDIT_BACKEND: 'cpu' } });
const dir = mkdtempSync(join(tmpdir(), 'avdit-config-checks-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const BACKBONE = join(ROOT, 'assets/demo-backbone.safetensors');

test('checkConfig: integer fields whole and bounded, ratios giving whole widths; every problem in one error', () => {
  for (const p of Object.values(PRESETS)) checkConfig(p);
  const bad = (over: Partial<AVDiTConfig>, re: RegExp) => assert.throws(() => makeConfig('tiny', over), re, JSON.stringify(over));
  bad({ depth: 1.5 }, /depth must be an integer in 1\.\.1024, got 1\.5/);
  bad({ loraRank: 0.5 }, /loraRank must be an integer/);
  bad({ classes: 2.5 }, /classes must be an integer/);
  bad({ mlpRatio: 0.01 }, /MLP width hidden·mlpRatio = 0\.64 must be a whole number ≥ 1/);
  bad({ hidden: 1e12 }, /hidden must be an integer in 1\.\.65536/);
  bad({ frames: 1e300 }, /frames must be an integer in 1\.\.4096/);
  bad({ temporalRatio: 1000 }, /temporal q\/k width hidden\/temporalRatio = 0\.064/);
  bad({ adapterRatio: 0.001 }, /audio adapter width .* rounds to 0/);
  bad({ depth: 1.5, mlpRatio: 0.01, heads: 3 }, /depth must be .*; MLP width .*; .*not divisible by heads 3/);
  assert.throws(() => checkConfig({ hidden: 64 } as AVDiTConfig), /missing or non-numeric fields depth, heads, patch, .*adapterRatio$/);
  // As the user sees it: a usage error before any work
  const r = avdit('info', '--set', 'depth=1.5');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^avdit info: invalid model config: depth must be an integer in 1\.\.1024, got 1\.5\n$/);
});

test("a checkpoint whose stored config lacks fields: an error naming the file and the missing fields", () => {
  const f = readSafetensors(BACKBONE);
  const partial = join(dir, 'partial.safetensors');
  writeSafetensors(partial, f.tensors, { ...f.metadata, 'avdit.kind': 'avdit', 'avdit.config': JSON.stringify({ hidden: 64 }) });
  const r = avdit('sample', '--backend', 'cpu', '--ckpt', partial, '--out', join(dir, 's'));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /CheckpointError: .*partial\.safetensors: metadata avdit\.config: invalid model config: missing or non-numeric fields depth, heads,/);
});

test("info --backbone uses the backbone's stored config (unless --preset/--set), as train does", () => {
  const r = avdit('info', '--backbone', BACKBONE);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^AV-DiT \(config of .*demo-backbone\.safetensors\): D=64 depth=4 heads=4 patch=4 frames=8/);
  assert.match(r.stdout, /backbone .*: fits/);
  const tiny = avdit('info', '--backbone', BACKBONE, '--preset', 'tiny');
  assert.equal(tiny.status, 1);
  assert.match(tiny.stderr, /does not fit the model as a DiT backbone/);
});

test('info --ckpt: the counts of a checkpoint with its stored config; a DiT backbone is pointed to --backbone', async () => {
  const config = makeConfig('demo', { depth: 2 });
  const ckpt = join(dir, 'av.safetensors');
  await saveModel(ckpt, new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, config), config);
  const r = avdit('info', '--ckpt', ckpt, '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { config: AVDiTConfig; total: number };
  assert.deepEqual(j.config, config);
  const wrong = avdit('info', '--ckpt', ckpt, '--preset', 'demo');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /av\.safetensors: does not fit the model:\n\s+missing keys \(\d+\): blocks\.2\./);
  const dit = avdit('info', '--ckpt', BACKBONE);
  assert.equal(dit.status, 2);
  assert.match(dit.stderr, /is a DiT backbone \(from avdit pretrain\): check it with --backbone/);
});

test('gradcheck: a bad --cases is a usage error before anything is printed', () => {
  const r = avdit('gradcheck', '--backend', 'cpu', '--op', 'add', '--cases', '0');
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /--cases must be an integer >= 1, got "0"/);
});
