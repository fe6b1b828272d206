// The CPU backend's pool of freed arrays (engine/cpu/array-pool.ts): reuse by dtype and length,
// zeroed on reuse (unless the caller overwrites it all), a byte cap, and a disposed tensor's array going back exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArrayPool } from '../../engine/cpu/array-pool.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';

test('a freed array is reused for the same dtype and length, zeroed', () => {
  const pool = new ArrayPool(1 << 20);
  const a = pool.take('f32', 100);
  a.fill(7);
  pool.give('f32', a);
  assert.equal(pool.bytes, 400);
  assert.notEqual(pool.take('f64', 100), a, 'another dtype gets a new array');
  assert.notEqual(pool.take('f32', 101), a, 'another length gets a new array');
  const b = pool.take('f32', 100);
  assert.equal(b, a);
  assert.ok(b.every((v) => v === 0));
  assert.equal(pool.bytes, 0);
  // A caller that overwrites every element asks for no zeroing: it gets the old values.
  b.fill(3);
  pool.give('f32', b);
  const c = pool.take('f32', 100, true);
  assert.equal(c, b);
  assert.ok(c.every((v) => v === 3));
});

test('the pool keeps at most its cap, and skips tiny arrays', () => {
  const pool = new ArrayPool(1000);
  pool.give('f32', new Float32Array(200)); // 800 bytes
  pool.give('f32', new Float32Array(200)); // would exceed 1000
  assert.equal(pool.bytes, 800);
  pool.give('f32', new Float32Array(8));
  assert.equal(pool.bytes, 800);
});

test('disposing tensors returns their arrays once; results stay right when arrays are reused', async () => {
  const before = cpuBackend.memory().pooledBytes;
  const x = tensor(Array.from({ length: 256 }, (_, i) => i), [256], { backend: cpuBackend });
  const y = x.view([16, 16]);
  x.dispose();
  assert.equal(cpuBackend.memory().pooledBytes, before, 'a view still holds the storage');
  y.dispose();
  y.dispose();
  assert.equal(cpuBackend.memory().pooledBytes, before + 1024, 'returned once');
  const z = tensor(Array.from({ length: 256 }, () => 1), [256], { backend: cpuBackend });
  assert.deepEqual([...(await z.toArray())], Array(256).fill(1));
  z.dispose();
});

test('a matmul writes every element of a reused (dirty) array: big and small products, K = 0, batched', async () => {
  const ops = await import('../../engine/ops.ts');
  const cases: [number[], number[]][] = [[[33, 70], [70, 20]], [[3, 5], [5, 2]], [[6, 0], [0, 9]], [[2, 17, 40], [40, 24]]];
  for (const [as, bs] of cases) {
    const a = tensor(Float32Array.from({ length: as.reduce((x, y) => x * y, 1) }, (_, i) => Math.sin(i)), as, { backend: cpuBackend });
    const b = tensor(Float32Array.from({ length: bs.reduce((x, y) => x * y, 1) }, (_, i) => Math.cos(i)), bs, { backend: cpuBackend });
    const want = await ops.matmul(a, b).toArray();
    // Free an array of the output's length full of 7s, so the next matmul gets it from the pool.
    const dirty = tensor(new Float32Array(want.length).fill(7), [want.length], { backend: cpuBackend });
    dirty.dispose();
    assert.deepEqual(Array.from(await ops.matmul(a, b).toArray()), Array.from(want), `${as} × ${bs}`);
    if (as.at(-1) === 0) assert.ok(want.every((v) => v === 0), 'an empty sum is 0');
  }
});
