import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { tensor } from '../../engine/creation.ts';
import type { Storage } from '../../engine/backend.ts';
import { BackendError } from '../../engine/errors.ts';
import { scopeAsync } from '../../engine/scope.ts';
import { openWebGpuBackend, type WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { AdamW } from '../../train/adamw.ts';
import { randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
const BINDING_ERROR = /fill: .* elements.*maxStorageBufferBindingSize/;

test('a tensor over the storage binding limit is a BackendError naming the op and the size', () => {
  const huge = 2 ** 31; // 8 GiB of f32: over every device's binding limit
  assert.throws(() => gpu().fill(huge, 'f32', 0), (e: unknown) => e instanceof BackendError && /2147483648 elements/.test(e.message) && BINDING_ERROR.test(e.message));
});

test('a tensor just over the binding limit (not over maxBufferSize) is refused before anything is allocated', async () => {
  const b = gpu() as WebGpuBackend;
  const { maxStorageBufferBindingSize: binding, maxBufferSize } = b.ctx.limits;
  assert.ok(binding < maxBufferSize, `this test needs a binding limit (${binding}) under maxBufferSize (${maxBufferSize}), as on lavapipe`);
  // 16 bytes over: on lavapipe 2**25 + 4 f32, within its 4 GiB maxBufferSize. Refused before any allocation.
  const over = binding / 4 + 4;
  const allocated = b.ctx.pool.allocatedBytes;
  assert.throws(() => b.fill(over, 'f32', 0), (e: unknown) => e instanceof BackendError && new RegExp(`${over} elements`).test(e.message) && BINDING_ERROR.test(e.message));
  assert.equal(b.ctx.pool.allocatedBytes, allocated);
});

test('f64 is refused', () => {
  assert.equal(gpu().supportsDtype('f64'), false);
  assert.throws(() => gpu().fill(4, 'f64', 0), /no f64/);
});

test('the device has the adapter\'s limits, not WebGPU\'s defaults', () => {
  const b = gpu() as WebGpuBackend;
  // WebGPU's defaults: maxBufferSize 256 MiB, maxStorageBufferBindingSize 128 MiB. Lavapipe offers 4 GiB buffers.
  assert.ok(b.ctx.limits.maxBufferSize > 256 * 2 ** 20, `maxBufferSize ${b.ctx.limits.maxBufferSize}: the default, not the adapter's`);
  assert.ok(b.ctx.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20);
  assert.ok(b.ctx.limits.maxComputeWorkgroupStorageSize > 16384, `maxComputeWorkgroupStorageSize ${b.ctx.limits.maxComputeWorkgroupStorageSize}: the default`);
});

test('a WGSL compile error names the kernel and the compiler message', async () => {
  const b = gpu() as WebGpuBackend;
  const out = b.ctx.alloc(16, 'test');
  b.ctx.dispatch({
    key: 'test/broken-kernel',
    code: '@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = undefined_thing; }',
    buffers: [out],
    workgroups: [1],
  });
  await assert.rejects(b.sync(), (e: unknown) => e instanceof BackendError && /test\/broken-kernel/.test(e.message) && /undefined_thing/.test(e.message));
  b.ctx.pool.release(out);
  // The backend is usable afterwards.
  const x = b.fromArray(new Float32Array([1, 2]), 'f32');
  assert.deepEqual([...(await b.read(b.unary('neg', x, 0, 0)))], [-1, -2]);
});

/**
 * The shared backend with batching as without AVDIT_COMPILE_LOG (which submits each new kernel
 * alone, so errors would surface at a dispatch), restored after the test, and a synced [1, 2].
 */
async function batchedGpu(t: TestContext): Promise<{ b: WebGpuBackend; x: Storage }> {
  const b = gpu() as WebGpuBackend;
  const logging = b.ctx.compileLog;
  b.ctx.compileLog = false;
  t.after(() => { b.ctx.compileLog = logging; });
  const x = b.fromArray(new Float32Array([1, 2]), 'f32');
  await b.sync();
  return { b, x };
}

test('a validation error of a dispatch followed by good ones names the bad kernel, not the last one recorded', async (t) => {
  const { b, x } = await batchedGpu(t);
  const out = b.ctx.alloc(16, 'test');
  // The same buffer bound to two writable bindings: valid WGSL, refused by Dawn when the batch is encoded.
  b.ctx.dispatch({
    key: 'test/aliased-outputs',
    code: '@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@group(0) @binding(1) var<storage, read_write> p: array<f32>;\n' +
      '@compute @workgroup_size(1) fn main() { o[0] = 1.0; p[1] = 2.0; }',
    buffers: [out, out],
    workgroups: [1],
  });
  const good = Array.from({ length: 5 }, () => b.unary('neg', x, 0, 0));
  await assert.rejects(b.sync(), (e: unknown) => e instanceof BackendError && /device error in kernel "test\/aliased-outputs"/.test(e.message) && !/elementwise/.test(e.message));
  for (const s of good) b.free(s);
  b.ctx.pool.release(out);
  assert.deepEqual([...(await b.read(b.unary('neg', x, 0, 0)))], [-1, -2]);
  b.free(x);
});

test('an error whose message names no kernel names the batch it was submitted in', async (t) => {
  const { b, x } = await batchedGpu(t);
  // A buffer destroyed before its batch is submitted: Dawn's message names the buffer only.
  const gone = b.ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'test-destroyed' });
  b.ctx.dispatch({
    key: 'test/write-one',
    code: '@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = 1.0; }',
    buffers: [gone],
    workgroups: [1],
  });
  const y = b.unary('exp', x, 0, 0);
  b.ctx.bindGroups.forget(gone);
  gone.destroy();
  await assert.rejects(b.sync(), (e: unknown) => e instanceof BackendError && /device error in the batch of \d+ dispatches ending with kernel "elementwise\/exp.*test-destroyed/s.test(e.message));
  for (const s of [x, y]) b.free(s);
});

test('a lost device surfaces as an exception at the next op or read, naming the last batch submitted', async () => {
  const b = (await openWebGpuBackend()) as WebGpuBackend;
  try {
    const x = b.fromArray(new Float32Array([1, 2]), 'f32');
    const y = b.unary('neg', x, 0, 0);
    assert.deepEqual([...(await b.read(y))], [-1, -2]);
    b.ctx.device.destroy();
    await b.ctx.device.lost; // the context's handler, registered first, has run
    await assert.rejects(
      async () => b.read(b.unary('exp', x, 0, 0)),
      (e: unknown) => e instanceof BackendError && /device lost \(destroyed\).*the last batch submitted ended with kernel "elementwise\/neg/.test(e.message),
    );
    await assert.rejects(async () => b.read(y), (e: unknown) => e instanceof BackendError && /device was lost/.test(e.message));
  } finally {
    await b.destroy();
  }
});

test('50 training steps of a small MLP (forward, loss, backward, AdamW, zeroGrad, read): the pool\'s bytes stay flat', async () => {
  const b = gpu() as WebGpuBackend;
  const pool = b.ctx.pool;
  const param = (n: number[], seed: number) => tensor(randomData(n.reduce((p, d) => p * d, 1), seed, -0.3, 0.3), n, { backend: b, requiresGrad: true });
  // Two Linear layers (weights [out, in], as model/layers/linear.ts), 16 → 32 → 4, a GELU between.
  const w1 = param([32, 16], 1), b1 = param([32], 2), w2 = param([4, 32], 3), b2 = param([4], 4);
  const x = tensor(randomData(8 * 16, 5), [8, 16], { backend: b });
  const target = tensor(randomData(8 * 4, 6), [8, 4], { backend: b });
  const opt = new AdamW([w1, b1, w2, b2], { lr: 1e-2 });
  const inUse: number[] = [], allocated: number[] = [], live: number[] = [], losses: number[] = [];
  for (let step = 0; step < 50; step++) {
    await scopeAsync(async () => {
      const y = A.linear(A.gelu(A.linear(x, w1, b1)), w2, b2);
      const d = A.sub(y, target);
      const loss = A.mean(A.mul(d, d));
      A.backward(loss);
      opt.step();
      A.zeroGrad(opt.params);
      losses.push(await loss.item());
    });
    inUse.push(pool.inUseBytes);
    allocated.push(pool.allocatedBytes);
    live.push(b.memory().liveBytes);
  }
  assert.ok(losses[49]! < losses[0]!, `the loss did not fall: ${losses[0]} → ${losses[49]}`);
  // The first step makes AdamW's moments; from the second on (index 1), every step is the same.
  const WARM = 2;
  for (let i = WARM; i < 50; i++) {
    assert.equal(inUse[i], inUse[WARM - 1], `in-use bytes moved at step ${i + 1}: ${inUse.join(' ')}`);
    assert.equal(allocated[i], allocated[WARM - 1], `allocated bytes moved at step ${i + 1}: ${allocated.join(' ')}`);
    assert.equal(live[i], live[WARM - 1], `tensor bytes moved at step ${i + 1}: ${live.join(' ')}`);
  }
  for (const t of [w1, b1, w2, b2, x, target]) t.dispose();
});
