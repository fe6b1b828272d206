// Philox-4x32-10 against the Random123 known-answer vectors, and the draws built on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { philox4x32, Generator, manualSeed } from '../../engine/rng.ts';
import { rand, randn } from '../../engine/creation.ts';

test('philox4x32-10 known answers (Random123 kat_vectors)', () => {
  assert.deepEqual(philox4x32(0, 0, 0, 0, 0, 0), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  assert.deepEqual(philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  assert.deepEqual(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0), [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test('same seed, same numbers; draws do not overlap; counters are per element', () => {
  manualSeed(3);
  const a = rand([1000]).dataSync();
  manualSeed(3);
  const b = rand([600]).dataSync();
  const c = rand([400]).dataSync();
  assert.deepEqual([...a], [...b, ...c]);
  const g = new Generator(3, 600);
  assert.deepEqual([...rand([400], { generator: g }).dataSync()], [...c]);
});

test('uniform and normal have the right moments', () => {
  const u = rand([20000], { generator: new Generator(9) }).dataSync();
  const z = randn([20000], { generator: new Generator(9) }).dataSync();
  const mean = (x: ArrayLike<number>) => Array.from(x).reduce((s, v) => s + v, 0) / x.length;
  const varOf = (x: ArrayLike<number>) => {
    const m = mean(x); // once: inside the map it made this test quadratic (70 s)
    return mean(Array.from(x, (v) => (v - m) ** 2));
  };
  assert.ok(Math.abs(mean(u) - 0.5) < 0.01 && Math.abs(varOf(u) - 1 / 12) < 0.005);
  assert.ok(Math.min(...u) >= 0 && Math.max(...u) < 1);
  assert.ok(Math.abs(mean(z)) < 0.03 && Math.abs(varOf(z) - 1) < 0.04);
});

test('the fill loop gives philox4x32 bits, across the 2^32 counter boundary', async () => {
  const { philoxFill, split64 } = await import('../../engine/rng.ts');
  const seed = 0x1234567890, offset = 0xfffffff0; // counters 2^32 − 16 … 2^32 + 15: the high word carries
  const u = new Float64Array(32), z = new Float64Array(32);
  philoxFill(u, 'uniform', seed, offset);
  philoxFill(z, 'normal', seed, offset);
  const [k0, k1] = split64(seed);
  for (let i = 0; i < 32; i++) {
    const [lo, hi] = split64(offset + i);
    const [w0, w1] = philox4x32(lo, hi, 0, 0, k0, k1);
    assert.equal(u[i], (w0 >>> 8) * 2 ** -24);
    assert.equal(z[i], Math.sqrt(-2 * Math.log(((w0 >>> 8) + 1) * 2 ** -24)) * Math.cos(2 * Math.PI * (w1 >>> 8) * 2 ** -24));
  }
});
