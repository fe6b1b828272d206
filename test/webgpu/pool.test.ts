// The buffer pool's memory budget: idle buffers are destroyed to make room, and a request that
// still does not fit fails at once with the figures (Dawn would only report it asynchronously).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDevice } from '../../engine/webgpu/device.ts';
import { BufferPool, OutOfMemoryError } from '../../engine/webgpu/pool.ts';

const opened = await openDevice();
after(() => opened.device.destroy());

test('the pool trims idle buffers to stay within its budget, then refuses clearly', () => {
  const usage = GPUBufferUsage.STORAGE;
  const pool = new BufferPool(opened.device, 4096);
  const a = pool.acquire(1024, usage, 'a');
  const b = pool.acquire(2048, usage, 'b');
  assert.equal(pool.allocatedBytes, 3072);
  pool.release(b);
  pool.afterSubmit();
  assert.equal(pool.idleBytes, 2048);
  // 3072 more do not fit next to a (1024) unless the idle 2048 go
  const c = pool.acquire(3000, usage, 'c');
  assert.equal(pool.idleBytes, 0);
  assert.equal(pool.allocatedBytes, 1024 + 3072);
  assert.throws(() => pool.acquire(1000, usage, 'd'), (e: Error) => e instanceof OutOfMemoryError && /out of GPU memory: .* requested \(d\)/.test(e.message));
  for (const x of [a, c]) pool.release(x);
  pool.destroyAll();
});

test('size classes: quarter-octave steps, never below the request, at most a quarter more, multiples of 64', async () => {
  const { sizeClass } = await import('../../engine/webgpu/pool.ts');
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(256), 256);
  assert.equal(sizeClass(257), 320);
  assert.equal(sizeClass(512), 512);
  assert.equal(sizeClass(513), 640);
  // XL's activations: 1152 and 4608 floats × 65536 tokens round up by 11%, not a third.
  assert.equal(sizeClass(1152 * 65536 * 4), 1.25 * 2 ** 28);
  assert.equal(sizeClass(4608 * 65536 * 4), 1.25 * 2 ** 30);
  for (let b = 1; b < 1e7; b = Math.ceil(b * 1.37) + 3) {
    const c = sizeClass(b);
    assert.ok(c >= b && c % 64 === 0 && (b <= 256 || c <= 1.25 * b), `${b} → ${c}`);
  }
});
