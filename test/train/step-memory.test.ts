// The pre-flight memory check of a training step (train/step-memory.ts): the same peak as the
// step bench/memory-xl.ts accounts, growing with the batch; `avdit train` refuses a batch that
// cannot fit before making any data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createMemoryBackend } from '../../engine/meta/memory-backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { modelSteps } from '../../bench/step-inputs.ts';
import { batchInputBytes, samplePeakBytes, trainStepPeakBytes } from '../../train/step-memory.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { saveModel } from '../../model/checkpoint.ts';
import { checkpointBlocksThatFit, SAMPLE_MARGIN, TRAIN_MARGIN } from '../../cli/memory-fits.ts';
import type { Backend } from '../../engine/backend.ts';

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

test('for a hardware GPU the peaks count the composed attention the model runs there (L×L probabilities kept for the backward)', async () => {
  const c = makeConfig('S'); // (its spatial attention is 256 tokens long: composed on GPUs)
  const [train, trainGpu] = [await trainStepPeakBytes('avdit', c, 2, {}, true), await trainStepPeakBytes('avdit', c, 2, { device: { hardwareGpu: true } }, true)];
  // Per block at least the video's spatial probabilities, batch 2 × 16 frames × heads × 256² f32.
  assert.ok(trainGpu - train >= 2 * c.frames * c.heads * 256 ** 2 * 4, `${train} → ${trainGpu}`);
  const [sample, sampleGpu] = [await samplePeakBytes(c, 2, { guided: false }, true), await samplePeakBytes(c, 2, { guided: false, device: { hardwareGpu: true } }, true)];
  assert.ok(sampleGpu > sample, `${sample} → ${sampleGpu}`);
  // The demo model's sequences are shorter than 64: the same either way.
  const demo = makeConfig('demo');
  assert.equal(await trainStepPeakBytes('avdit', demo, 2, { device: { hardwareGpu: true } }, true), await trainStepPeakBytes('avdit', demo, 2, {}, true));
});

test('avdit train refuses a batch that cannot fit in memory, at once', () => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), 'train', '--out', join(tmpdir(), 'avdit-bigbatch'), '--batch', '200000', '--data-n', '8', '--backend', 'cpu'], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--batch 200000: one training step would hold at least \d+\.\d+ GiB \(computed on the memory-accounting backend\), more than this machine's/);
});

test('on WebGPU the batch is checked against the buffer pool\'s budget (AVDIT_GPU_MEMORY_GB), before any data is made', () => {
  const run = (gb: string, batch: string, ...more: string[]) =>
    spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), 'train', '--out', join(tmpdir(), `avdit-gpubatch-${process.pid}`), '--overwrite', '--batch', batch, '--steps', '1', '--data-n', '4', '--backend', 'webgpu', ...more], {
      encoding: 'utf8', timeout: 120000, env: { ...process.env, AVDIT_GPU_MEMORY_GB: gb, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    });
  // The demo model's step: 14 MiB at batch 2, 378 MiB at 64 (computed as the pool counts).
  const refused = run('0.1', '64');
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /--batch 64: one training step would hold at least \d+\.\d+ GiB \(computed on the memory-accounting backend\), more than the GPU memory budget of 0\.10 GiB \(AVDIT_GPU_MEMORY_GB sets it\); --checkpoint \(activation checkpointing\) needs much less/);
  assert.doesNotMatch(refused.stdout + refused.stderr, /generating|synthetic/i, 'refused before the data');
  const fits = run('0.1', '2');
  assert.equal(fits.status, 0, fits.stderr);
});

test('samplePeakBytes: the model, its merged LoRA copies and a step, growing with the batch; the line through batches 1 and 2 stays below it', async () => {
  for (const preset of ['tiny', 'demo'] as const) {
    const c = makeConfig(preset);
    for (const fusion of ['pooled', 'frames'] as const) {
      for (const guided of [false, true]) {
        const o = { guided, fusion };
        const [one, two, six] = [await samplePeakBytes(c, 1, o), await samplePeakBytes(c, 2, o), await samplePeakBytes(c, 6, o)];
        assert.ok(one < two && two < six, `${preset} ${fusion} ${guided}: ${one} ${two} ${six}`);
        assert.ok(one + 5 * (two - one) <= six, `${preset} ${fusion} ${guided}: the line at 6 (${one + 5 * (two - one)}) over the peak ${six}`);
      }
      assert.ok((await samplePeakBytes(c, 4, { guided: true, fusion })) > (await samplePeakBytes(c, 4, { guided: false, fusion })), 'guidance doubles the rows');
    }
    // At least the model, one copy of qkv and proj per LoRA (what sampling merges) and each block's
    // stacked temporal q/k/v (weight and bias; q/k heads padded to a multiple of 4).
    const backend = createMemoryBackend((b) => b);
    const model = new AVDiT({ backend, gen: new Generator(0) }, c);
    const weights = backend.memory().liveBytes;
    const unmerge = model.mergeLoRA();
    const copies = backend.memory().liveBytes - weights;
    unmerge();
    assert.equal(backend.memory().liveBytes, weights, 'the undo frees every copy');
    const dp = Math.ceil(c.hidden / 8 / c.heads / 4) * 4, stackedRows = 2 * c.heads * dp + c.hidden;
    assert.equal(copies, 4 * c.depth * (2 * (3 * c.hidden * c.hidden + c.hidden * c.hidden) + stackedRows * (c.hidden + 1)));
    assert.ok((await samplePeakBytes(c, 1, { guided: false })) > weights + copies);
  }
});

test('avdit sample refuses, before loading the model, clips that cannot fit on the host or a batch over the GPU budget', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-samplefit-'));
  const c = makeConfig('tiny');
  await saveModel(join(dir, 'm.safetensors'), new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, c), c);
  const avdit = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), 'sample', '--ckpt', join(dir, 'm.safetensors'), '--out', join(dir, 's'), ...args], {
      encoding: 'utf8', timeout: 120000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env },
    });
  // 10 000 clips (the most --n takes) of 1024² frames: 640 GB.
  const big = ['--set', 'videoHeight=1024', '--set', 'videoWidth=1024'];
  assert.ok(10000 * batchInputBytes('avdit', { ...c, videoHeight: 1024, videoWidth: 1024 }, 1) > totalmem());
  const host = avdit({}, '--n', '10000', ...big, '--backend', 'cpu');
  assert.equal(host.status, 2, host.stderr);
  assert.match(host.stderr, /--n 10000: the clips alone would take \d+\.\d GiB of this machine's \d+\.\d GiB of memory/);
  // The tiny model's sampling with guidance, against a budget between what batches 3 and 4 are taken
  // to hold when the batch is chosen for the user (the quarantine modelled, times the margin).
  const o = { guided: true, fusion: 'pooled' as const };
  const likely = async (b: number) => SAMPLE_MARGIN * (await samplePeakBytes(c, b, o, 'quarantine'));
  const budget = ((await likely(3)) + (await likely(4))) / 2;
  const gb = (budget / 2 ** 30).toPrecision(6);
  const guided = ['--per-class', '--cfg', '2', '--steps', '2', '--backend', 'webgpu'];
  // Asked for: refused only when the computed peak, a lower bound, is over the budget.
  assert.ok((await samplePeakBytes(c, 16, o, true)) > budget);
  const asked = avdit({ AVDIT_GPU_MEMORY_GB: gb }, '--n', '16', '--batch', '16', ...guided);
  assert.equal(asked.status, 2, asked.stderr);
  assert.match(asked.stderr, /--batch 16: sampling would hold at least \d+\.\d+ GiB \(computed on the memory-accounting backend, guidance doubling the rows\), more than the GPU memory budget of \d\.\d+ GiB \(AVDIT_GPU_MEMORY_GB sets it\); at most --batch \d+ could fit/);
  const most = Number(/at most --batch (\d+) could fit/.exec(asked.stderr)![1]);
  assert.ok((await samplePeakBytes(c, most, o, true)) <= budget && (await samplePeakBytes(c, most + 1, o, true)) > budget, `${most}`);
  assert.doesNotMatch(asked.stderr, /sampling \d+ clips/, 'refused before the model is loaded');
  // Not asked for: the default batch (8, here 4 = n) shrinks to what fits with the margin, and the clips are made.
  const dflt = avdit({ AVDIT_GPU_MEMORY_GB: gb }, '--n', '4', ...guided);
  assert.equal(dflt.status, 0, dflt.stderr);
  assert.match(dflt.stderr, /--batch 4 \(the default\): sampling would hold about \d\.\d+ GiB with a margin .*; sampling in batches of 3 instead/);
  assert.match(dflt.stderr, /4 clips in/);
  // A budget under the model itself: no batch fits, asked for or not.
  const none = avdit({ AVDIT_GPU_MEMORY_GB: '0.0001' }, '--n', '2', ...guided);
  assert.equal(none.status, 2, none.stderr);
  assert.match(none.stderr, /--batch 2: sampling would hold at least .*; even batch 1 would not \(about \d\.\d+ GiB with a margin\)/);
});

test('--checkpoint-blocks auto: the fewest blocks checkpointed for a step to fit the budget with its margin (a bisection over the computed peaks)', async () => {
  const c = makeConfig('demo');
  const B = 8;
  // Peaks as the WebGPU pool counts them, one block more checkpointed at a time: never rising (the
  // backward frees each block's saved activations as it leaves the block, so a recomputation does
  // not come on top of the kept blocks'; up to 1 KiB a block for the checkpoint's one-element joint
  // tensor and its zero gradients).
  const peaks: number[] = [];
  for (let n = 0; n <= c.depth; n++) peaks.push(await trainStepPeakBytes('avdit', c, B, { checkpoint: n }, true));
  peaks.slice(1).forEach((p, n) => assert.ok(p <= peaks[n]! + 1024, `checkpointing block ${n} too does not raise the peak (${peaks.join(', ')})`));
  assert.ok(peaks[1]! < peaks[0]!, 'one block checkpointed holds less than none');
  assert.ok(peaks[c.depth]! < peaks[0]!, 'checkpointing every block needs less than none');
  assert.equal(peaks[c.depth], await trainStepPeakBytes('avdit', c, B, { checkpoint: true }, true), 'the first depth blocks are every block');
  const gpuWith = (bytes: number) => ({ name: 'webgpu', memory: () => ({ budgetBytes: bytes }) }) as unknown as Backend;
  const fewest = (budget: number) => peaks.findIndex((p) => TRAIN_MARGIN * p <= budget);
  for (const budget of [TRAIN_MARGIN * peaks[0]!, TRAIN_MARGIN * peaks[0]! - 1, TRAIN_MARGIN * peaks[1]! + 1, TRAIN_MARGIN * peaks[2]! + 1, (TRAIN_MARGIN * (peaks[0]! + peaks[c.depth]!)) / 2, TRAIN_MARGIN * peaks[c.depth]!]) {
    assert.equal(await checkpointBlocksThatFit(gpuWith(budget), 'avdit', c, B), fewest(budget), `budget ${budget}`);
  }
  // Not even every block checkpointed fits: all of them (the batch check then refuses it); no budget known: none.
  assert.equal(await checkpointBlocksThatFit(gpuWith(peaks[c.depth]!), 'avdit', c, B), c.depth);
  assert.equal(await checkpointBlocksThatFit({ name: 'meta', memory: () => ({}) } as unknown as Backend, 'avdit', c, B), 0);
});

test('--checkpoint-blocks: a number up to the depth or auto, not beside --checkpoint; N blocks train', () => {
  const run = (...more: string[]) =>
    spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), 'train', '--out', mkdtempSync(join(tmpdir(), 'avdit-ckblocks-')), '--steps', '1', '--batch', '2', '--data-n', '4', '--backend', 'cpu', ...more], { encoding: 'utf8', timeout: 120000 });
  const both = run('--checkpoint', '--checkpoint-blocks', '2');
  assert.equal(both.status, 2, both.stderr);
  assert.match(both.stderr, /--checkpoint and --checkpoint-blocks 2: give one/);
  const deep = run('--checkpoint-blocks', '99');
  assert.equal(deep.status, 2, deep.stderr);
  assert.match(deep.stderr, /--checkpoint-blocks must be auto or a whole number from 0 to the model's depth \d+, got "99"/);
  const some = run('--checkpoint-blocks', '1');
  assert.equal(some.status, 0, some.stderr);
  const auto = run('--checkpoint-blocks', 'auto');
  assert.equal(auto.status, 0, auto.stderr);
  assert.match(auto.stderr, /--checkpoint-blocks auto: 0 of \d+ blocks checkpointed at batch 2/);
});
