// `avdit sample` input checks (subprocesses): flags that gave NaN clips or were silently ignored are
// usage errors before the checkpoint is read; diverged sampling exits 1 without writing clips; a
// smaller run into an old folder removes the old run's extra clips and nothing else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';

const ROOT = join(import.meta.dirname, '../..');
const avdit = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, AVDIT_BACKEND: 'cpu' } });
const dir = mkdtempSync(join(tmpdir(), 'avdit-sample-checks-'));
const ckpt = join(dir, 'run', 'checkpoint.safetensors');
/** A checkpoint path that does not exist: a usage error must come before it is read. */
const NONE = join(dir, 'no-such-checkpoint.safetensors');

before(() => {
  const r = avdit('train', '--backend', 'cpu', '--preset', 'demo', '--data-n', '8', '--steps', '2', '--batch', '2', '--out', join(dir, 'run'));
  assert.equal(r.status, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** `avdit sample` that must be a usage error (exit 2) matching `re`, before reading the checkpoint. */
function usage(re: RegExp, ...args: string[]): void {
  const r = avdit('sample', '--backend', 'cpu', '--ckpt', NONE, '--out', join(dir, 'never'), ...args);
  assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(join(dir, 'never')), '--out is not made for a usage error');
}

test('sample: --eta outside [0, 1] and non-finite --cfg / --cfg-audio are usage errors', () => {
  usage(/--eta must be in \[0, 1\]/, '--sampler', 'ddim', '--steps', '4', '--eta', '1.5');
  usage(/--eta must be in \[0, 1\]/, '--sampler', 'ddim', '--steps', '4', '--eta=-0.1');
  usage(/--cfg must be a finite number, got "Infinity"/, '--class', '1', '--cfg', 'Infinity');
  usage(/--cfg-audio must be a finite number, got "NaN"/, '--class', '1', '--cfg-audio', 'NaN');
  usage(/--cfg and --cfg-audio must be ≥ 1/, '--class', '1', '--cfg', '0.5');
  usage(/--n must be at most 10000/, '--n', '1e9');
  usage(/--seed must be at most/, '--seed', '1e300');
});

test('sample: --sampler ddim --steps N that the integer stride cannot make is a usage error naming the nearest counts', () => {
  usage(/--steps 600 does not work with --sampler ddim.*nearest: 500 or 1000/, '--sampler', 'ddim', '--steps', '600');
  usage(/--steps 400 .*nearest: 334 or 500/, '--sampler', 'ddim', '--steps', '400');
  usage(/--steps 1 .*nearest: 2\b/, '--sampler', 'ddim', '--steps', '1');
  assert.match(avdit('sample', '--help').stdout, /ddim strides evenly, so S must be ⌈1000\/k⌉/);
});

test('sample: --weights other than ema|raw, --eta with ddpm, and --cfg without a class are usage errors', () => {
  usage(/--weights must be ema or raw, got "foo"/, '--weights', 'foo');
  usage(/--eta is for --sampler ddim/, '--eta', '0.5');
  usage(/--cfg needs --class K or --per-class/, '--cfg', '3');
  usage(/--cfg-audio needs --class K or --per-class/, '--cfg-audio', '3');
});

test('sample: NaN latents (a broken checkpoint) exit 1 naming video/audio, and write nothing', () => {
  const f = readSafetensors(ckpt);
  for (const k of ['final_layer.linear.bias', 'ema.final_layer.linear.bias']) f.tensors.get(k)!.data.fill(NaN);
  const broken = join(dir, 'broken.safetensors');
  writeSafetensors(broken, f.tensors, f.metadata);
  const out = join(dir, 'nan');
  const r = avdit('sample', '--backend', 'cpu', '--ckpt', broken, '--out', out, '--n', '2', '--steps', '2');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /sampling diverged: .*NaN or infinite values \(video in 2 of 2 clips/);
  assert.deepEqual(readdirSync(out), []);
});

test('sample: fewer clips into an old folder removes the old extra clips, only those', () => {
  const out = join(dir, 'stale');
  const first = avdit('sample', '--backend', 'cpu', '--ckpt', ckpt, '--out', out, '--n', '3', '--batch', '3', '--steps', '2');
  assert.equal(first.status, 0, first.stderr);
  // not ours: must survive
  writeFileSync(join(out, 'notes.txt'), 'mine');
  writeFileSync(join(out, 'sample_0007.gif'), 'not a name sample writes');
  writeFileSync(join(out, 'sample_002', 'mine.txt'), 'mine');
  mkdirSync(join(out, 'sample_009.wav'));
  const second = avdit('sample', '--backend', 'cpu', '--ckpt', ckpt, '--out', out, '--n', '1', '--steps', '2');
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /removed 2 stale clips \(sample_001 and up\)/);
  const left = readdirSync(out).sort();
  assert.ok(!left.some((f) => /^sample_00[12]($|\.|_)/.test(f) && f !== 'sample_002'), left.join(' '));
  for (const f of ['sample_000', 'sample_000.gif', 'sample_000.wav', 'sample_000_spec.png', 'index.html', 'samples.safetensors', 'notes.txt', 'sample_0007.gif', 'sample_009.wav']) assert.ok(left.includes(f), `${f} in ${left.join(' ')}`);
  assert.deepEqual(readdirSync(join(out, 'sample_002')), ['mine.txt']);
});
