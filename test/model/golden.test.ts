// The tiny AV-DiT and DiT against an independent PyTorch implementation of DESIGN.md
// (test/fixtures/model/make_avdit_golden.py): forward outputs and the gradient of every
// trainable parameter, to 1e-4 relative, on the CPU backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { DiT } from '../../model/dit.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { checkAVDiTGolden, checkDiTGolden, DIR, get, inputs, NONSQUARE, relErr } from './golden-check.ts';
import { withEnvAsync } from '../env.ts';
import { fillModule } from './hashfill.ts';
import { type Checkpointing, checkpointsBlock } from '../../model/checkpointing.ts';

test('tiny AV-DiT forward and trainable gradients match PyTorch (CPU)', () => checkAVDiTGolden(cpuBackend));

test('on grids square in neither branch (video 4×6 patches, audio 8×4) too: patchify, unpatchify and both position tables the right way round (CPU)', () =>
  checkAVDiTGolden(cpuBackend, 'pooled', NONSQUARE));

test('with every attention composed (matmul + softmax + matmul, as hardware GPUs run the long ones) (CPU)', () =>
  withEnvAsync('AVDIT_ATTENTION', 'composed', () => checkAVDiTGolden(cpuBackend, 'frames')));

test('the "w/o fusion" ablation matches PyTorch too', () => {
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(model);
  const { xv, xa, t, y } = inputs();
  const out = A.noGrad(() => model.forwardAV(xv, xa, t, y, { fusion: 'none' }));
  assert.ok(relErr(out.video.dataSync(), get('out_video_nofusion').data) < 1e-4);
  assert.ok(relErr(out.audio.dataSync(), get('out_audio_nofusion').data) < 1e-4);
});

test('per-frame fusion matches PyTorch: outputs and the fusion parameters\' gradients (CPU)', () => checkAVDiTGolden(cpuBackend, 'frames'));

test('per-frame fusion differs from the pooled one, and refuses audio rows that do not split over the frames', () => {
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(model);
  const { xv, xa, t, y } = inputs();
  const out = A.noGrad(() => model.forwardAV(xv, xa, t, y, { fusion: 'frames' }));
  assert.ok(relErr(out.video.dataSync(), get('out_video').data) > 1e-3);
  assert.ok(relErr(out.audio.dataSync(), get('out_audio').data) > 1e-3);
  const odd = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny', { audioTime: 12 })); // 6 rows, 4 frames
  const xa12 = tensor(new Float32Array(2 * 8 * 12 * 8), [2, 8, 12, 8]);
  assert.throws(() => A.noGrad(() => odd.forwardAV(xv, xa12, t, y, { fusion: 'frames' })), /6 patch rows evenly over the 4 frames/);
  A.noGrad(() => odd.forwardAV(xv, xa12, t, y, { fusion: 'pooled' })); // the paper's fusion takes any length
});

test('DiT class-conditional forward matches PyTorch', () => checkDiTGolden(cpuBackend));

test('with its new parts at their initial values, the video branch is the frozen DiT per frame', () => {
  const ctx = { backend: cpuBackend, gen: new Generator(1) };
  const model = new AVDiT(ctx, makeConfig('tiny'));
  // A backbone with non-zero weights everywhere (a fresh DiT's zero adaLN would make this trivial).
  const dit = new DiT({ backend: cpuBackend, gen: new Generator(2) }, makeConfig('tiny'));
  fillModule(dit);
  model.loadStateDict(dit.stateDict(), false);
  const { xv, xa, t, y } = inputs();
  const av = A.noGrad(() => model.forwardAV(xv, xa, t, y)).video; // [B, M, 2C, H, W]
  const [B, M, C, H, W] = xv.shape as [number, number, number, number, number];
  const frames = A.reshape(xv, [B * M, C, H, W]);
  const rep = (arr: number[]) => arr.flatMap((v) => Array<number>(M).fill(v));
  const ref = A.noGrad(() => dit.forward(frames, rep(t), tensor(rep(Array.from(y.dataSync())), [B * M], { dtype: 'i32' })));
  assert.deepEqual(Array.from(av.dataSync()), Array.from(ref.dataSync()));
});


test('activation checkpointing per block gives identical outputs and gradients, of every block or the first n', () => {
  const run = (checkpoint: Checkpointing) => {
    const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny', { depth: 3 }));
    fillModule(model);
    const { xv, xa, t, y } = inputs();
    const out = model.forwardAV(xv, xa, t, y, { checkpoint });
    A.backward(A.add(A.sum(A.square(out.video)), A.sum(out.audio)));
    return [Array.from(out.video.dataSync()), ...model.parameters({ trainable: true }).map((p) => Array.from(p.grad!.dataSync()))];
  };
  const plain = run(false);
  for (const c of [true, 0, 1, 2, 3] as const) assert.deepEqual(run(c), plain, `checkpoint ${String(c)}`);
  assert.deepEqual([0, 1, 2].map((i) => checkpointsBlock(2, i)), [true, true, false]);
  assert.deepEqual([checkpointsBlock(true, 5), checkpointsBlock(false, 0), checkpointsBlock(undefined, 0), checkpointsBlock(0, 0)], [true, false, false, false]);
});
