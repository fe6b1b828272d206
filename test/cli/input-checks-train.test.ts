// `avdit train` / `avdit pretrain` refuse bad input before any long work: an --out that is a file,
// lies under a file or under a folder it cannot write to, a --backbone that does not fit the model,
// and a --data folder whose shards hold the wrong per-sample shapes. With --data-n 3000 the
// synthetic set takes about 14 s to make, and says "generating 3000 synthetic clips…" first: its
// absence from stderr shows that the data was never started.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutDirFlag } from '../../cli/args.ts';
import { makeConfig } from '../../model/config.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';

const ROOT = join(import.meta.dirname, '../..');
const BACKBONE = join(ROOT, 'assets/demo-backbone.safetensors');
const root = mkdtempSync(join(tmpdir(), 'avdit-train-checks-'));
chmodSync(root, 0o755); // the unwritable-folder case runs as another user when we are root
after(() => rmSync(root, { recursive: true, force: true }));

/** `avdit ...args` on the CPU backend; `uid`: run as that user. */
function avdit(args: string[], uid?: number) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args, '--backend', 'cpu'], {
    encoding: 'utf8', timeout: 120_000, ...(uid !== undefined ? { uid, gid: uid } : {}),
  });
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

/** Refused with exit `status` and a message matching `re`, before the data was started. */
function refusedEarly(args: string[], status: number, re: RegExp, uid?: number): void {
  const r = avdit([...args, '--data-n', '3000'], uid);
  assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, /generating 3000 synthetic clips/, `${args.join(' ')}: refused only after making the data (${r.seconds.toFixed(1)} s)`);
  assert.doesNotMatch(r.stderr, /training AV-DiT|pretraining DiT/);
}

test('--out a file or under a file: refused before the data is made', () => {
  const file = join(root, 'afile');
  writeFileSync(file, 'x');
  for (const cmd of ['train', 'pretrain']) refusedEarly([cmd, '--out', file], 2, new RegExp(`^avdit ${cmd}: --out .*afile is a file, not a folder$`, 'm'));
  refusedEarly(['train', '--out', join(file, 'sub', 'run')], 2, /--out cannot make .*afile\/sub\/run: .*afile is a file, not a folder/);
});

// Root may write anywhere: end to end, the commands then run as nobody (uid 65534) where that user
// can read the repository; the check's own logic is tested with an access() that refuses, always.
const asNobody = process.getuid?.() === 0;
const nobodyCanRun = !asNobody || spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(join(ROOT, 'bin/avdit.mjs'))})`], { uid: 65534, gid: 65534 }).status === 0;

test('--out in or under a folder we cannot write: refused before the data is made, nothing created', () => {
  const ro = join(root, 'readonly');
  mkdirSync(ro, { mode: 0o555 });
  chmodSync(ro, 0o555);
  const refuse = (path: string) => {
    if (path === ro) throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
  };
  assert.throws(() => checkOutDirFlag('out', join(ro, 'run', 'x'), refuse), /--out cannot make .*readonly\/run\/x: .*readonly is not writable \(EACCES\)/);
  assert.throws(() => checkOutDirFlag('out', ro, refuse), /--out cannot write to .*readonly \(EACCES\)/);
  assert.doesNotThrow(() => checkOutDirFlag('out', join(root, 'fine', 'run'), refuse));
  if (nobodyCanRun) {
    const uid = asNobody ? 65534 : undefined;
    refusedEarly(['train', '--out', join(ro, 'run', 'x')], 2, /--out cannot make .*readonly\/run\/x: .*readonly is not writable \(EACCES\)/, uid);
    refusedEarly(['pretrain', '--out', ro], 2, /--out cannot write to .*readonly \(EACCES\)/, uid);
  }
  assert.ok(!existsSync(join(ro, 'run')));
});

test('train --backbone that does not fit the model (--set depth=2 on a depth-4 backbone): refused before the data is made or the model built', () => {
  const out = join(root, 'bb');
  refusedEarly(['train', '--backbone', BACKBONE, '--set', 'depth=2', '--out', out], 1,
    /^avdit train: CheckpointError: .*demo-backbone\.safetensors: does not fit the model as a DiT backbone:\n\s+unexpected keys \(20\): blocks\.2\.attn\.qkv\.weight/m);
  assert.ok(!existsSync(out), 'no --out folder made');
});

test('--data DIR whose shards hold the wrong per-sample shapes: refused from the shard headers, before any shard is read', () => {
  const c = makeConfig('demo');
  const data = join(root, 'shards');
  mkdirSync(data);
  const n = 2, V = [c.frames, c.videoChannels, c.videoHeight, c.videoWidth], Au = [c.audioChannels, c.audioTime, c.audioFreq];
  const f32 = (shape: number[], fill: number) => ({ dtype: 'f32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
  // a.safetensors fits but holds NaN (reading it fails); b.safetensors has 8×8 frames, not 16×16:
  // a header check names b's shapes, a check after loading would stop at a's NaN.
  writeSafetensors(join(data, 'a.safetensors'), { video: f32([n, ...V], NaN), audio: f32([n, ...Au], 0) });
  writeSafetensors(join(data, 'b.safetensors'), { video: f32([n, c.frames, 3, 8, 8], 0), audio: f32([n, ...Au], 0) });
  const out = join(root, 'from-shards');
  for (const cmd of ['train', 'pretrain']) {
    const r = avdit([cmd, '--data', data, '--out', out, '--steps', '1']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^avdit ${cmd}: ShardError: .*shards/b\\.safetensors: holds video \\[8, 3, 8, 8\\] and audio \\[1, 32, 16\\] per sample; the model wants video \\[8, 3, 16, 16\\] \\(\\[M, C, H, W\\]\\) and audio \\[1, 32, 16\\] \\(\\[C, T, F\\]\\)$`, 'm'));
    assert.ok(!existsSync(out), 'no --out folder made');
  }
});

test('train --conditional on shards without labels: refused from the shard headers, before any shard is read', () => {
  const c = makeConfig('demo');
  const data = join(root, 'unlabelled');
  mkdirSync(data);
  const n = 2;
  const f32 = (shape: number[], fill: number) => ({ dtype: 'f32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
  // NaN data: reading the shard would fail on it, so the error below can only come from its header.
  writeSafetensors(join(data, 'a.safetensors'), { video: f32([n, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], NaN), audio: f32([n, c.audioChannels, c.audioTime, c.audioFreq], 0) });
  const out = join(root, 'cond');
  const r = avdit(['train', '--conditional', '--data', data, '--out', out, '--steps', '1']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /ShardError: .*unlabelled\/a\.safetensors: has no "label" tensor, and --conditional trains on class labels/);
  assert.ok(!existsSync(out), 'no --out folder made');
});
