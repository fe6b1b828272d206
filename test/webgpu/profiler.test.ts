// The kernel profiler (engine/webgpu/profiler.ts): GPU time per kernel key from timestamp
// queries, one pass per dispatch, without changing results. lavapipe offers timestamp-query.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openWebGpuBackend, type WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { formatProfile } from '../../engine/webgpu/profiler.ts';
import { cpu, randomData } from './helpers.ts';

let gpu: WebGpuBackend;
before(async () => {
  gpu = (await openWebGpuBackend()) as WebGpuBackend;
});
after(async () => {
  await gpu.destroy();
});

test('a profile counts every dispatch per kernel key, with GPU time, and results are unchanged', async () => {
  assert.ok(gpu.ctx.features.timestamps, 'lavapipe and NVIDIA offer timestamp-query');
  const a = randomData(96 * 80, 1), b = randomData(80 * 72, 2);
  const want = cpu.readSync!(cpu.matmul(cpu.fromArray(a, 'f32'), [96, 80], cpu.fromArray(b, 'f32'), [80, 72], false, false, [96, 72]));
  const ga = gpu.fromArray(a, 'f32'), gb = gpu.fromArray(b, 'f32');
  const before = gpu.ctx.dispatches;
  gpu.ctx.startProfile();
  // 70 matmuls: more than one submitted batch (64 dispatches), then 3 element-wise ops.
  let out = gpu.matmul(ga, [96, 80], gb, [80, 72], false, false, [96, 72]);
  for (let i = 0; i < 69; i++) {
    gpu.free(out);
    out = gpu.matmul(ga, [96, 80], gb, [80, 72], false, false, [96, 72]);
  }
  for (let i = 0; i < 3; i++) gpu.free(gpu.unary('affine', ga, 2, 1));
  const prof = await gpu.ctx.stopProfile();
  const dispatched = gpu.ctx.dispatches - before;
  assert.equal(prof.reduce((s, t) => s + t.dispatches, 0), dispatched, 'every dispatch is counted once');
  const mm = prof.filter((t) => t.key.startsWith('matmul/'));
  assert.equal(mm.reduce((s, t) => s + t.dispatches, 0), 70);
  assert.ok(prof.every((t) => t.ms > 0), JSON.stringify(prof));
  assert.ok(prof.some((t) => t.dispatches === 3), 'the element-wise kernel has its own line');
  const text = formatProfile(prof);
  assert.match(text, /matmul\//);
  assert.match(text, new RegExp(`ms of GPU time in ${dispatched} dispatches`));
  // Profiling changes how passes are encoded, not what they compute.
  const got = await gpu.read(out);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  assert.ok(worst < 1e-4, `max difference ${worst}`);
  // Profiling is off again: stopping twice is an error that says so.
  await assert.rejects(gpu.ctx.stopProfile(), /stopProfile without startProfile/);
});
