// Attention with heads read in place (kernels/attention-layout.ts) on the GPU against the CPU:
// attentionPacked on a packed qkv and attentionHeads on separate q, k, v, output and gradients,
// through the f32 kernels (vec4 rows at d = 8, scalar at 5; also in the batched staging GPUs run) and the tensor-core kernels
// (emulated on lavapipe), including the packed dK/dV write into one gradient buffer, also with q and k
// narrower than v in it (the temporal adapter's stacked projection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import type { Backend } from '../../engine/backend.ts';
import { tensor } from '../../engine/creation.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { mixedAttentionTuning } from '../../kernels/attention-sgmat.ts';
import { attentionTuning } from '../../kernels/attention-tiles.ts';
import { ATTENTION_DEFAULTS, attentionPath } from '../../model/layers/attention.ts';
import { relErr } from '../model/golden-check.ts';
import { assertClose, cpu, randomData, useGpu } from './helpers.ts';

const gpu = useGpu();

type Case = { what: string; shapes: number[][]; fn: (...xs: Tensor[]) => Tensor };

/** Output and input gradients (against a fixed random cotangent) on one backend. */
async function run(backend: Backend, c: Case): Promise<Float32Array[]> {
  const xs = c.shapes.map((s, i) => tensor(randomData(s.reduce((a, b) => a * b, 1), 7 + i), s, { backend, requiresGrad: true }));
  const y = c.fn(...xs);
  A.backward(A.sum(A.mul(y, tensor(randomData(y.size, 3), y.shape, { backend }))));
  return [await y.toArray(), ...(await Promise.all(xs.map((x) => x.grad!.toArray())))] as Float32Array[];
}

// Few cases and narrow heads on purpose: each layout variant is a new pipeline, the kernels unroll
// over the head dim, and lavapipe compiles slowly (the model's golden tests run d = 72 layouts too).
const CASES: Case[] = [
  // one packed buffer: q, k, v column blocks, vec4 rows, dK/dV through one writable binding
  { what: 'packed, d 8', shapes: [[2, 19, 3 * 2 * 8]], fn: (qkv) => A.attentionPacked(qkv!, 2) },
  // separate q, k, v: l ≠ s, scalar q/k rows (d 5) beside vec4 v rows (8), as the temporal adapter's 9/72
  { what: 'heads, 5/8, l 16, s 21', shapes: [[3, 16, 2 * 5], [3, 21, 2 * 5], [3, 21, 2 * 8]], fn: (q, k, v) => A.attentionHeads(q!, k!, v!, 2) },
  // one packed buffer with q, k narrower than v: vec4 rows everywhere at 4/8 (the temporal adapter's
  // padded 12/72); at 5/8 q/k rows are scalar and v's vec4, so dK/dV (one binding) go scalar
  { what: 'packed narrow, 4/8', shapes: [[3, 16, 2 * (2 * 4 + 8)]], fn: (qkv) => A.attentionPacked(qkv!, 2, { dqk: 4 }) },
  { what: 'packed narrow, 5/8', shapes: [[3, 16, 2 * (2 * 5 + 8)]], fn: (qkv) => A.attentionPacked(qkv!, 2, { dqk: 5, scale: 0.3 }) },
  // [B, L, G, W]: the temporal adapter's frames read in place (sequences across the third axis)
  { what: 'packed narrow grouped, 4/8, G 5', shapes: [[2, 16, 5, 2 * (2 * 4 + 8)]], fn: (qkv) => A.attentionPacked(qkv!, 2, { dqk: 4 }) },
];

test('attentionPacked / attentionHeads on the GPU (f32 kernels) match the CPU', async () => {
  for (const c of CASES) {
    const [want, got] = [await run(cpu, c), await run(gpu(), c)];
    want.forEach((w, i) => assertClose(got[i]!, w, 2e-3, 2e-4, `${c.what}: ${i === 0 ? 'output' : `gradient ${i - 1}`}`));
  }
});

test('the same with the f32 kernels in the form GPUs run (batched staging), packed', async () => {
  // The XL model's attention is a packed qkv read in place, staged with batched loads on a GPU.
  attentionTuning.batchedStaging = true;
  try {
    const c = CASES[0]!;
    const [want, got] = [await run(cpu, c), await run(gpu(), c)];
    want.forEach((w, i) => assertClose(got[i]!, w, 2e-3, 2e-4, `${c.what}, batched: ${i === 0 ? 'output' : `gradient ${i - 1}`}`));
  } finally {
    attentionTuning.batchedStaging = undefined;
  }
});

test('the same on the tensor-core kernels (emulated on lavapipe), packed and separate heads', async () => {
  const g = gpu();
  mixedAttentionTuning.emulate = true;
  g.setPrecision('mixed');
  try {
    // Narrow heads: the emulated fragments unroll per 16 columns, and lavapipe compiles them slowly.
    const narrow: Case[] = [
      { what: 'packed, d 16', shapes: [[2, 19, 3 * 2 * 16]], fn: (qkv) => A.attentionPacked(qkv!, 2) },
      { what: 'heads, 9/16, l 16, s 21', shapes: [[3, 16, 2 * 9], [3, 21, 2 * 9], [3, 21, 2 * 16]], fn: (q, k, v) => A.attentionHeads(q!, k!, v!, 2) },
      { what: 'packed narrow, 12/16', shapes: [[3, 16, 2 * (2 * 12 + 16)]], fn: (qkv) => A.attentionPacked(qkv!, 2, { dqk: 12, scale: 1 / 3 }) },
      { what: 'packed narrow grouped, 12/16, G 3', shapes: [[2, 16, 3, 2 * (2 * 12 + 16)]], fn: (qkv) => A.attentionPacked(qkv!, 2, { dqk: 12, scale: 1 / 3 }) },
    ];
    for (const c of narrow) {
      const [want, got] = [await run(cpu, c), await run(g, c)];
      // f16 operands: ~1e-3 of each output's scale (as attention-mixed.test.ts).
      want.forEach((w, i) => {
        const e = relErr(got[i]!, w, 1e-30);
        if (!(e < 6e-3)) throw new Error(`${c.what}: ${i === 0 ? 'output' : `gradient ${i - 1}`} off by ${e} of its scale`);
      });
    }
  } finally {
    g.setPrecision('f32');
    mixedAttentionTuning.emulate = false;
  }
});

test('the same in f32 through the x3 split (emulated on lavapipe): a packed qkv, narrow q/k, frames in place', async () => {
  // One absmax pass over the packed buffer serves q, k and v (kernels/attention-sgmat.ts x3Maxima);
  // dK/dV go through one writable binding; the errors stay at f32's (the CPU's own: ~1e-7 … 1e-6).
  const g = gpu();
  mixedAttentionTuning.emulate = true;
  mixedAttentionTuning.x3 = true;
  try {
    const c: Case = { what: 'packed narrow grouped, 12/16, G 3', shapes: [[2, 16, 3, 2 * (2 * 12 + 16)]], fn: (qkv) => A.attentionPacked(qkv!, 2, { dqk: 12, scale: 1 / 3 }) };
    const [want, got] = [await run(cpu, c), await run(g, c)];
    want.forEach((w, i) => {
      const e = relErr(got[i]!, w, 1e-30);
      if (!(e < 5e-6)) throw new Error(`${c.what}, x3: ${i === 0 ? 'output' : `gradient ${i - 1}`} off by ${e} of its scale`);
    });
  } finally {
    mixedAttentionTuning.emulate = false;
    mixedAttentionTuning.x3 = false;
  }
});

test("the model's default attention path on this adapter: composed for long sequences on a hardware GPU, fused on a software one", () => {
  const b = gpu() as Backend & { ctx: { features: { software: boolean } } };
  assert.equal(b.hardwareGpu, !b.ctx.features.software);
  const long = ATTENTION_DEFAULTS.composedFromOnGpus ?? 1e9;
  assert.equal(attentionPath(undefined, long, b), b.hardwareGpu ? 'composed' : 'fused');
  assert.equal(attentionPath(undefined, 16, b), 'fused');
});
