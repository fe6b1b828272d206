// Training: a resumed run's losses equal an uninterrupted run's with the same seed; a NaN loss
// stops with the last good checkpoint kept; the log and loss curve are written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { randn, tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { AdamW } from '../../train/adamw.ts';
import { EMA } from '../../train/ema.ts';
import { trainLoop, NonFiniteLossError } from '../../train/loop.ts';
import { avditLoss } from '../../train/objectives.ts';
import { prepareRunDir } from '../../train/run-dir.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';

const config = makeConfig('tiny', { depth: 1, hidden: 32, heads: 2, loraRank: 4 });

/** `poison`: a NaN loss at step 3; `overflow`: a finite loss at step 4 whose update (lr 1e39) overflows f32. */
function setup(dir: string, poison = false, overflow = false) {
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(7) }, config);
  const params = model.parameters({ trainable: true });
  const optimizer = new AdamW(params, { lr: 5e-4, weightDecay: 0 });
  const ema = new EMA(params, 0.99);
  const diffusion = createDiffusion('');
  const lossFn = (step: number, gen: Generator) => {
    const video = randn([2, config.frames, 4, 8, 8], { generator: gen });
    const audio = randn([2, 8, 8, 8], { generator: gen });
    const out = avditLoss(model, diffusion, { video, audio, labels: tensor([10, 10], [2], { dtype: 'i32' }) }, gen);
    if (overflow && step === 4) optimizer.lr = 1e39;
    return poison && step === 3 ? { ...out, loss: A.mul(out.loss, NaN) } : out;
  };
  const base = { dir: prepareRunDir(dir), model, optimizer, ema, ckptEvery: 2, meta: { kind: 'avdit' as const, seed: 11, config, args: {} }, lossFn };
  return base;
}

test('resuming gives exactly the losses of an uninterrupted run (after a crash, and after Ctrl-C)', async () => {
  const fullDir = mkdtempSync(join(tmpdir(), 'avdit-full-'));
  const full = await trainLoop({ ...setup(fullDir), steps: 6 });
  const expected = full.records.map((r) => r.loss);
  // A crash after step 3: the last checkpoint is step 2, so step 3 is done again.
  const dir = mkdtempSync(join(tmpdir(), 'avdit-resume-'));
  const first = await trainLoop({ ...setup(dir), steps: 6, stopAfter: 3 });
  assert.equal(first.lastStep, 3);
  const second = await trainLoop({ ...setup(dir), steps: 6, resume: true });
  assert.deepEqual([...first.records.slice(0, 2), ...second.records].map((r) => r.loss), expected);
  // Ctrl-C during step 3: saved at step 3, the resumed run starts at 4.
  const dir2 = mkdtempSync(join(tmpdir(), 'avdit-sigint-'));
  const a = await trainLoop({ ...setup(dir2), steps: 6, onStep: (r) => r.step === 3 && process.emit('SIGINT') });
  assert.ok(a.interrupted && a.lastStep === 3);
  const b = await trainLoop({ ...setup(dir2), steps: 6, resume: true });
  assert.deepEqual([...a.records, ...b.records].map((r) => r.loss), expected);
  // …and the final state (weights, AdamW moments, EMA) is the same bit for bit.
  const ref = readSafetensors(join(fullDir, 'checkpoint.safetensors'));
  const got = readSafetensors(join(dir2, 'checkpoint.safetensors'));
  assert.deepEqual([...got.tensors.keys()].sort(), [...ref.tensors.keys()].sort());
  assert.ok([...ref.tensors.keys()].some((k) => k.startsWith('ema.')) && [...ref.tensors.keys()].some((k) => k.startsWith('opt.m.')));
  for (const [k, t] of ref.tensors) assert.deepEqual(Array.from(got.tensors.get(k)!.data), Array.from(t.data), k);
  assert.equal(got.metadata['avdit.ema.updates'], '6');
  const log = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(log, [1, 2, 3, 4, 5, 6]);
  assert.ok(existsSync(join(dir, 'loss.png')));
  assert.ok(full.records[5]!.loss < full.records[0]!.loss * 10); // sane magnitudes
});

/** The checkpoint in `dir` is of `step`, and every tensor in it (weights, AdamW moments, EMA) is finite. */
function assertGoodCheckpoint(dir: string, step: number): void {
  const f = readSafetensors(join(dir, 'checkpoint.safetensors'));
  assert.equal(f.metadata['avdit.step'], String(step));
  assert.ok([...f.tensors.keys()].some((k) => k.startsWith('ema.')) && [...f.tensors.keys()].some((k) => k.startsWith('opt.v.')));
  for (const [k, t] of f.tensors) assert.ok(t.data.every((x) => Number.isFinite(Number(x))), `${k} holds a non-finite value`);
}

test('a NaN loss stops training, names the last checkpoint and its step, and keeps that checkpoint (finite) and the loss curve', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-nan-'));
  await assert.rejects(trainLoop({ ...setup(dir, true), steps: 6 }), (e: Error) => e instanceof NonFiniteLossError && /loss is NaN at step 3/.test(e.message) && /checkpoint\.safetensors, holds step 2/.test(e.message));
  assertGoodCheckpoint(dir, 2);
  assert.ok(existsSync(join(dir, 'loss.png')), 'loss.png of steps 1-2');
});

test('a finite loss whose update overflows the weights: no checkpoint of them is written; the last good one stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-overflow-'));
  // Step 4 is a checkpoint step (every 2): its loss is finite, its weights and EMA are ±Inf after the update.
  await assert.rejects(trainLoop({ ...setup(dir, false, true), steps: 6 }), (e: Error) => {
    assert.ok(e instanceof NonFiniteLossError, String(e));
    assert.match(e.message, /^the weights and the EMA hold NaN or infinite values after step 4 \(its loss, \d[\d.e+-]*, was finite: the update overflowed\); stopped without saving them\. The last checkpoint, .*checkpoint\.safetensors, holds step 2 /);
    return true;
  });
  assertGoodCheckpoint(dir, 2);
  const log = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(log, [1, 2, 3, 4]);
  assert.ok(existsSync(join(dir, 'loss.png')));
});
