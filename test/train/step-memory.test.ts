// The pre-flight memory check of a training step (train/step-memory.ts): the same peak as the
// step bench/memory-xl.ts accounts, growing with the batch; `avdit train` refuses a batch that
// cannot fit before making any data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryBackend } from '../../engine/meta/memory-backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { modelSteps } from '../../bench/step-inputs.ts';
import { batchInputBytes, trainStepPeakBytes } from '../../train/step-memory.ts';

test('trainStepPeakBytes is the peak of the AV-DiT training step the memory bench accounts', async () => {
  const c = makeConfig('tiny');
  const backend = createMemoryBackend((b) => b);
  const model = new AVDiT({ backend, gen: new Generator(0) }, c);
  const { trainStep } = modelSteps(model, c, backend, new Generator(0));
  await trainStep(3, false)();
  backend.resetPeak();
  await trainStep(3, false)();
  assert.equal(await trainStepPeakBytes('avdit', c, 3), backend.memory().peakBytes);
  const dit = await trainStepPeakBytes('dit', c, 3);
  assert.ok(dit > 0 && dit < backend.memory().peakBytes, 'a DiT step on frames holds less than an AV-DiT step');
  assert.ok((await trainStepPeakBytes('avdit', c, 12)) > backend.memory().peakBytes, 'more with a bigger batch');
  assert.equal(batchInputBytes('avdit', c, 2), 4 * 2 * (c.frames * c.videoChannels * c.videoHeight * c.videoWidth + c.audioChannels * c.audioTime * c.audioFreq));
});

test('avdit train refuses a batch that cannot fit in memory, at once', () => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), 'train', '--out', join(tmpdir(), 'avdit-bigbatch'), '--batch', '200000', '--data-n', '8', '--backend', 'cpu'], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--batch 200000: one training step would hold at least \d+\.\d GiB \(computed on the memory-accounting backend\), more than this machine's/);
});

test('on WebGPU the batch is checked against the buffer pool\'s budget (AVDIT_GPU_MEMORY_GB), before any data is made', () => {
  const run = (gb: string, batch: string, ...more: string[]) =>
    spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), 'train', '--out', join(tmpdir(), `avdit-gpubatch-${process.pid}`), '--overwrite', '--batch', batch, '--steps', '1', '--data-n', '4', '--backend', 'webgpu', ...more], {
      encoding: 'utf8', timeout: 120000, env: { ...process.env, AVDIT_GPU_MEMORY_GB: gb, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    });
  // The demo model's step: 14 MiB at batch 2, 378 MiB at 64 (computed as the pool counts).
  const refused = run('0.1', '64');
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /--batch 64: one training step would hold at least \d+\.\d GiB \(computed on the memory-accounting backend\), more than the GPU memory budget of 0\.1 GiB \(AVDIT_GPU_MEMORY_GB sets it\); --checkpoint \(activation checkpointing\) needs much less/);
  assert.doesNotMatch(refused.stdout + refused.stderr, /generating|synthetic/i, 'refused before the data');
  const fits = run('0.1', '2');
  assert.equal(fits.status, 0, fits.stderr);
});
