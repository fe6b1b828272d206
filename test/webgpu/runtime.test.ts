import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendError } from '../../engine/errors.ts';
import { binary, matmul, reduce, unary } from '../../engine/ops.ts';
import { scope } from '../../engine/scope.ts';
import { Tensor } from '../../engine/tensor.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { randomData, useGpu } from './helpers.ts';

const gpu = useGpu();

test('a tensor over the storage binding limit is a BackendError naming the op and the size', () => {
  const limit = gpu().memory; // keep the type checker honest about the backend
  assert.ok(limit);
  const huge = 2 ** 31; // 8 GiB of f32: over every device's binding limit
  assert.throws(() => gpu().fill(huge, 'f32', 0), (e: unknown) => e instanceof BackendError && /fill: .*2147483648 elements.*maxStorageBufferBindingSize/.test(e.message));
});

test('f64 is refused', () => {
  assert.equal(gpu().supportsDtype('f64'), false);
  assert.throws(() => gpu().fill(4, 'f64', 0), /no f64/);
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

test('liveBytes stays flat over 50 steps of an MLP-like workload in scope()', async () => {
  const b = gpu();
  const t = (data: Float32Array, shape: number[]): Tensor => new Tensor(b.fromArray(data, 'f32'), shape).keep();
  const x = t(randomData(8 * 16, 1), [8, 16]);
  const w1 = t(randomData(16 * 32, 2, -0.3, 0.3), [16, 32]), b1 = t(randomData(32, 3), [32]);
  const w2 = t(randomData(32 * 4, 4, -0.3, 0.3), [32, 4]);
  const live: number[] = [];
  let loss = 0;
  for (let step = 0; step < 50; step++) {
    const l = scope(() => {
      const h = unary('gelu', binary('add', matmul(x, w1), b1));
      const y = matmul(h, w2);
      const d = binary('sub', y, unary('affine', y, 0.5, 0.1));
      return reduce('sum', binary('mul', d, d)).keep();
    });
    loss = await l.item();
    l.dispose();
    live.push(b.memory().liveBytes);
  }
  assert.ok(Number.isFinite(loss));
  assert.equal(live[49], live[4], `liveBytes drifted: ${live[4]} at step 5, ${live[49]} at step 50`);
  const { pooledBytes } = b.memory();
  assert.ok(pooledBytes < 1 << 20, `pool grew to ${pooledBytes} bytes`);
});
