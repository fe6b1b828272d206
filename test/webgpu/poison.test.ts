// Poison mode (AVDIT_POISON=1): every buffer handed to a tensor or a kernel's scratch starts as
// NaN bits instead of whatever the pool's last user left (or the zeros of a fresh buffer). A correct
// kernel never reads what it did not write, so poison must change no bit of a real workload; a
// kernel that does (an output assumed to start at zero, a read past its tensor into the size
// class's slack) turns NaN. Since Dawn's robustness and workgroup zero-init are off by default
// (engine/webgpu/device.ts), this is the suite's guard on that class of bug.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as A from '../../autograd/index.ts';
import { randn, tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { scopeAsync } from '../../engine/scope.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
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

/** Run `fn` with poison mode set to `on`, restoring the file's setting (on, see helpers.ts) after. */
async function withPoison<T>(on: boolean, fn: () => Promise<T>): Promise<T> {
  const ctx = ctxOf();
  const was = ctx.poison;
  ctx.poison = on;
  try {
    return await fn();
  } finally {
    ctx.poison = was;
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
