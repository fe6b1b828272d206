// The training objectives (train/objectives.ts) around the model: AV-DiT's loss is the sum of the
// two modalities' losses with ONE t per clip shared by video, audio and the model call; DiT
// pretraining drops labels to the null class (the last embedding row) at the given rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { randn, tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { DiT } from '../../model/dit.ts';
import { avditLoss, ditLoss } from '../../train/objectives.ts';

const c = makeConfig('tiny', { depth: 1, hidden: 32, heads: 2, loraRank: 4 });
const ctx = () => ({ backend: cpuBackend, gen: new Generator(0) });

test('avditLoss: one t per clip for video noise, audio noise and the model; loss = video + audio', () => {
  const model = new AVDiT(ctx(), c);
  const diffusion = createDiffusion('');
  const qTs: number[][] = [], lossTs: number[][] = [], modelTs: number[][] = [];
  const q = diffusion.qSample.bind(diffusion), l = diffusion.lossesFromOutput.bind(diffusion);
  diffusion.qSample = (x0, t, n) => (qTs.push([...t]), q(x0, t, n));
  diffusion.lossesFromOutput = (o, x0, xt, t, n, opts) => (lossTs.push([...t]), l(o, x0, xt, t, n, opts));
  const fwd = model.forwardAV.bind(model);
  model.forwardAV = (xv, xa, t, y, o) => (modelTs.push(Array.from(t)), fwd(xv, xa, t, y, o));
  const gen = new Generator(3);
  const B = 4;
  const batch = { video: randn([B, c.frames, 4, 8, 8], { generator: gen }), audio: randn([B, 8, 8, 8], { generator: gen }), labels: tensor([10, 10, 10, 10], [B], { dtype: 'i32' }) };
  const out = A.noGrad(() => avditLoss(model, diffusion, batch, new Generator(5)));
  assert.equal(modelTs.length, 1);
  const t = modelTs[0]!;
  assert.equal(new Set(t).size, B, 'distinct t per clip (4 draws from 1000)');
  assert.deepEqual(qTs, [t, t], 'video and audio diffused at the model\'s t');
  assert.deepEqual(lossTs, [t, t], 'both losses at the model\'s t');
  const [loss, video, audio] = [out.loss, out.parts.video!, out.parts.audio!].map((x: Tensor) => x.dataSync()[0]!);
  assert.ok(Math.abs(loss - (video + audio)) <= 1e-6 * Math.abs(loss), `loss ${loss} = video ${video} + audio ${audio} (paper eq. 3)`);
  model.dispose();
});

test('ditLoss: labels dropped to the null class (index = classes, the last table row) at the given rate', () => {
  const dit = new DiT(ctx(), c);
  assert.equal(dit.yEmbedder.nullClass, c.classes);
  assert.equal(dit.yEmbedder.table.shape[0], c.classes + 1);
  let seen: number[] = [];
  dit.forward = (x: Tensor, _t: ArrayLike<number>, y: Tensor) => ((seen = Array.from(y.dataSync())), A.concat([x, x], 1)); // no model work needed here
  const B = 400;
  const images = randn([B, 4, 8, 8], { generator: new Generator(1) });
  const labels = Array.from({ length: B }, (_, i) => i % c.classes);
  const run = (p?: number) => (A.noGrad(() => ditLoss(dit, createDiffusion(''), images, labels, new Generator(9), p)), seen);
  assert.deepEqual(run(0), labels, 'nothing dropped at 0');
  assert.deepEqual(run(1), labels.map(() => c.classes), 'everything dropped at 1');
  const got = run();
  got.forEach((y, i) => assert.ok(y === labels[i] || y === c.classes, `label ${i}: ${y}`));
  const dropped = got.filter((y) => y === c.classes).length;
  // p = 0.1 over 400: mean 40, sd 6; [16, 64] is 4 sd either side.
  assert.ok(dropped >= 16 && dropped <= 64, `${dropped} of ${B} dropped, expected about 10%`);
  dit.dispose();
});
