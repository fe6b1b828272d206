// Bind groups: explicit layouts read from the WGSL (uniforms with dynamic offsets), the cache that
// reuses a group for the same layout and buffers, and its eviction when the pool destroys a buffer
// (a cached group naming a destroyed buffer would fail validation at submit).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { BindGroupCache, layoutEntries } from '../../engine/webgpu/bind-groups.ts';
import { openWebGpuBackend, type WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { openDevice } from '../../engine/webgpu/device.ts';
import { BufferPool } from '../../engine/webgpu/pool.ts';

const opened = await openDevice();
after(() => opened.device.destroy());

test('layout entries: read-only and read-write storage, uniforms with a dynamic offset, by binding', () => {
  const code = `
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage> b: array<f32>;
struct P { n: u32 }
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> tile: array<f32, 64>;`;
  const types = layoutEntries(code).map((e) => [e.binding, e.buffer!.type, e.buffer!.hasDynamicOffset]);
  assert.deepEqual(types, [
    [0, 'read-only-storage', false],
    [1, 'read-only-storage', false],
    [2, 'storage', false],
    [3, 'uniform', true],
  ]);
});

test('the bind-group cache reuses groups and forgets those of destroyed buffers', () => {
  const { device } = opened;
  const entries = layoutEntries(`@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@group(0) @binding(2) var<uniform> u: vec4<u32>;`);
  const layout = device.createBindGroupLayout({ entries });
  const pool = new BufferPool(device);
  const cache = new BindGroupCache(device);
  pool.onDestroy = (b) => cache.forget(b);
  const usage = GPUBufferUsage.STORAGE;
  const a = pool.acquire(256, usage), o = pool.acquire(512, usage);
  const ring = device.createBuffer({ size: 1024, usage: GPUBufferUsage.UNIFORM });
  const u = { buffer: ring, size: 16 };
  const g1 = cache.get(layout, [a, o], u, 'k');
  assert.equal(cache.get(layout, [a, o], u, 'k'), g1);
  assert.notEqual(cache.get(layout, [o, a], u, 'k'), g1, 'the buffers in another order are another group');
  assert.deepEqual([cache.hits, cache.misses, cache.size], [1, 2, 2]);
  // The pool destroys o when trimming: both groups that name it go.
  pool.release(o);
  pool.afterSubmit();
  pool.trim();
  assert.equal(cache.size, 0);
  const o2 = pool.acquire(512, usage);
  assert.notEqual(cache.get(layout, [a, o2], u, 'k'), g1);
  for (const b of [a, o2]) pool.release(b);
  pool.destroyAll();
  ring.destroy();
});

test('the bind-group cache keys on the uniform buffer: a new uniform ring gets its own group, and forgetting the old ring drops only its groups', () => {
  // The context replaces its uniform ring (destroying the old one) when a batch's uniforms outgrow
  // it; a group cached for the old ring must be neither handed out for the new one nor kept.
  const { device } = opened;
  const layout = device.createBindGroupLayout({ entries: layoutEntries(`@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@group(0) @binding(1) var<uniform> u: vec4<u32>;`) });
  const cache = new BindGroupCache(device);
  const o = device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
  const rings = [0, 1].map(() => device.createBuffer({ size: 1024, usage: GPUBufferUsage.UNIFORM }));
  const g0 = cache.get(layout, [o], { buffer: rings[0]!, size: 16 }, 'k');
  const g1 = cache.get(layout, [o], { buffer: rings[1]!, size: 16 }, 'k');
  assert.notEqual(g1, g0, 'a group naming the old ring served the new one');
  assert.equal(cache.size, 2);
  cache.forget(rings[0]!);
  assert.equal(cache.size, 1, "forgetting the old ring keeps the new ring's group and drops its own");
  assert.equal(cache.get(layout, [o], { buffer: rings[1]!, size: 16 }, 'k'), g1);
  for (const b of [o, ...rings]) b.destroy();
});

test('a backend run with cached bind groups and the uniform ring: repeated steps hit the cache and stay right', async () => {
  const be = (await openWebGpuBackend()) as WebGpuBackend;
  try {
    const x = be.fromArray(new Float32Array([1, 2, 3, 4, 5, 6]), 'f32');
    for (let step = 0; step < 4; step++) {
      const before = be.ctx.bindGroups.hits;
      // Same kernels, same shapes, other uniform values each step: y = s·x, z = y + x, w = z / (s + 1) = x.
      const s = step + 1;
      const y = be.unary('affine', x, s, 0);
      const z = be.binary('add', y, [2, 3], x, [2, 3], [2, 3]);
      const w = be.unary('affine', z, 1 / (s + 1), 0);
      const got = Array.from(await be.read(w));
      got.forEach((v, i) => assert.ok(Math.abs(v - (i + 1)) < 1e-5, `step ${step}: w[${i}] = ${v}`));
      for (const s of [y, z, w]) be.free(s);
      // The pool hands the same buffers back for the same tensors, so from the third step on every
      // dispatch hits. (A step's frees wait in quarantine until the next submit, so the second
      // step still makes new buffers; the steps then alternate between two sets.)
      if (step > 1) assert.equal(be.ctx.bindGroups.hits - before, 3, `step ${step}: bind groups reused`);
    }
  } finally {
    await be.destroy();
  }
});
