// q_sample, learned-range p_mean_variance and the hybrid loss against float64 goldens, and the
// gradient property of the hybrid loss: the VLB term reaches only the variance half.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { createDiffusion, GaussianDiffusion, linearBetas } from '../../diffusion/index.ts';
import { assertClose, cpu, golden, OUT_SHAPE, SHAPE, values } from './golden.ts';

const d = createDiffusion('');
const [B, C] = [SHAPE[0]!, SHAPE[1]!];
const perSample = SHAPE.slice(1).reduce((a, b) => a * b, 1);

test('createDiffusion("") equals the plain 1000-step linear diffusion', () => {
  const plain = new GaussianDiffusion(linearBetas(1000));
  assertClose(d.schedule.betas, plain.schedule.betas, 'betas', 1e-12, 0);
});

for (const c of golden.loss) {
  test(`t = [${c.t}]: q_sample, p_mean_variance, loss terms (f64)`, () => {
    const x0 = cpu(golden.x0, SHAPE);
    const noise = cpu(golden.noise, SHAPE);
    const out = cpu(golden.modelOutput, OUT_SHAPE);
    const xt = d.qSample(x0, c.t, noise);
    assertClose(values(xt), c.xt, 'x_t');
    const p = d.pMeanVariance(out, xt, c.t, { clipDenoised: false });
    assertClose(values(p.mean), c.pMean, 'mean');
    assertClose(values(p.logVariance), c.pLogVariance, 'log variance');
    assertClose(values(p.predXstart), c.predXstart, 'pred x0');
    const l = d.lossesFromOutput(out, x0, xt, c.t, noise);
    assertClose(values(l.mse), c.mse, 'mse');
    assertClose(values(l.vb), c.vb, 'vb');
    assertClose(values(l.loss), c.loss, 'loss');
  });

  test(`t = [${c.t}]: the same in f32 (1e-5 relative)`, () => {
    const x0 = cpu(golden.x0, SHAPE, 'f32');
    const noise = cpu(golden.noise, SHAPE, 'f32');
    const out = cpu(golden.modelOutput, OUT_SHAPE, 'f32');
    const l = d.trainingLosses(() => out, x0, c.t, noise);
    assertClose(values(l.xt), c.xt, 'x_t f32', 1e-5, 1e-6);
    assertClose(values(l.loss), c.loss, 'loss f32', 1e-5, 1e-6);
  });
}

test('trainingLosses calls the model with x_t and the original timesteps of a respaced diffusion', () => {
  const r = createDiffusion('ddim50');
  const seen: number[][] = [];
  const x0 = cpu(golden.x0, SHAPE);
  r.trainingLosses((x, t) => (seen.push(t), A.concat([x, x], 1)), x0, [0, 49], cpu(golden.noise, SHAPE));
  assert.deepEqual(seen, [[0, 980]]);
  assert.throws(() => r.trainingLosses(() => x0, x0, [0, 1], x0), /expected \[2,6,4,4\]/);
  assert.throws(() => r.qSample(x0, [0, 50], x0), /not an integer in \[0, 50\)/);
  assert.throws(() => r.qSample(x0, [0], x0), /1 timesteps for a batch of 2/);
});

// ---------- gradients ----------

const c0 = golden.loss[0]!; // t = [0, 537]: decoder NLL and KL

/** The fixture's ε half and v half as flat arrays ([B, C, …] each). */
function halves(): [number[], number[]] {
  const eps: number[] = [];
  const v: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = golden.modelOutput.slice(b * 2 * perSample, (b + 1) * 2 * perSample);
    eps.push(...row.slice(0, perSample));
    v.push(...row.slice(perSample));
  }
  return [eps, v];
}

function lossOf(t: number[], pick: 'loss' | 'mse' | 'vb') {
  const x0 = cpu(golden.x0, SHAPE).keep();
  const noise = cpu(golden.noise, SHAPE).keep();
  const xt = A.noGrad(() => d.qSample(x0, t, noise)).keep();
  return (eps: Tensor, v: Tensor): Tensor => d.lossesFromOutput(A.concat([eps, v], 1), x0, xt, t, noise)[pick];
}

for (const t of [c0.t, [3, 0], [999, 1]]) {
  test(`t = [${t}]: gradcheck of the loss w.r.t. the variance half v (f64)`, () => {
    const [eps, v] = halves();
    const r = gradcheck(lossOf(t, 'loss'), [
      { shape: SHAPE, data: eps, grad: false },
      { shape: SHAPE, data: v, grad: true },
    ]);
    assert.ok(r.maxRelError < 1e-6, `relative error ${r.maxRelError}`);
  });
}

test('the ε half gets the MSE gradient only: the VLB mean is detached ("frozen_out")', () => {
  const [eps, v] = halves();
  const t = c0.t;
  // 1. Analytic: ∂(Σ_b loss_b)/∂ε = 2(ε − noise)/(C·H·W) exactly, and ∂/∂v ≠ 0.
  const out = cpu(golden.modelOutput, OUT_SHAPE);
  out.requiresGrad = true;
  const x0 = cpu(golden.x0, SHAPE);
  const noise = cpu(golden.noise, SHAPE);
  const xt = d.qSample(x0, t, noise);
  A.backward(A.sum(d.lossesFromOutput(out, x0, xt, t, noise).loss));
  const g = values(out.grad!);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < perSample; j++) {
      const i = b * perSample + j;
      const want = (2 * (eps[i]! - golden.noise[i]!)) / perSample;
      assert.ok(Math.abs(g[b * 2 * perSample + j]! - want) <= 1e-15, `ε grad ${i}: ${g[b * 2 * perSample + j]} vs ${want}`);
    }
    const vGrad = g.slice(b * 2 * perSample + perSample, (b + 1) * 2 * perSample);
    // (small at t = 537, where β_t and β̃_t, the ends of the learned range, nearly coincide)
    assert.ok(vGrad.some((x) => Math.abs(x) > 1e-10), 'v gets a VLB gradient');
  }
  // 2. Finite differences agree with this for the MSE term alone…
  const mseCheck = gradcheck(lossOf(t, 'mse'), [
    { shape: SHAPE, data: eps, grad: true },
    { shape: SHAPE, data: v, grad: false },
  ]);
  assert.ok(mseCheck.maxRelError < 1e-6, `mse gradcheck ${mseCheck.maxRelError}`);
  // 3. …but not for the whole loss: its value does depend on ε through the VLB's mean, whose
  // gradient is deliberately blocked. And the vb term alone has an exactly zero ε gradient.
  const totalCheck = gradcheck(lossOf(t, 'loss'), [
    { shape: SHAPE, data: eps, grad: true },
    { shape: SHAPE, data: v, grad: false },
  ]);
  assert.ok(totalCheck.maxRelError > 1e-2, `total-loss ε gradient should differ from finite differences (got ${totalCheck.maxRelError})`);
  const e = cpu(eps, SHAPE);
  e.requiresGrad = true;
  const vv = cpu(v, SHAPE);
  vv.requiresGrad = true;
  A.backward(A.sum(lossOf(t, 'vb')(e, vv)));
  assert.ok(e.grad === null || values(e.grad).every((x) => x === 0), 'vb gives ε no gradient');
  assert.ok(values(vv.grad!).some((x) => x !== 0), 'vb gives v a gradient');
});

// ---------- Min-SNR-γ weighting ----------

test('min-SNR-γ: w = min(SNR, γ)/SNR per sample, and loss = w·mse + vb with mse and vb unchanged', () => {
  const gamma = 5;
  const t = [0, 537];
  const ab = t.map((i) => d.schedule.alphasCumprod[i]!);
  const snr = ab.map((a) => a / (1 - a));
  // t = 0 is almost clean (SNR ≈ 1e4): weight γ/SNR; t = 537 is noisier than SNR 5: weight 1.
  assert.ok(snr[0]! > gamma && snr[1]! < gamma);
  const x0 = cpu(golden.x0, SHAPE), noise = cpu(golden.noise, SHAPE), out = cpu(golden.modelOutput, OUT_SHAPE);
  const w = d.minSnrWeights(t, gamma, x0);
  assertClose(Float64Array.from(w), Float64Array.from([gamma / snr[0]!, 1]), 'weights', 1e-12, 0);
  const xt = d.qSample(x0, t, noise);
  const plain = d.lossesFromOutput(out, x0, xt, t, noise);
  const weighted = d.lossesFromOutput(out, x0, xt, t, noise, { minSnrGamma: gamma });
  assertClose(values(weighted.mse), values(plain.mse), 'mse');
  assertClose(values(weighted.vb), values(plain.vb), 'vb');
  const mse = values(plain.mse), vb = values(plain.vb);
  assertClose(values(weighted.loss), Float64Array.from([0, 1], (b) => w[b]! * mse[b]! + vb[b]!), 'loss');
  assert.throws(() => d.minSnrWeights(t, 0, x0), /gamma must be > 0/);
});
