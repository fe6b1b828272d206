// The tiny AV-DiT and DiT on the WebGPU backend (lavapipe in CI) against the same PyTorch fixtures.
import { after, before, test } from 'node:test';
import type { Backend } from '../../engine/backend.ts';
import { checkAVDiTGolden, checkDiTGolden, NONSQUARE } from '../model/golden-check.ts';
import { openPoisonedGpu } from './helpers.ts';
import { withEnvAsync } from '../env.ts';

let gpu: Backend;
before(async () => {
  gpu = await openPoisonedGpu();
});
after(async () => {
  await gpu.destroy();
});

test('tiny AV-DiT forward and trainable gradients match PyTorch (WebGPU)', () => checkAVDiTGolden(gpu));

test('with the per-frame fusion too (WebGPU)', () => checkAVDiTGolden(gpu, 'frames'));

test('on grids square in neither branch (WebGPU)', () => checkAVDiTGolden(gpu, 'pooled', NONSQUARE));

test('tiny class-conditional DiT forward matches PyTorch (WebGPU)', () => checkDiTGolden(gpu));

// The composed attention (matmul + softmax + matmul: the path a hardware GPU takes for long
// sequences, model/layers/attention.ts attentionPath) through the whole model, every length.
test('with every attention composed, as hardware GPUs run the long ones (WebGPU)', () =>
  withEnvAsync('AVDIT_ATTENTION', 'composed', () => checkAVDiTGolden(gpu, 'frames')));
