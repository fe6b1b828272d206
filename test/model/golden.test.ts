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
import type { Tensor } from '../../engine/tensor.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { DiT } from '../../model/dit.ts';
import { readSafetensors } from '../../model/safetensors.ts';
import { fillModule, hashTensor } from './hashfill.ts';

const DIR = join(import.meta.dirname, '../fixtures/model');
const golden = readSafetensors(join(DIR, 'avdit_tiny_golden.safetensors')).tensors;
const get = (name: string) => {
  const t = golden.get(name);
  assert.ok(t, `fixture lacks ${name}`);
  return t!;
};

/**
 * max |a − b| / max(max |b|, floor): the error relative to the tensor's scale. Gradients use a
 * floor of 1e-3 × the largest gradient of the model, because some are exactly zero in exact
 * arithmetic (the temporal key bias shifts every score of a query equally, and softmax ignores
 * that) and only f32 rounding noise is left to compare.
 */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  assert.equal(a.length, b.length);
  let worst = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return worst / Math.max(scale, floor);
}

function inputs(backend = cpuBackend) {
  const xv = get('x_video'), xa = get('x_audio');
  return {
    xv: tensor(xv.data, xv.shape, { backend }),
    xa: tensor(xa.data, xa.shape, { backend }),
    t: Array.from(get('t').data),
    y: tensor(Array.from(get('y').data), [2], { dtype: 'i32', backend }),
  };
}

test('tiny AV-DiT forward and trainable gradients match PyTorch (CPU)', () => {
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(model);
  const { xv, xa, t, y } = inputs();
  const out = model.forwardAV(xv, xa, t, y);
  assert.ok(relErr(out.video.dataSync(), get('out_video').data) < 1e-4, 'video output');
  assert.ok(relErr(out.audio.dataSync(), get('out_audio').data) < 1e-4, 'audio output');
  const rv = hashTensor('proj.video', [...out.video.shape], 1), ra = hashTensor('proj.audio', [...out.audio.shape], 1);
  A.backward(A.add(A.sum(A.mul(out.video, rv)), A.sum(A.mul(out.audio, ra))));
  const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
  const expected = [...golden.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice(5)).sort();
  assert.deepEqual(trainable.map(([k]) => k).sort(), expected, 'the trainable set equals the reference one');
  const gradScale = Math.max(...expected.map((k) => Math.max(...Array.from(get('grad.' + k).data, Math.abs))));
  for (const [k, p] of trainable) {
    assert.ok(p.grad, `${k} has no gradient`);
    const e = relErr(p.grad!.dataSync(), get('grad.' + k).data, 1e-3 * gradScale);
    assert.ok(e < 1e-4, `grad ${k}: relative error ${e}`);
  }
  for (const [k, p] of model.namedParameters()) if (!p.requiresGrad) assert.equal(p.grad, null, `frozen ${k} got a gradient`);
});

test('the "w/o fusion" ablation matches PyTorch too', () => {
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(model);
  const { xv, xa, t, y } = inputs();
  const out = A.noGrad(() => model.forwardAV(xv, xa, t, y, { noFusion: true }));
  assert.ok(relErr(out.video.dataSync(), get('out_video_nofusion').data) < 1e-4);
  assert.ok(relErr(out.audio.dataSync(), get('out_audio_nofusion').data) < 1e-4);
});

test('DiT class-conditional forward matches PyTorch', () => {
  const g = readSafetensors(join(DIR, 'dit_tiny_golden.safetensors')).tensors;
  const dit = new DiT({ backend: cpuBackend, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(dit);
  const x = g.get('x')!;
  const out = A.noGrad(() => dit.forward(tensor(x.data, x.shape), Array.from(g.get('t')!.data), tensor(Array.from(g.get('y')!.data), [2], { dtype: 'i32' })));
  assert.ok(relErr(out.dataSync(), g.get('out')!.data) < 1e-4);
});

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

export type { Tensor };
