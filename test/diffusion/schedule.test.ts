// The schedule, its derived arrays and respacing against float64 goldens from ADM's maths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linearBetas, makeSchedule, respace, spaceTimesteps, createDiffusion, type Schedule } from '../../diffusion/index.ts';
import { assertClose, golden } from './golden.ts';

test('linear schedule: every derived array at sampled indices', () => {
  const s = makeSchedule(linearBetas(1000));
  assert.equal(s.numTimesteps, 1000);
  assert.equal(s.betas[0], 1e-4);
  assert.equal(s.betas[999], 0.02);
  const { indices, ...arrays } = golden.schedule;
  for (const [name, want] of Object.entries(arrays)) {
    const arr = s[name as keyof Schedule] as Float64Array;
    assert.ok(arr instanceof Float64Array, `${name} is a Float64Array`);
    assertClose(indices.map((i) => arr[i]!), want, name, 1e-12, 1e-300);
  }
  // log β̃ at t = 0 is clipped to log β̃_1; the next ᾱ at the end is 0.
  assert.equal(s.posteriorLogVarianceClipped[0], Math.log(s.posteriorVariance[1]!));
  assert.equal(s.posteriorVariance[0], 0);
  assert.equal(s.alphasCumprodNext[999], 0);
});

test('ADM scaling of the linear schedule for other step counts', () => {
  assertClose(linearBetas(100), golden.linearBetas100, 'linearBetas(100)', 1e-14, 0);
});

test('spaceTimesteps: sections, ddim striding, errors', () => {
  assert.deepEqual(spaceTimesteps(300, '10,15,20'), golden.spaceTimesteps300_10_15_20);
  assert.deepEqual(spaceTimesteps(300, [10, 15, 20]), golden.spaceTimesteps300_10_15_20);
  assert.deepEqual(spaceTimesteps(1000, 'ddim10'), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  assert.equal(spaceTimesteps(1000, '').length, 1000);
  // Python's round() takes halves to the even neighbour (ADM's int(round(cur_idx))): 166.5 → 166.
  assert.deepEqual(spaceTimesteps(1000, '7'), [0, 166, 333, 500, 666, 832, 999]);
  assert.deepEqual(spaceTimesteps(6, '3'), [0, 2, 5]);
  assert.throws(() => spaceTimesteps(1000, 'ddim999'), /integer stride/);
  assert.throws(() => spaceTimesteps(10, '11'), /cannot divide/);
  assert.throws(() => spaceTimesteps(10, 'x'), /bad section count/);
});

for (const spec of ['250', 'ddim50', '10', 'ddim10']) {
  test(`respacing "${spec}": timestep map and new betas`, () => {
    const base = makeSchedule(linearBetas(1000));
    const want = golden.respace[spec]!;
    const r = respace(base.alphasCumprod, spaceTimesteps(1000, spec));
    assert.deepEqual(Array.from(r.timestepMap), want.timestepMap);
    assertClose(r.betas, want.betas, `betas ${spec}`, 1e-12, 0);
    // The respaced chain keeps ᾱ at every kept step.
    const s = makeSchedule(r.betas);
    r.timestepMap.forEach((orig, i) => assert.ok(Math.abs(s.alphasCumprod[i]! - base.alphasCumprod[orig]!) < 1e-15));
    const d = createDiffusion(spec);
    assert.equal(d.numTimesteps, want.betas.length);
    assert.deepEqual(Array.from(d.timestepMap), want.timestepMap);
  });
}
