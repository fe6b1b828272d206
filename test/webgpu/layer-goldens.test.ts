// Every layer and fused op alone against PyTorch (layer_goldens.safetensors) on the WebGPU backend
// (lavapipe in CI): output, input gradients and weight gradients to 1e-4 of each tensor's largest value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTENTION_CASES, LAYER_CASES } from '../model/layer-golden-cases.ts';
import { checkLayer } from '../model/layer-golden-check.ts';
import { useGpu } from './helpers.ts';
import { withEnvAsync } from '../env.ts';

const gpu = useGpu();

// The attention layers' cases run through the fused kernels on the CPU only (test/model/layer-goldens.test.ts):
// each of their head-dim pairs is a new set of lavapipe pipelines, minutes to compile on a fresh CI
// machine, and the WebGPU attention kernels are held to the CPU's at these head dims by
// attention.test.ts (9/72, 64) and attention-heads.test.ts (the packed and per-head layouts). Here
// they run composed (matmul + softmax + matmul, the path the model takes for long sequences on
// hardware GPUs), whose kernels the other cases compile anyway.
const CASES = LAYER_CASES.filter((c) => !ATTENTION_CASES.includes(c));

async function expectGolden(t: test.TestContext, c: (typeof LAYER_CASES)[number]): Promise<void> {
  const measures = await checkLayer(c, gpu());
  for (const m of measures) assert.ok(m.err < 1e-4, `${c.label}: ${m.what} relative error ${m.err}`);
  const worst = measures.reduce((a, b) => (b.err > a.err ? b : a));
  t.diagnostic(`worst ${worst.what} ${worst.err.toExponential(2)}`);
}

for (const c of CASES) test(`${c.label} matches PyTorch (WebGPU)`, (t) => expectGolden(t, c));

for (const c of ATTENTION_CASES) {
  test(`${c.label} through AVDIT_ATTENTION=composed matches PyTorch (WebGPU)`, (t) => withEnvAsync('AVDIT_ATTENTION', 'composed', () => expectGolden(t, c)));
}
