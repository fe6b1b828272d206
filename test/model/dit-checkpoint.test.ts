// Activation checkpointing in the DiT (avdit pretrain --checkpoint): the same loss and gradients
// bit for bit, and a lower peak on the memory-accounting backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import type { Backend } from '../../engine/backend.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { randn } from '../../engine/creation.ts';
import { createMemoryBackend } from '../../engine/meta/memory-backend.ts';
import { Generator } from '../../engine/rng.ts';
import { makeConfig } from '../../model/config.ts';
import { DiT } from '../../model/dit.ts';
import { ditLoss } from '../../train/objectives.ts';
import { fillModule } from './hashfill.ts';

const config = makeConfig('tiny', { depth: 3 });

function step(backend: Backend, checkpoint: boolean, batch = 3): { loss: number[]; grads: number[][] } {
  const model = new DiT({ backend, gen: new Generator(0) }, config);
  if (backend === cpuBackend) fillModule(model);
  const images = randn([batch, config.videoChannels, config.videoHeight, config.videoWidth], { backend, generator: new Generator(5) });
  const { loss } = ditLoss(model, createDiffusion(''), images, Array.from({ length: batch }, (_, i) => 1 + (i % 3)), new Generator(7), 0.1, { checkpoint });
  A.backward(loss);
  if (backend !== cpuBackend) return { loss: [], grads: [] };
  return { loss: Array.from(loss.dataSync()), grads: model.parameters({ trainable: true }).map((p) => Array.from(p.grad!.dataSync())) };
}

test('DiT with activation checkpointing: the same loss and every gradient, bit for bit', () => {
  const plain = step(cpuBackend, false), ckpt = step(cpuBackend, true);
  assert.deepEqual(ckpt.loss, plain.loss);
  assert.equal(ckpt.grads.length, plain.grads.length);
  ckpt.grads.forEach((g, i) => assert.deepEqual(g, plain.grads[i], `gradient ${i}`));
  assert.ok(plain.grads.some((g) => g.some((v) => v !== 0)), 'non-trivial gradients');
});

test('DiT with activation checkpointing peaks lower (memory-accounting backend)', () => {
  // A batch whose activations outweigh the tiny model's parameters and their optimizer state.
  const peak = (checkpoint: boolean) => {
    const mem = createMemoryBackend();
    step(mem, checkpoint, 32);
    return mem.memory().peakBytes;
  };
  const [plain, ckpt] = [peak(false), peak(true)];
  assert.ok(ckpt < plain, `checkpointing ${ckpt} vs ${plain}`);
});
