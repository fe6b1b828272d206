// The memory-accounting backend (engine/meta/memory-backend.ts): ops make outputs of the sizes the
// real backends make, bytes are counted in the pool's size classes, a scope gives everything back,
// and a whole training step of the tiny AV-DiT runs on it (bench/memory-xl.ts does the same for XL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { randn, tensor } from '../../engine/creation.ts';
import { createMemoryBackend } from '../../engine/meta/memory-backend.ts';
import { Generator } from '../../engine/rng.ts';
import { scopeAsync } from '../../engine/scope.ts';
import { sizeClass } from '../../engine/webgpu/pool.ts';
import type { Backend } from '../../engine/backend.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { AdamW } from '../../train/adamw.ts';
import { avditLoss } from '../../train/objectives.ts';

async function step(backend: Backend, checkpoint: boolean): Promise<{ shapes: string; sizes: number[] }> {
  const config = makeConfig('tiny');
  const model = new AVDiT({ backend, gen: new Generator(0) }, config);
  const params = model.parameters({ trainable: true });
  const opt = new AdamW(params, { lr: 1e-4 });
  const gen = new Generator(3);
  await scopeAsync(async () => {
    const x = {
      video: randn([2, config.frames, config.videoChannels, config.videoHeight, config.videoWidth], { backend, generator: gen }),
      audio: randn([2, config.audioChannels, config.audioTime, config.audioFreq], { backend, generator: gen }),
      labels: tensor([1, 2], [2], { dtype: 'i32', backend }),
    };
    const { loss } = avditLoss(model, createDiffusion(''), x, new Generator(1), { checkpoint });
    A.backward(loss);
    opt.step();
    await loss.item();
  });
  const grads = params.map((p) => p.grad!);
  return { shapes: grads.map((g) => g.shape.join('x')).join(','), sizes: grads.map((g) => g.storage().size) };
}

test('a tiny AV-DiT training step on the memory backend: the gradients have the real sizes, and a scope gives its bytes back', async () => {
  const mem = createMemoryBackend();
  const real = await step(cpuBackend, false);
  const before = mem.memory().liveBytes;
  const sim = await step(mem, false);
  assert.equal(sim.shapes, real.shapes);
  assert.deepEqual(sim.sizes, real.sizes);
  assert.ok(mem.allocations > 1000, `only ${mem.allocations} storages`);
  const { liveBytes, peakBytes } = mem.memory();
  assert.ok(peakBytes > liveBytes && liveBytes > before, `peak ${peakBytes}, live ${liveBytes}`);
  // Checkpointing keeps less: the same step with it peaks lower.
  const memC = createMemoryBackend();
  await step(memC, true);
  assert.ok(memC.memory().peakBytes < peakBytes, `checkpointing ${memC.memory().peakBytes} vs ${peakBytes}`);
});

test('the memory backend counts the pool\'s size classes and frees what scopes dispose', () => {
  const mem = createMemoryBackend();
  const a = mem.fill(1000, 'f32', 0); // 4000 bytes → the 4096 class
  assert.equal(mem.memory().liveBytes, sizeClass(4000));
  const b = mem.binary('add', a, [10, 100], a, [10, 100], [10, 100]);
  const r = mem.reduce('sum', b, [10, 100], [1]);
  assert.equal(r.size, 10);
  mem.free(a);
  mem.free(b);
  mem.free(r);
  assert.equal(mem.memory().liveBytes, 0);
  assert.equal(mem.memory().peakBytes, sizeClass(4000) * 2 + sizeClass(40));
});

test('the memory backend rounds as the pool does on NVIDIA: a 1.8 GiB tensor holds 2 GiB − 256 bytes (the binding limit caps the class), not 2 GiB', () => {
  const mem = createMemoryBackend();
  const s = mem.fill(483_183_820, 'f32', 0); // 1.8 GiB
  assert.equal(mem.memory().liveBytes, 2 ** 31 - 256);
  mem.free(s);
});

test('building a model holds its parameters and nothing else (no initialiser temporaries left behind)', () => {
  const mem = createMemoryBackend();
  const model = new AVDiT({ backend: mem, gen: new Generator(0) }, makeConfig('tiny'));
  const params = [...model.stateDict().values()].reduce((n, p) => n + sizeClass(p.size * 4), 0);
  const held = mem.memory().liveBytes;
  // Beyond the parameters only non-parameter tables (position embeddings) may be held.
  assert.ok(held >= params && held <= params * 1.1, `held ${held} bytes for ${params} of parameters`);
});

test('the quarantine model: freed bytes stay in use until a submit (every batch outputs, past flushBytes, or a read)', async () => {
  const mem = createMemoryBackend(sizeClass, { batch: 4, flushBytes: 3 * sizeClass(4000) });
  const a = mem.fill(1000, 'f32', 0), b = mem.fill(1000, 'f32', 0);
  const one = sizeClass(4000);
  mem.free(a);
  assert.equal(mem.memory().liveBytes, 2 * one, 'a waits for the submit');
  mem.fill(1000, 'f32', 0); // the third output: no submit yet
  assert.equal(mem.memory().liveBytes, 3 * one);
  mem.fill(1000, 'f32', 0); // the fourth: the batch is submitted first, a's bytes return
  assert.equal(mem.memory().liveBytes, 3 * one);
  assert.equal(mem.memory().peakBytes, 3 * one);
  mem.free(b);
  await mem.read(b); // a read submits
  assert.equal(mem.memory().liveBytes, 2 * one);
  const early = createMemoryBackend(sizeClass, { batch: 64, flushBytes: one });
  early.free(early.fill(1000, 'f32', 0)); // past flushBytes: submitted at once
  assert.equal(early.memory().liveBytes, 0);
});

test('the op census (engine/meta/census.ts) counts calls, bytes read and made, and matmul FLOPs per op and variant', async () => {
  const { addCensus } = await import('../../engine/meta/census.ts');
  const tallies = new Map<string, { calls: number; bytes: number; flops: number }>();
  const b = addCensus(createMemoryBackend(), tallies);
  const x = b.fill(6 * 5, 'f32', 0), w = b.fill(4 * 5, 'f32', 0), bias = b.fill(4, 'f32', 0);
  b.matmul(x, [6, 5], w, [4, 5], false, true, [6, 4], bias); // a Linear: x·wᵀ + bias
  b.matmul(x, [6, 5], w, [4, 5], false, true, [6, 4]);
  b.matmul(x, [6, 5], x, [6, 5], true, false, [5, 5]);
  b.binary('add', x, [6, 5], x, [6, 5], [6, 5]);
  const p = [b.fill(10, 'f32', 0), b.fill(3, 'f32', 0)];
  b.adamw(p, p, p, p, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 });
  assert.deepEqual(tallies.get('matmul/NT+bias'), { calls: 1, bytes: 4 * (30 + 20 + 4 + 24), flops: 2 * 5 * 24 });
  assert.deepEqual(tallies.get('matmul/NT'), { calls: 1, bytes: 4 * (30 + 20 + 24), flops: 2 * 5 * 24 });
  assert.deepEqual(tallies.get('matmul/TN'), { calls: 1, bytes: 4 * (30 + 30 + 25), flops: 2 * 6 * 25 });
  assert.deepEqual(tallies.get('binary/add'), { calls: 1, bytes: 4 * 90, flops: 0 });
  assert.equal(tallies.get('adamw')!.bytes, 4 * 4 * 13, 'AdamW reads its four lists of tensors');
  assert.equal(tallies.get('fill')!.calls, 5);
});

test('the memory backend holds the weight copies the WebGPU backend keeps: transposed (AVDIT_MATMUL_WEIGHT_T) or f16 (mixed, a direct form), until AdamW or free', () => {
  const saved = { t: process.env.AVDIT_MATMUL_WEIGHT_T, d: process.env.AVDIT_MATMUL_DIRECT };
  const restore = (k: string, v: string | undefined) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  try {
    for (const [precision, env, copyBytes] of [
      ['f32', { AVDIT_MATMUL_WEIGHT_T: '1' }, 4], ['mixed', { AVDIT_MATMUL_DIRECT: 'v4:128x128x32:2x4:gb' }, 2], ['mixed', { AVDIT_MATMUL_WEIGHT_T: 'mixed' }, 4],
    ] as const) {
      Object.assign(process.env, env);
      const b = createMemoryBackend((bytes) => bytes);
      b.setPrecision(precision);
      const x = b.fill(8 * 64, 'f32', 0), w = b.fill(32 * 64, 'f32', 0);
      const before = b.memory().liveBytes;
      const y1 = b.matmul(x, [8, 64], w, [32, 64], false, true, [8, 32]);
      const y2 = b.matmul(x, [8, 64], w, [32, 64], false, true, [8, 32]);
      assert.equal(b.memory().liveBytes - before, 2 * 8 * 32 * 4 + copyBytes * 32 * 64, `${precision}: two outputs and one copy of W`);
      b.matmul(x, [8, 64], w, [64, 32], false, false, [8, 32]); // not seen transposed: no copy of its own
      b.adamw([w], [w], [w], [w], { lr: 0, beta1: 0, beta2: 0, eps: 0, weightDecay: 0, step: 1 });
      assert.equal(b.memory().liveBytes - before, 3 * 8 * 32 * 4, `${precision}: the copy dropped at the update`);
      b.matmul(x, [8, 64], w, [32, 64], false, true, [8, 32]);
      b.free(w);
      assert.equal(b.memory().liveBytes - before, 4 * 8 * 32 * 4 - 32 * 64 * 4, `${precision}: W and its new copy freed together`);
      for (const t of [y1, y2]) b.free(t);
      for (const k of Object.keys(env)) delete process.env[k];
    }
    // Off (the defaults): no copies.
    const b = createMemoryBackend((bytes) => bytes);
    const x = b.fill(8 * 64, 'f32', 0), w = b.fill(32 * 64, 'f32', 0);
    const before = b.memory().liveBytes;
    b.matmul(x, [8, 64], w, [32, 64], false, true, [8, 32]);
    assert.equal(b.memory().liveBytes - before, 8 * 32 * 4);
  } finally {
    restore('AVDIT_MATMUL_WEIGHT_T', saved.t);
    restore('AVDIT_MATMUL_DIRECT', saved.d);
  }
});
