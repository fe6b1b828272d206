// Sampling: the same seed gives the same clips (in batches of any size); guidance and per-class labels
// run; bad requests to the CLI fail before any work with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { Generator } from '../../engine/rng.ts';
import { createDiffusion, sampleLoopJoint, type JointModel } from '../../diffusion/index.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { saveModel } from '../../model/checkpoint.ts';
import { channelsToFrames, framesToChannels } from '../../train/objectives.ts';
import { clipNoise, sampleClips } from '../../train/sampling.ts';
import { fillModule } from '../model/hashfill.ts';

const config = makeConfig('tiny', { depth: 1 });
const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, config);
fillModule(model);
const d = createDiffusion('ddim3');

test('the same seed gives the same samples, whatever the batch size', async () => {
  const o = { n: 3, seed: 7, method: 'ddim' as const, labels: null, cfg: 1, clipDenoised: false };
  const a = await sampleClips(model, d, { ...o, batch: 3 });
  for (const batch of [3, 1, 2]) {
    const b = await sampleClips(model, d, { ...o, batch });
    // Bit for bit in batches of 3; in other batches the same noise, the model's sums over other
    // batch shapes may round differently.
    const close = (x: Float32Array, y: Float32Array) => (batch === 3 ? assert.deepEqual(Array.from(x), Array.from(y)) : assert.ok(x.every((v, i) => Math.abs(v - y[i]!) < 1e-4), `batch ${batch}`));
    close(b.video, a.video);
    close(b.audio, a.audio);
  }
  // DDPM draws noise at every step too: clips still depend on the seed and their index only.
  const p = { ...o, method: 'ddpm' as const };
  const [p3, p1] = [await sampleClips(model, createDiffusion('3'), { ...p, batch: 3 }), await sampleClips(model, createDiffusion('3'), { ...p, batch: 1 })];
  assert.ok(p3.audio.every((v, i) => Math.abs(v - p1.audio[i]!) < 1e-4), 'ddpm, batch 3 vs 1');
  const c = await sampleClips(model, d, { ...o, seed: 8, batch: 3 });
  assert.notDeepEqual(Array.from(c.audio), Array.from(a.audio));
  // class-conditional with guidance runs and differs from unconditional
  const g = await sampleClips(model, d, { ...o, batch: 3, labels: [0, 1, 2], cfg: 3 });
  assert.ok(g.video.every(Number.isFinite));
  assert.notDeepEqual(Array.from(g.video), Array.from(a.video));
});

test('sampling folds the LoRAs into copies of the frozen weights: the clips of the three-op form, the copies freed after', async () => {
  const o = { n: 2, batch: 2, seed: 5, method: 'ddim' as const, labels: null, cfg: 1, clipDenoised: false };
  const live = cpuBackend.memory().liveBytes;
  const merged = await sampleClips(model, d, o);
  assert.equal(cpuBackend.memory().liveBytes, live, 'the merged copies are freed once sampling ends');
  const lora = model.blocks[0]!.audioLora.qkv;
  assert.equal(lora.merged, false);
  const plain = await sampleClips(model, d, { ...o, mergeLoRA: false });
  // The same maths summed in another order: equal to rounding, and the LoRAs matter (hashfilled ups).
  for (const k of ['video', 'audio'] as const) {
    assert.ok(merged[k].every((v, i) => Math.abs(v - plain[k][i]!) < 1e-4), k);
  }
  const noLora = model.blocks.flatMap((b) => [b.audioLora, b.fusionLora]).flatMap((p) => [p.qkv.up, p.proj.up]);
  const saved = noLora.map((t) => t.dataSync().slice());
  for (const t of noLora) t.assign(tensor(new Float32Array(t.size), [...t.shape]));
  try {
    const without = await sampleClips(model, d, o);
    assert.ok(without.audio.some((v, i) => Math.abs(v - merged.audio[i]!) > 1e-3), 'the LoRA updates change the audio');
  } finally {
    noLora.forEach((t, i) => t.assign(tensor(saved[i]!, [...t.shape])));
  }
  // An error inside sampling still frees the copies and the loop's tensors.
  const before = cpuBackend.memory().liveBytes;
  await assert.rejects(sampleClips(model, d, { ...o, onStep: () => { throw new Error('stopped'); } }), /stopped/);
  assert.equal(lora.merged, false);
  assert.equal(cpuBackend.memory().liveBytes, before);
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

test('guided sampling: ε = u + w(c − u) per modality (its own scale), the variance half the conditional one', async () => {
  // DDPM (DDIM ignores the variance half) over 2 steps; the reference guides each output by hand.
  const d2 = createDiffusion('2');
  const labels = [1, 2], w = [3, 0.5], seed = 5, B = 2;
  const got = await sampleClips(model, d2, { n: B, batch: B, seed, method: 'ddpm', labels, cfg: w[0]!, cfgAudio: w[1]!, clipDenoised: false });
  const y = tensor([...labels, config.classes, config.classes], [2 * B], { dtype: 'i32' });
  const joint: JointModel = (xs, t) => {
    const [xv, xa] = xs.map((x) => A.concat([x, x], 0)) as [Tensor, Tensor];
    const out = model.forwardAV(channelsToFrames(xv), xa, [...t, ...t], y);
    return [framesToChannels(out.video), out.audio].map((o, k) => {
      const C = o.shape[1]! / 2;
      const [epsC, epsU, varC] = [A.narrow(A.narrow(o, 0, 0, B), 1, 0, C), A.narrow(A.narrow(o, 0, B, B), 1, 0, C), A.narrow(A.narrow(o, 0, 0, B), 1, C, C)];
      return A.concat([A.add(epsU, A.mul(A.sub(epsC, epsU), w[k]!)), varC], 1);
    });
  };
  const shapes = [[B, config.videoChannels, config.frames, config.videoHeight, config.videoWidth], [B, config.audioChannels, config.audioTime, config.audioFreq]];
  const noise = clipNoise(seed, 0, shapes, cpuBackend); // the clips' own streams, as sampleClips draws them
  // With the LoRAs folded in, as sampleClips runs the model (DDPM's 1/√ᾱ amplifies the two forms' rounding apart).
  const unmerge = model.mergeLoRA();
  const [xv, xa] = sampleLoopJoint(d2, joint, shapes, { method: 'ddpm', eta: 0, noise: noise.xT, stepNoise: (_s, k) => noise.step(k), clipDenoised: false }) as [Tensor, Tensor];
  unmerge();
  const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
    let worst = 0;
    for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    assert.ok(worst < 1e-5, `${what}: max difference ${worst}`);
  };
  close(got.video, A.noGrad(() => channelsToFrames(xv)).dataSync(), 'video');
  close(got.audio, xa.dataSync(), 'audio');
});
