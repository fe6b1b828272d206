// DDPM and DDIM steps and loops against float64 goldens, classifier-free guidance, timesteps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { Generator } from '../../engine/rng.ts';
import type { Tensor } from '../../engine/tensor.ts';
import {
  classifierFreeGuidance,
  createDiffusion,
  ddimSampleFromOutput,
  ddimSampleLoop,
  pSample,
  pSampleFromOutput,
  pSampleLoop,
  sampleLoopJoint,
  sampleTimesteps,
} from '../../diffusion/index.ts';
import { assertClose, cpu, golden, OUT_SHAPE, SHAPE, values } from './golden.ts';

const out = () => cpu(golden.modelOutput, OUT_SHAPE);
const size = SHAPE.reduce((a, b) => a * b, 1);

/** The toy denoiser of make_diffusion_golden.py: [tanh(x)·s, 0.9·sin(x + s)], s = ½ + t/2000. */
function toyModel(x: Tensor, t: number[]): Tensor {
  const s = cpu(t.map((v) => 0.5 + v / 2000), [t.length, ...x.shape.slice(1).map(() => 1)], x.dtype);
  return A.concat([A.mul(A.tanh(x), s), A.mul(A.sin(A.add(x, s)), 0.9)], 1);
}

for (const c of golden.pSample) {
  test(`p_sample step, respacing "${c.respacing}", t = [${c.t}], fixed noise`, () => {
    const d = createDiffusion(c.respacing);
    const r = pSampleFromOutput(d, out(), cpu(golden.stepX, SHAPE), c.t, { noise: cpu(golden.stepNoise, SHAPE) });
    assertClose(values(r.sample), c.sample, 'sample');
    assertClose(values(r.predXstart), c.predXstart, 'pred x0');
  });
}

for (const c of golden.ddim) {
  test(`DDIM step on "ddim50", eta ${c.eta}, t = [${c.t}]`, () => {
    const d = createDiffusion('ddim50');
    const r = ddimSampleFromOutput(d, out(), cpu(golden.stepX, SHAPE), c.t, { eta: c.eta, noise: cpu(golden.stepNoise, SHAPE) });
    assertClose(values(r.sample), c.sample, 'sample');
    assertClose(values(r.predXstart), c.predXstart, 'pred x0');
  });
}

test('p_sample through a model callback gets the original timesteps and draws noise from the generator', () => {
  const d = createDiffusion('250');
  const seen: number[][] = [];
  const g = new Generator(7);
  const x = cpu(golden.stepX, SHAPE);
  const a = pSample(d, (_x, t) => (seen.push(t), out()), x, [123, 0], { generator: g }).sample;
  assert.deepEqual(seen, [[d.timestepMap[123], 0]]);
  assert.equal(g.offset, size);
  const b = pSample(d, () => out(), x, [123, 0], { generator: new Generator(7) }).sample;
  assert.deepEqual(values(a), values(b));
});

test('DDIM loop ("ddim10", eta 0) with the toy model matches the golden and draws no noise', () => {
  const d = createDiffusion('ddim10');
  const g = new Generator(1);
  const steps: { step: number; t: number; tOriginal: number }[] = [];
  const x = ddimSampleLoop(d, toyModel, SHAPE, {
    noise: cpu(golden.loopXT, SHAPE),
    generator: g,
    onStep: ({ step, total, t, tOriginal }) => (assert.equal(total, 10), steps.push({ step, t, tOriginal })),
  });
  assertClose(values(x), golden.ddimLoop, 'ddim loop');
  assert.equal(g.offset, 0);
  assert.deepEqual(steps.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(steps.map((s) => s.t), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  assert.deepEqual(steps.map((s) => s.tOriginal), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
});

test('DDPM loop ("10") with the toy model and fixed step noises matches the golden', () => {
  const d = createDiffusion('10');
  const noiseAt = (step: number) => cpu(golden.ddpmLoopNoises.slice(step * size, (step + 1) * size), SHAPE);
  const x = pSampleLoop(d, toyModel, SHAPE, { noise: cpu(golden.loopXT, SHAPE), stepNoise: noiseAt });
  assertClose(values(x), golden.ddpmLoop, 'ddpm loop');
  assert.equal(x.requiresGrad, false);
});

test('joint loop: two tensors in one model call equal two separate loops; seeded loops repeat', () => {
  const d = createDiffusion('ddim10');
  const audioShape = [2, 2, 3, 5];
  const a0 = cpu(Array.from({ length: 60 }, (_, i) => Math.sin(i)), audioShape);
  let calls = 0;
  const [v, a] = sampleLoopJoint(d, (xs, t) => (calls++, xs.map((x) => toyModel(x, t))), [SHAPE, audioShape], {
    method: 'ddim',
    noise: [cpu(golden.loopXT, SHAPE), a0],
  });
  assert.equal(calls, 10);
  assertClose(values(v!), golden.ddimLoop, 'video part');
  assertClose(values(a!), values(ddimSampleLoop(d, toyModel, audioShape, { noise: a0 })), 'audio part', 0, 0);
  const r1 = pSampleLoop(createDiffusion('10'), toyModel, SHAPE, { generator: new Generator(3), dtype: 'f64' });
  const r2 = pSampleLoop(createDiffusion('10'), toyModel, SHAPE, { generator: new Generator(3), dtype: 'f64' });
  assert.deepEqual(values(r1), values(r2));
  assert.throws(() => sampleLoopJoint(d, (xs) => xs, [SHAPE], {}), /expected \[2,6,4,4\]/);
});

test('classifier-free guidance: ε = u + w(c − u) on every ε channel, variance from the cond half', () => {
  const x = cpu(golden.stepX, SHAPE);
  const base = out();
  // The doubled model: first B rows "conditional" = base + 1 on every channel, last B = base.
  let seenT: number[] = [];
  const doubled = (xx: Tensor, t: number[]): Tensor => {
    seenT = t;
    assert.deepEqual(xx.shape, [4, ...SHAPE.slice(1)]);
    return A.concat([A.add(base, 1), base], 0);
  };
  const w = 4;
  const g = classifierFreeGuidance(doubled, w)(x, [5, 6]);
  assert.deepEqual(seenT, [5, 6, 5, 6]);
  assert.deepEqual(g.shape, OUT_SHAPE);
  const b = values(base);
  const got = values(g);
  const per = SHAPE.slice(1).reduce((p, q) => p * q, 1);
  got.forEach((val, i) => {
    const inEps = i % (2 * per) < per;
    assert.ok(Math.abs(val - (b[i]! + (inEps ? w : 1))) < 1e-12, `element ${i}`);
  });
  const one = values(classifierFreeGuidance(doubled, 1)(x, [5, 6]));
  one.forEach((val, i) => assert.ok(Math.abs(val - (b[i]! + 1)) < 1e-12));
});

test('sampleTimesteps: uniform integers in [0, T), reproducible from the generator', () => {
  const t = sampleTimesteps(4096, 1000, new Generator(11));
  assert.ok(t.every((v) => Number.isInteger(v) && v >= 0 && v < 1000));
  assert.ok(new Set(t).size > 900);
  const meanT = t.reduce((a, b) => a + b, 0) / t.length;
  assert.ok(Math.abs(meanT - 499.5) < 15, `mean ${meanT}`);
  assert.deepEqual(sampleTimesteps(8, 1000, new Generator(11)), t.slice(0, 8));
});
