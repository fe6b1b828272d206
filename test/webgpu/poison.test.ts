// Poison mode (AVDIT_POISON=1): every buffer handed to a tensor or a kernel's scratch starts as
// NaN bits instead of whatever the pool's last user left (or the zeros of a fresh buffer), and
// every kernel fills its workgroup arrays with NaN bits before it starts (poison-wgsl.ts). A
// correct kernel never reads what it did not write, so poison must change no bit of a real
// workload; a kernel that does (an output assumed to start at zero, a read past its tensor into
// the size class's slack, workgroup memory read before its first write) turns NaN. Since Dawn's
// robustness and workgroup zero-init are off by default (engine/webgpu/device.ts), this is the
// suite's guard on that class of bug. (The other WebGPU tests poison buffers only: workgroup
// poison multiplies some kernels' time on lavapipe.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as A from '../../autograd/index.ts';
import { randn, tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { scopeAsync } from '../../engine/scope.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { poisonWorkgroupMemory } from '../../engine/webgpu/poison-wgsl.ts';
import { mixedAttentionTuning } from '../../kernels/attention-sgmat.ts';
import { POISON_WORD } from '../../engine/webgpu/context.ts';
import { createDiffusion, pSampleFromOutput } from '../../diffusion/index.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { AdamW } from '../../train/adamw.ts';
import { avditLoss } from '../../train/objectives.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const ctxOf = () => (gpu() as WebGpuBackend).ctx;

/** out[i] += x[i] over a buffer fresh from the pool: right only if the buffer started at zero. */
async function accumulateIntoFresh(n: number): Promise<Float32Array> {
  const ctx = ctxOf();
  const x = gpu().fromArray(Float32Array.from({ length: n }, (_, i) => i + 1), 'f32');
  const out = ctx.alloc(n * 4, 'accumulate-into');
  ctx.dispatch({
    key: 'test/accumulate-into',
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&x)) { out[g.x] = out[g.x] + x[g.x]; }
}`,
    buffers: [(x as unknown as { buffer: GPUBuffer }).buffer, out],
    workgroups: [Math.ceil(n / 64)],
  });
  const [data] = await ctx.read([{ buffer: out, bytes: n * 4 }]);
  ctx.release(out);
  gpu().free(x);
  return new Float32Array(data!);
}

/** Run `fn` with poison mode (buffers and workgroups) set to `on`, restoring the file's setting (buffers only, see helpers.ts) after. */
async function withPoison<T>(on: boolean, fn: () => Promise<T>): Promise<T> {
  const ctx = ctxOf();
  const was = [ctx.poison, ctx.poisonWorkgroups] as const;
  ctx.poison = on;
  ctx.poisonWorkgroups = on;
  try {
    return await fn();
  } finally {
    [ctx.poison, ctx.poisonWorkgroups] = was;
  }
}

test('poison mode turns a kernel that reads memory nothing wrote into NaN', () =>
  withPoison(true, async () => {
    const got = await accumulateIntoFresh(4096 + 12); // a size class nothing else here uses
    assert.ok(got.every((v) => Number.isNaN(v)), 'every element read poison');
    const word = new Uint32Array(new Float32Array([Number.NaN]).buffer)[0];
    assert.notEqual(word, POISON_WORD, 'the poison is a NaN no arithmetic produces');
    // Uploaded tensors keep their data (the poison is written before them, on the queue).
    const up = gpu().fromArray(Float32Array.from([1, 2, 3]), 'f32');
    assert.deepEqual(Array.from(await gpu().read(up)), [1, 2, 3]);
    gpu().free(up);
  }));

/** A kernel that sums a workgroup array it wrote only partly (element 0 never): right only if that element happens to be 0. */
async function readBeforeWrite(): Promise<Float32Array> {
  const ctx = ctxOf();
  const out = ctx.alloc(64 * 4, 'read-before-write');
  ctx.dispatch({
    key: 'test/read-before-write',
    code: `var<workgroup> t: array<f32, 64>;
var<workgroup> u: array<vec4<f32>, 8>;
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(local_invocation_index) i: u32) {
  if (i > 0u) { t[i] = 1.0; }
  if (i > 0u && i < 8u) { u[i] = vec4<f32>(1.0); }
  workgroupBarrier();
  out[i] = t[(i + 1u) % 64u] + u[i % 8u].x;
}`,
    buffers: [out],
    workgroups: [1],
  });
  const [data] = await ctx.read([{ buffer: out, bytes: 64 * 4 }]);
  ctx.release(out);
  return new Float32Array(data!);
}

test('workgroup poison: a kernel that reads workgroup memory before writing it reads NaN', () =>
  withPoison(true, async () => {
    const got = await readBeforeWrite();
    // Lane 63 reads t[0] and u[7]: t[0] was never written; lanes 0, 8, … read u[0], never written.
    assert.ok(Number.isNaN(got[63]!), 't[0] unwritten');
    assert.ok(Number.isNaN(got[8]!), 'u[0] unwritten');
    assert.equal(got[1], 2, 'written elements read back');
    assert.match(poisonWorkgroupMemory('var<workgroup> h: array<f16, 8>;\n@compute @workgroup_size(8, 2) fn main(@builtin(workgroup_id) w: vec3u) { }'),
      /@builtin\(local_invocation_index\) poisonLid_: u32\)[\s\S]*poisonHalf_[\s\S]*p_ \+= 16u/);
  }));

/** The tensor-core attention (emulated) forward and backward on fixed data: o, lse, dq, dk, dv. */
async function mixedAttention(): Promise<Float32Array[]> {
  const b = gpu();
  const d = { n: 2, l: 40, s: 37, dqk: 9, dv: 20, scale: 1 / 3 };
  const mk = (m: number, seed: number) => b.fromArray(Float32Array.from({ length: m }, (_, i) => Math.sin(i * 0.7 + seed) * 1.5), 'f32');
  const [q, k, v, dO] = [mk(d.n * d.l * d.dqk, 1), mk(d.n * d.s * d.dqk, 2), mk(d.n * d.s * d.dv, 3), mk(d.n * d.l * d.dv, 4)];
  const g = b.attention(q, k, v, d);
  const gb = b.attentionBwd(q, k, v, g.o, g.lse, dO, d);
  const out = await Promise.all([g.o, g.lse, gb.dq, gb.dk, gb.dv].map(async (x) => new Float32Array(await b.read(x))));
  for (const x of [q, k, v, dO, g.o, g.lse, gb.dq, gb.dk, gb.dv]) b.free(x);
  return out;
}

/** Each form of the tensor-core attention kernels (emulated on lavapipe, the real ones on NVIDIA) gives the same bits with and without poison. */
async function mixedFormsUnderPoison(forms: Partial<typeof mixedAttentionTuning>[]): Promise<void> {
  const b = gpu();
  const saved = { ...mixedAttentionTuning };
  const emulate = !ctxOf().features.subgroupMatrix; // on NVIDIA (bench/gpu-run.sh's golden part) the real ones
  b.setPrecision?.('mixed');
  try {
    for (const form of forms) {
      Object.assign(mixedAttentionTuning, saved, { emulate }, form);
      const clean = await withPoison(false, mixedAttention);
      const poisoned = await withPoison(true, mixedAttention);
      assert.ok(clean.every((x) => x.every(Number.isFinite)), `${JSON.stringify(form)}: finite without poison`);
      clean.forEach((x, i) => assert.deepEqual(poisoned[i], x, `${JSON.stringify(form)}: output ${i} changed under poison`));
    }
  } finally {
    for (const key of Object.keys(mixedAttentionTuning)) delete (mixedAttentionTuning as Record<string, unknown>)[key];
    Object.assign(mixedAttentionTuning, saved);
    b.setPrecision?.('f32');
  }
}

test('workgroup poison: the tensor-core attention kernels (default, double-buffered; emulated on lavapipe) give the same bits', async () => {
  await mixedFormsUnderPoison([{}, { doubleBuffer: { fwd: true, dq: true, dkdv: true } }]);
});

// Its own test (bench/gpu-run.sh tells its failure from the defaults' by the words "one-pass").
test('workgroup poison: the tensor-core attention\'s one-pass forward (emulated on lavapipe) gives the same bits', async () => {
  await mixedFormsUnderPoison([{ onePass: true }]);
});

/** Three training steps (one with checkpointing) and a denoising step of the tiny AV-DiT; every number they produce. */
async function workload(mixed: boolean): Promise<number[]> {
  const backend = gpu();
  backend.setPrecision?.(mixed ? 'mixed' : 'f32');
  try {
    const c = makeConfig('tiny');
    const gen = new Generator(7);
    const model = new AVDiT({ backend, gen }, c);
    const optimizer = new AdamW(model.parameters({ trainable: true }), { lr: 1e-3, weightDecay: 0.01 });
    const diffusion = createDiffusion('');
    const seen: number[] = [];
    for (let step = 0; step < 3; step++) {
      await scopeAsync(async () => {
        const B = 2;
        const batch = {
          video: randn([B, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend, generator: gen }),
          audio: randn([B, c.audioChannels, c.audioTime, c.audioFreq], { backend, generator: gen }),
          labels: tensor([1, c.classes], [B], { dtype: 'i32', backend }),
        };
        const { loss } = avditLoss(model, diffusion, batch, gen, { checkpoint: step === 1 });
        A.backward(loss);
        optimizer.step();
        A.zeroGrad(optimizer.params);
        seen.push(await loss.item());
      });
    }
    await scopeAsync(async () => {
      const d = createDiffusion('50');
      const xa = randn([1, c.audioChannels, c.audioTime, c.audioFreq], { backend, generator: gen });
      const xv = randn([1, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend, generator: gen });
      const out = A.noGrad(() => model.forwardAV(xv, xa, [d.timestepMap[20]!], tensor([2], [1], { dtype: 'i32', backend })));
      const s = A.noGrad(() => pSampleFromOutput(d, out.audio, xa, [20], { generator: gen }));
      seen.push(...(await s.sample.toArray()), ...(await out.video.toArray()));
    });
    for (const p of optimizer.params) seen.push(...(await p.toArray()));
    model.dispose?.();
    return seen;
  } finally {
    backend.setPrecision?.('f32');
  }
}

for (const mixed of [false, true]) {
  test(`the tiny AV-DiT's training and denoising steps give the same bits with and without poison (${mixed ? 'mixed precision' : 'f32'})`, async () => {
    const clean = await withPoison(false, () => workload(mixed));
    const poisoned = await withPoison(true, () => workload(mixed));
    assert.equal(poisoned.length, clean.length);
    assert.ok(clean.every(Number.isFinite), 'the clean run is finite');
    const first = poisoned.findIndex((v, i) => !Object.is(v, clean[i]));
    assert.equal(first, -1, `first difference at number ${first}: ${poisoned[first]} vs ${clean[first]}`);
  });
}
