import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpu, useGpu } from './helpers.ts';

const gpu = useGpu();

// Offsets near 2^32 exercise the carry into the counter's high word; seeds above 2^32 the key's.
const cases: [number, number, number][] = [[0, 0, 5000], [12345, 77, 3001], [2 ** 40 + 3, 2 ** 32 - 1000, 2000], [7, 2 ** 45, 500]];

test('uniform: bit-identical to the CPU Philox', async () => {
  for (const [seed, offset, n] of cases) {
    const g = await gpu().read(gpu().random('uniform', n, 'f32', seed, offset));
    const c = cpu.readSync!(cpu.random('uniform', n, 'f32', seed, offset));
    assert.deepEqual(g, c, `seed ${seed} offset ${offset}`);
  }
});

test('normal: Box–Muller within ~1e-6 of the CPU', async () => {
  for (const [seed, offset, n] of cases) {
    const g = await gpu().read(gpu().random('normal', n, 'f32', seed, offset));
    const c = cpu.readSync!(cpu.random('normal', n, 'f32', seed, offset));
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(g[i]! - c[i]!) / (1e-6 + Math.abs(c[i]!)));
    assert.ok(worst < 2e-6, `seed ${seed}: worst relative error ${worst}`);
  }
});
