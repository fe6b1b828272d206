/**
 * The AV-DiT steps the step benchmarks time, count or account (bench/gpu-xl.ts, memory-xl.ts,
 * census-xl.ts): random inputs at batch B, a denoising step (forward without grad) and a training
 * step (loss, backward, AdamW on the trainable parameters), each in its own scope.
 */
import * as A from '../autograd/index.ts';
import { createDiffusion } from '../diffusion/index.ts';
import type { Backend } from '../engine/backend.ts';
import { randn, tensor } from '../engine/creation.ts';
import { Generator } from '../engine/rng.ts';
import { scopeAsync } from '../engine/scope.ts';
import type { AVDiT } from '../model/avdit.ts';
import type { AVDiTConfig } from '../model/config.ts';
import { AdamW } from '../train/adamw.ts';
import { avditLoss } from '../train/objectives.ts';
import type { Checkpointing } from '../model/checkpointing.ts';

/** Random inputs of one AV-DiT step at batch B (video, audio, the null-class labels). */
export function stepInputs(c: AVDiTConfig, backend: Backend, generator: Generator, B: number) {
  return {
    video: randn([B, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend, generator }),
    audio: randn([B, c.audioChannels, c.audioTime, c.audioFreq], { backend, generator }),
    labels: tensor(Array<number>(B).fill(c.classes), [B], { dtype: 'i32', backend }),
  };
}

/** Step closures over one model: `forward(B)` a denoising step at t = 500, `trainStep(B, checkpoint)` a training step. */
export function modelSteps(model: AVDiT, config: AVDiTConfig, backend: Backend, gen: Generator) {
  const params = model.parameters({ trainable: true });
  const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0 });
  const diffusion = createDiffusion('');
  return {
    forward: (B: number) => () =>
      scopeAsync(async () => {
        const x = stepInputs(config, backend, gen, B);
        const out = A.noGrad(() => model.forwardAV(x.video, x.audio, Array<number>(B).fill(500), x.labels));
        await out.video.toArray();
      }),
    trainStep: (B: number, checkpoint: Checkpointing) => () =>
      scopeAsync(async () => {
        const { loss } = avditLoss(model, diffusion, stepInputs(config, backend, gen, B), new Generator(1), { checkpoint });
        A.backward(loss);
        opt.step();
        A.zeroGrad(params);
        await loss.item();
      }),
  };
}
