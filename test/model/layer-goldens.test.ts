// Every layer and fused op alone against PyTorch (layer_goldens.safetensors) on the CPU backend:
// output, input gradients and weight gradients to 1e-4 of each tensor's largest value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { LayerNorm } from '../../model/layers/layer-norm.ts';
import { LoRALinear } from '../../model/layers/lora-linear.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { DIR } from './golden-check.ts';
import { ATTENTION_CASES, LAYER_CASES } from './layer-golden-cases.ts';
import { checkLayer, type LayerCase } from './layer-golden-check.ts';
import { withEnvAsync } from '../env.ts';

const TOL = 1e-4;

async function expectGolden(t: test.TestContext, c: LayerCase): Promise<void> {
  const measures = await checkLayer(c, cpuBackend);
  for (const m of measures) assert.ok(m.err < TOL, `${c.label}: ${m.what} relative error ${m.err}`);
  const worst = measures.reduce((a, b) => (b.err > a.err ? b : a));
  t.diagnostic(`worst ${worst.what} ${worst.err.toExponential(2)}`);
}

for (const c of LAYER_CASES) test(`${c.label} matches PyTorch (CPU)`, (t) => expectGolden(t, c));

for (const c of ATTENTION_CASES) {
  test(`${c.label} through AVDIT_ATTENTION=composed matches PyTorch (CPU)`, (t) => withEnvAsync('AVDIT_ATTENTION', 'composed', () => expectGolden(t, c)));
}

test('every case of the fixture is checked', () => {
  const cases = new Set([...readSafetensors(join(DIR, 'layer_goldens.safetensors')).tensors.keys()].map((k) => k.split('.')[0]!));
  assert.deepEqual([...cases].sort(), [...new Set(LAYER_CASES.map((c) => c.fixture))].sort());
});

test('LoRALinear: keys, a frozen base, up at zero (so it starts equal to its base)', () => {
  const m = new LoRALinear({ backend: cpuBackend, gen: new Generator(1) }, 6, 5, 2);
  assert.deepEqual(m.namedParameters().map(([k, p]) => [k, [...p.shape], p.requiresGrad]), [
    ['weight', [5, 6], false], ['bias', [5], false], ['down.weight', [2, 6], true], ['up.weight', [5, 2], true],
  ]);
  assert.ok(m.up.dataSync().every((v) => v === 0));
  assert.ok(m.down.dataSync().some((v) => v !== 0));
  const x = tensor(Array.from({ length: 12 }, (_, i) => i / 7 - 0.8), [2, 6]);
  assert.deepEqual(m.forward(x).dataSync(), A.linear(x, m.weight, m.bias).dataSync());
});

test('LayerNorm: no state-dict keys, eps 1e-6', () => {
  const m = new LayerNorm();
  assert.equal(m.stateDict().size, 0);
  assert.equal(m.eps, 1e-6);
});
