// Layers against the PyTorch golden (layers_golden.safetensors): sincos tables, timestep
// frequencies, patch embedding = stride-p Conv2d, attention with LoRA (output and gradients);
// and the module system's state-dict errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor, zeros } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { Attention, ATTENTION_DEFAULTS, attentionPath } from '../../model/layers/attention.ts';
import { PatchEmbed, TimestepEmbedder } from '../../model/layers/embed.ts';
import { LoRA } from '../../model/layers/linear.ts';
import { sincos1d, sincos2d } from '../../model/layers/posembed.ts';
import { Module } from '../../model/module.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { assertClose } from '../oracle.ts';

const L = readSafetensors(join(import.meta.dirname, '../fixtures/model/layers_golden.safetensors')).tensors;
const g = (k: string) => L.get(k)!;
const ctx = () => ({ backend: cpuBackend, gen: new Generator(0) });

test('sincos position tables equal DiT/MAE get_1d/2d_sincos_pos_embed', () => {
  assertClose(sincos1d(64, [0, 1, 2, 3, 4]), g('sincos1d_64_5').data, 1e-6, 1e-7, 'sincos1d');
  assertClose(sincos2d(64, 4, 3), g('sincos2d_64_4x3').data, 1e-6, 1e-7, 'sincos2d (4 rows × 3 columns)');
});

test('timestep frequencies equal DiT timestep_embedding (cos first)', () => {
  assertClose(TimestepEmbedder.frequencies([10, 537], cpuBackend).dataSync(), g('timestep_freq').data, 1e-5, 1e-6, 'timestep');
});

test('PatchEmbed equals Conv2d(stride p) flattened to tokens', () => {
  const pe = new PatchEmbed(ctx(), 3, 5, 2);
  pe.weight.assign(tensor(g('conv_w').data, [5, 3, 2, 2]));
  pe.bias.assign(tensor(g('conv_b').data, [5]));
  assertClose(pe.forward(tensor(g('conv_x').data, [2, 3, 4, 6])).dataSync(), g('conv_out').data, 1e-5, 1e-6, 'patch embed');
});

test('Attention with LoRA: output and every gradient match PyTorch', () => checkAttentionGolden());

test('AVDIT_ATTENTION=composed (matmul + softmax + matmul), or composed from N queries on, matches the same PyTorch golden; junk is refused', async () => {
  process.env.AVDIT_ATTENTION = 'composed';
  try {
    assert.equal(attentionPath(), 'composed');
    await checkAttentionGolden();
  } finally {
    delete process.env.AVDIT_ATTENTION;
  }
  assert.equal(attentionPath(), 'fused');
  assert.throws(() => attentionPath('flash'), /AVDIT_ATTENTION must be fused, composed or composed:N \(composed from N queries on\), got "flash"/);
  assert.throws(() => attentionPath('composed:'), /got "composed:"/);
  // composed:N: composed from N queries on, fused below (the golden's sequences are 5 long: both ways).
  assert.deepEqual([attentionPath('composed:64', 16), attentionPath('composed:64', 64), attentionPath('composed:64', 256)], ['fused', 'composed', 'composed']);
  for (const env of ['composed:5', 'composed:6']) {
    process.env.AVDIT_ATTENTION = env;
    try {
      await checkAttentionGolden();
    } finally {
      delete process.env.AVDIT_ATTENTION;
    }
  }
});

test('unset AVDIT_ATTENTION: composed from ATTENTION_DEFAULTS.composedFromOnGpus queries on hardware GPUs only; the variable overrides it', () => {
  const gpu = { hardwareGpu: true }, soft = { hardwareGpu: false };
  const from = ATTENTION_DEFAULTS.composedFromOnGpus;
  assert.equal(from, 64);
  assert.deepEqual([attentionPath(undefined, 16, gpu), attentionPath(undefined, 64, gpu), attentionPath('', 416, gpu)], ['fused', 'composed', 'composed']);
  // The CPU backend (no flag), a software adapter, or no backend named: fused at every length.
  assert.deepEqual([attentionPath(undefined, 416, {}), attentionPath(undefined, 416, soft), attentionPath(undefined, 416)], ['fused', 'fused', 'fused']);
  assert.equal(attentionPath('fused', 416, gpu), 'fused');
  assert.equal(attentionPath('composed', 16, soft), 'composed');
  assert.equal(attentionPath('composed:256', 160, gpu), 'fused');
  // Nor f32 scores of composedMaxScoreBytes or more in one call (XL's spatial attention at batch 16
  // is 1 GiB: composed; at 32, 2 GiB, which no NVIDIA binding holds: fused); the variable's choice
  // stands regardless.
  assert.equal(ATTENTION_DEFAULTS.composedMaxScoreBytes, 2 ** 31);
  const xlScores = (batch: number) => batch * 16 * 16 * 256 * 256; // (batch × frames) sequences × 16 heads × 256²
  assert.deepEqual([attentionPath(undefined, 256, gpu, xlScores(31)), attentionPath(undefined, 256, gpu, xlScores(32)), attentionPath('composed', 256, gpu, xlScores(64))], ['composed', 'fused', 'composed']);
  // and a GPU that binds less (maxTensorBytes) keeps the fused kernels sooner
  const small = { hardwareGpu: true, maxTensorBytes: 2 ** 27 };
  assert.deepEqual([attentionPath(undefined, 256, small, 2 ** 25), attentionPath(undefined, 256, small, 2 ** 25 + 1)], ['composed', 'fused']);
  try {
    ATTENTION_DEFAULTS.composedFromOnGpus = null;
    assert.equal(attentionPath(undefined, 416, gpu), 'fused');
  } finally {
    ATTENTION_DEFAULTS.composedFromOnGpus = from;
  }
  // The backends say what they are: the CPU backend is no GPU.
  assert.ok(!cpuBackend.hardwareGpu);
});

function checkAttentionGolden(): Promise<void> {
  const attn = new Attention(ctx(), 16, 2);
  const lora = new (class extends Module {
    readonly qkv = this.child('qkv', new LoRA(ctx(), 16, 48, 4));
    readonly proj = this.child('proj', new LoRA(ctx(), 16, 16, 4));
  })();
  const params = new Map([...attn.namedParameters().map(([k, p]) => ['attn.' + k, p] as const), ...lora.namedParameters().map(([k, p]) => ['lora.' + k, p] as const)]);
  for (const [k, p] of params) {
    p.assign(tensor(g('attn_param.' + k).data, [...p.shape]));
    p.requiresGrad = true;
  }
  const x = tensor(g('attn_x').data, [2, 5, 16], { requiresGrad: true });
  const out = attn.forward(x, lora);
  assertClose(out.dataSync(), g('attn_out').data, 1e-4, 1e-5, 'attention output');
  // the same projection as the script: hashfill('layer.attn_r')
  return import('./hashfill.ts').then(({ hashTensor }) => {
    A.backward(A.sum(A.mul(out, hashTensor('layer.attn_r', [2, 5, 16], 1))));
    assertClose(x.grad!.dataSync(), g('attn_dx').data, 1e-4, 1e-5, 'dx');
    for (const [k, p] of params) assertClose(p.grad!.dataSync(), g('attn_grad.' + k).data, 1e-4, 1e-5, `grad ${k}`);
  });
}

test('a LoRA folded into its frozen layer (merge) gives the PyTorch output; recording through it, or another layer, is refused', () => {
  const attn = new Attention(ctx(), 16, 2);
  const lora = new (class extends Module {
    readonly qkv = this.child('qkv', new LoRA(ctx(), 16, 48, 4));
    readonly proj = this.child('proj', new LoRA(ctx(), 16, 16, 4));
  })();
  const params = new Map([...attn.namedParameters().map(([k, p]) => ['attn.' + k, p] as const), ...lora.namedParameters().map(([k, p]) => ['lora.' + k, p] as const)]);
  for (const [k, p] of params) p.assign(tensor(g('attn_param.' + k).data, [...p.shape]));
  const x = tensor(g('attn_x').data, [2, 5, 16]);
  lora.qkv.merge(attn.qkv);
  lora.proj.merge(attn.proj);
  assertClose(A.noGrad(() => attn.forward(x, lora)).dataSync(), g('attn_out').data, 1e-4, 1e-5, 'merged attention output');
  assert.throws(() => attn.forward(x, lora), /merged for inference, so no gradient would reach down and up/);
  assert.throws(() => A.noGrad(() => lora.proj.apply(attn.qkv, x)), /merged into another layer/);
  assert.throws(() => lora.proj.merge(attn.qkv), /update \[16, 16\] does not fit weight \[48, 16\]/);
  lora.qkv.unmerge();
  lora.proj.unmerge();
  assert.equal(lora.qkv.merged, false);
  assertClose(attn.forward(x, lora).dataSync(), g('attn_out').data, 1e-4, 1e-5, 'unmerged again');
});

test('loadStateDict lists missing, unexpected and mis-shaped keys', () => {
  const attn = new Attention(ctx(), 16, 2);
  const sd = attn.stateDict();
  sd.delete('qkv.bias');
  sd.set('qkv.extra', zeros([1]));
  sd.set('proj.weight', zeros([3, 3]));
  assert.throws(() => attn.loadStateDict(sd), (e: Error) =>
    /mis-shaped keys:\n  proj.weight: checkpoint \[3, 3\], model \[16, 16\]/.test(e.message) && /missing keys \(1\):\n  qkv.bias/.test(e.message) && /unexpected keys \(1\):\n  qkv.extra/.test(e.message));
  assert.deepEqual(attn.count(), { total: 16 * 48 + 48 + 16 * 16 + 16, trainable: 16 * 48 + 48 + 16 * 16 + 16, frozen: 0 });
  attn.freeze((k) => k.endsWith('weight'));
  assert.equal(attn.parameters({ trainable: true }).length, 2);
  // Counts per sub-module.
  assert.deepEqual(Object.fromEntries(attn.countByChild()), {
    qkv: { total: 16 * 48 + 48, trainable: 48, frozen: 16 * 48 },
    proj: { total: 16 * 16 + 16, trainable: 16, frozen: 16 * 16 },
  });
});

test('loadStateDict refuses a wrong dtype before copying anything (never half loaded)', () => {
  const attn = new Attention(ctx(), 4, 2);
  const before = attn.qkv.weight.dataSync().slice();
  const sd = new Map([...attn.stateDict()].map(([k, t]) => [k, zeros([...t.shape])] as const));
  sd.set('proj.bias', zeros([4], { dtype: 'f64' }));
  assert.throws(() => attn.loadStateDict(sd), /proj\.bias is f64, the model wants f32/);
  assert.deepEqual(attn.qkv.weight.dataSync(), before, 'qkv.weight (before proj.bias in key order) untouched');
});
