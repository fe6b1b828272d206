// Latent shards and the synthetic set are checked when they are opened, before training: labels
// against the model's classes, empty shards, NaN/Inf values, folders named *.safetensors, and a
// synthetic set too big to allocate. Errors name the file (and tensor, index) or the flag.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { CheckpointError } from '../../engine/io/checkpoint-errors.ts';
import { loadLatentShards, ShardError } from '../../data/shards.ts';
import { PRESETS } from '../../model/config.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { openData, syntheticData } from '../../train/data-source.ts';

const ROOT = join(import.meta.dirname, '../..');
const demo = PRESETS.demo!; // per sample: video [8, 3, 16, 16], audio [1, 32, 16]; classes 8
const VIDEO = 8 * 3 * 16 * 16, AUDIO = 32 * 16;

const root = mkdtempSync(join(tmpdir(), 'avdit-input-checks-'));
after(() => rmSync(root, { recursive: true, force: true }));
let k = 0;

/** A demo-shaped shard of n samples in a fresh folder (or `dir`); `edit` may change the arrays. */
function shard(n: number, o: { labels?: number[]; dir?: string; name?: string; edit?: (video: Float32Array, audio: Float32Array) => void } = {}): string {
  const dir = o.dir ?? join(root, String(k++));
  mkdirSync(dir, { recursive: true });
  const video = new Float32Array(n * VIDEO).fill(0.25), audio = new Float32Array(n * AUDIO).fill(-0.5);
  o.edit?.(video, audio);
  writeSafetensors(join(dir, o.name ?? 'a.safetensors'), {
    video: { dtype: 'f32', shape: [n, 8, 3, 16, 16], data: video },
    audio: { dtype: 'f32', shape: [n, 1, 32, 16], data: audio },
    ...(o.labels ? { label: { dtype: 'i32', shape: [n], data: Int32Array.from(o.labels) } } : {}),
  });
  return dir;
}

const open = (dir: string) => openData(demo, dir, 1, 0);
const throwsShard = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => e instanceof ShardError && re.test(e.message), `expected ShardError ${re}`);

test('labels must be classes of the model: ≥ classes and the null class itself are errors naming file and index', () => {
  assert.deepEqual([...open(shard(3, { labels: [0, 7, 3] })).labels!], [0, 7, 3]);
  const nine = shard(4, { labels: [0, 1, 2, 9] });
  throwsShard(() => open(nine), /a\.safetensors: label\[3\] is 9, the model has classes 0\.\.7$/);
  throwsShard(() => open(shard(2, { labels: [8, 0] })), /label\[0\] is 8, the model has classes 0\.\.7/); // 8 = the null class
  throwsShard(() => open(shard(2, { labels: [1, -1] })), /label\[1\] is -1, the model has classes 0\.\.7/);
  // Without a class count (the plain loader) any non-negative label is accepted.
  assert.deepEqual([...loadLatentShards(nine).labels!], [0, 1, 2, 9]);
});

test('a shard with 0 samples is an error naming it', () => {
  throwsShard(() => open(shard(0)), /a\.safetensors: holds 0 samples \("video" is \[0, 8, 3, 16, 16\]\)/);
  const mixed = shard(2);
  shard(0, { dir: mixed, name: 'b.safetensors' });
  throwsShard(() => open(mixed), /b\.safetensors: holds 0 samples/);
});

test('NaN or ±Infinity in a shard is an error naming the file, tensor and sample', () => {
  throwsShard(() => open(shard(3, { edit: (v) => (v[2 * VIDEO + 7] = NaN) })), /a\.safetensors: "video" holds NaN at sample 2 \(element 12295\); the data must be finite/);
  throwsShard(() => open(shard(3, { edit: (_, a) => (a[AUDIO] = -Infinity) })), /a\.safetensors: "audio" holds -Infinity at sample 1/);
  assert.equal(open(shard(2, { edit: (v) => v.fill(3.4e38) })).n, 2); // large but finite
});

test('a folder named *.safetensors is skipped; reading a folder names it', () => {
  const dir = shard(2);
  mkdirSync(join(dir, 'x.safetensors'));
  const d = open(dir);
  assert.equal(d.n, 2);
  const only = join(root, String(k++));
  mkdirSync(join(only, 'x.safetensors'), { recursive: true });
  throwsShard(() => loadLatentShards(only), /no \.safetensors shards \(x\.safetensors: a folder\)/);
  const path = join(only, 'x.safetensors');
  assert.throws(() => readSafetensors(path), (e: Error) => e instanceof CheckpointError && e.message === `${path}: is a folder, not a file`);
  assert.throws(() => readSafetensors(join(only, 'missing.safetensors')), /missing\.safetensors: cannot open: ENOENT/);
});

test('the synthetic set refuses a size it could not allocate, naming --data-n and the GB, before generating', () => {
  const t = performance.now();
  assert.throws(() => syntheticData(demo, 1e9, 0), /^Error: --data-n 1000000000: the synthetic clips would take 79872\.0 GB, more than one array can hold/);
  assert.throws(() => syntheticData(demo, 1e8, 0), /--data-n 100000000: the synthetic clips would take 7987\.2 GB, more than/);
  assert.ok(performance.now() - t < 1000, 'refused at once');
});

test('a large synthetic set says it is being generated (on stderr, before the work)', () => {
  const write = process.stderr.write;
  const said: string[] = [];
  class Said extends Error {}
  // Stop at the first write: the line must come before the (long) generation.
  process.stderr.write = ((s: string) => {
    said.push(s);
    throw new Said();
  }) as typeof process.stderr.write;
  try {
    assert.equal(syntheticData(demo, 2, 0).n, 2);
    assert.deepEqual(said, []);
    assert.throws(() => syntheticData(demo, 2001, 0), Said);
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(said, ['generating 2001 synthetic clips…\n']);
});

test('avdit pretrain and train --conditional stop on an out-of-range label before training, naming the file', () => {
  const dir = shard(2, { labels: [3, 9] });
  for (const args of [['pretrain'], ['train', '--conditional']]) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args, '--backend', 'cpu', '--data', dir, '--out', join(root, `run${k++}`), '--steps', '1', '--batch', '2'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`avdit ${args[0]}: ShardError: ${join(dir, 'a.safetensors').replace(/[.]/g, '\\.')}: label\\[1\\] is 9, the model has classes 0\\.\\.7\\n`));
    assert.doesNotMatch(r.stderr, /step|ShapeError/);
  }
});
