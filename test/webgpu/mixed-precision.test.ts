// Mixed precision (f16 matmul operands, f32 accumulation) measured against f32 on the tiny
// AV-DiT: the forward output and every trainable gradient agree to about 1e-2 relative (f16 has
// an 11-bit mantissa; errors of ~1e-3 per matmul add up over the layers). On lavapipe the plain
// f16 kernel runs; on NVIDIA the tensor-core one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import type { Backend } from '../../engine/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { inputs, relErr } from '../model/golden-check.ts';
import { fillModule, hashTensor } from '../model/hashfill.ts';
import { openPoisonedGpu } from './helpers.ts';
import { withEnvAsync } from '../env.ts';

let gpu: Backend;
before(async () => {
  gpu = await openPoisonedGpu();
});
after(async () => {
  await gpu.destroy();
});

async function run(precision: 'f32' | 'mixed'): Promise<Float32Array[]> {
  gpu.setPrecision(precision);
  const model = new AVDiT({ backend: gpu, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(model);
  const { xv, xa, t, y } = inputs(gpu);
  const out = model.forwardAV(xv, xa, t, y);
  A.backward(A.add(A.sum(A.mul(out.video, hashTensor('proj.video', [...out.video.shape], 1, gpu))), A.sum(A.mul(out.audio, hashTensor('proj.audio', [...out.audio.shape], 1, gpu)))));
  const res = [await out.video.toArray(), await out.audio.toArray()];
  for (const p of model.parameters({ trainable: true })) res.push((await p.grad!.toArray()) as Float32Array);
  model.dispose();
  gpu.setPrecision('f32');
  return res as Float32Array[];
}

/**
 * The worst relative difference between the f32 run and a mixed run made with `tuning` set on the
 * mixed attention (off: attention stays f32; emulate: the tensor-core kernels, emulated on lavapipe).
 */
async function worstMixedVsF32(tuning: 'off' | 'emulate'): Promise<number> {
  const { mixedAttentionTuning } = await import('../../kernels/attention-sgmat.ts');
  const ref = await run('f32');
  mixedAttentionTuning[tuning] = true;
  let mixed: Float32Array[];
  try {
    mixed = await run('mixed');
  } finally {
    mixedAttentionTuning[tuning] = false;
  }
  const scale = Math.max(...ref.slice(2).map((g) => Math.max(...Array.from(g, Math.abs))));
  let worst = 0;
  ref.forEach((r, i) => {
    // gradients that are ~0 in exact arithmetic are compared on the model's gradient scale
    const floor = i >= 2 ? 1e-2 * scale : 1e-30;
    worst = Math.max(worst, relErr(mixed[i]!, r, floor));
  });
  return worst;
}

test('mixed precision (matmuls; attention kept in f32) agrees with f32 to ~1e-2 on outputs and gradients', async (t) => {
  // Attention stays on the f32 kernels here on every device (on NVIDIA mixed precision would
  // otherwise move it to tensor cores: the next test covers that).
  const worst = await worstMixedVsF32('off');
  t.diagnostic(`worst relative difference mixed vs f32: ${worst.toExponential(2)}`);
  assert.ok(worst < 2e-2, `worst relative difference ${worst}`);
  assert.ok(worst > 0, 'mixed precision changed nothing: the f16 path did not run');
});

test('mixed precision with tensor-core attention (emulated on lavapipe) agrees with f32 to ~1e-2', async (t) => {
  const worst = await worstMixedVsF32('emulate');
  t.diagnostic(`worst relative difference mixed (attention on subgroup-matrix kernels) vs f32: ${worst.toExponential(2)}`);
  // With f16 attention the gradients that pass back through several attention backwards differ
  // from f32 by a few percent: f16 Q, K, V and dO feed dS = P∘(dP − D), a difference of nearly equal
  // terms. How much depends on chance more than on the code: over five cotangent projections (the
  // `proj.*` seeds) the worst tensor ranged 2.9e-2 … 7.6e-2 on lavapipe, before and after changes
  // that only reorder f32 sums (3.6e-2 on the H200 with this seed in session 5); with attention in f32
  // it stays under 1.6e-2 (the test above). The kernels alone agree with f32 to ~1e-3
  // (attention-mixed.test.ts, attention-heads.test.ts); a wrong kernel is O(1) here. PyTorch with f16
  // rounding at the same places (bench/torch_mixed_tiny.py, the same model, inputs and projections)
  // moves the same gradients by 4.3e-2 … 6.6e-2 (ours 4.7e-2 … 7.2e-2; matmuls alone 0.65–1.5e-2,
  // ours 0.58–1.6e-2): the spread is f16's, not our kernels'.
  assert.ok(worst < 1e-1, `worst relative difference ${worst}`);
});

test('mixed precision with the attention composed (its products f16 too, as hardware GPUs run the long ones) agrees with f32 to ~1e-2', async (t) => {
  const worst = await withEnvAsync('AVDIT_ATTENTION', 'composed', () => worstMixedVsF32('off'));
  t.diagnostic(`worst relative difference mixed (attention composed) vs f32: ${worst.toExponential(2)}`);
  // The scores, probabilities and their gradients stay f32; only the attention's products round
  // their operands to f16 (1.3e-2 here on lavapipe, against 1.5e-2 with the fused f32 attention
  // and 2.4e-2 with the tensor-core kernels): a bound between the two cases above.
  assert.ok(worst < 3e-2, `worst relative difference ${worst}`);
  assert.ok(worst > 0, 'mixed precision changed nothing');
});
