// Sampling: the same seed gives the same clips (in batches or not); guidance and per-class labels
// run; bad requests to the CLI fail before any work with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { saveModel } from '../../model/checkpoint.ts';
import { sampleClips } from '../../train/sampling.ts';
import { fillModule } from '../model/hashfill.ts';

const config = makeConfig('tiny', { depth: 1 });
const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, config);
fillModule(model);
const d = createDiffusion('ddim3');

test('the same seed gives the same samples, whatever the batch size', async () => {
  const o = { n: 3, seed: 7, method: 'ddim' as const, labels: null, cfg: 1, clipDenoised: false };
  const a = await sampleClips(model, d, { ...o, batch: 3 });
  const b = await sampleClips(model, d, { ...o, batch: 3 });
  assert.deepEqual(Array.from(a.video), Array.from(b.video));
  assert.deepEqual(Array.from(a.audio), Array.from(b.audio));
  const c = await sampleClips(model, d, { ...o, seed: 8, batch: 3 });
  assert.notDeepEqual(Array.from(c.audio), Array.from(a.audio));
  // class-conditional with guidance runs and differs from unconditional
  const g = await sampleClips(model, d, { ...o, batch: 3, labels: [0, 1, 2], cfg: 3 });
  assert.ok(g.video.every(Number.isFinite));
  assert.notDeepEqual(Array.from(g.video), Array.from(a.video));
});

test('every fusion mode samples, and the modes give different clips from the same noise', async () => {
  const o = { n: 2, batch: 2, seed: 3, method: 'ddim' as const, labels: null, cfg: 1, clipDenoised: false };
  const runs = await Promise.all((['pooled', 'frames', 'none'] as const).map((fusion) => sampleClips(model, d, { ...o, fusion })));
  for (const r of runs) assert.ok(r.audio.every(Number.isFinite));
  assert.notDeepEqual(Array.from(runs[0]!.audio), Array.from(runs[1]!.audio));
  assert.notDeepEqual(Array.from(runs[0]!.audio), Array.from(runs[2]!.audio));
  assert.notDeepEqual(Array.from(runs[1]!.audio), Array.from(runs[2]!.audio));
});

test('avdit sample refuses bad requests before any work', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-sample-'));
  await saveModel(join(dir, 'm.safetensors'), model, config);
  writeFileSync(join(dir, 'afile'), 'x');
  const avdit = (...args: string[]) => spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), ...args, '--backend', 'cpu'], { encoding: 'utf8' });
  const r1 = avdit('sample', '--ckpt', join(dir, 'm.safetensors'), '--out', join(dir, 'afile'));
  assert.equal(r1.status, 2);
  assert.match(r1.stderr, /--out .*afile is a file, not a folder/);
  const r2 = avdit('sample', '--ckpt', join(dir, 'm.safetensors'), '--out', join(dir, 's'), '--class', '99');
  assert.match(r2.stderr, /--class 99: the model has classes 0\.\.9/);
  const r3 = avdit('sample', '--ckpt', join(dir, 'm.safetensors'), '--out', join(dir, 's'), '--preset', 'S');
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /CheckpointError: .*mis-shaped keys/);
  const r4 = avdit('train', '--out', join(dir, 'afile'));
  assert.equal(r4.status, 2);
  assert.match(r4.stderr, /--out .*afile is a file, not a folder/);
  // A folder that cannot be made: a usage error at once (Node's recursive mkdir spun forever here).
  const r6 = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), 'sample', '--ckpt', join(dir, 'm.safetensors'), '--out', '/proc/avdit-no/out', '--backend', 'cpu'], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r6.status, 2, r6.stderr);
  assert.match(r6.stderr, /--out cannot write to \/proc\/avdit-no\/out \(ENOENT\)/);
  const r5 = avdit('train', '--out', join(dir, 't'), '--data', join(dir, 'nope'));
  assert.match(r5.stderr, /--data .*nope: no such folder/);
});
