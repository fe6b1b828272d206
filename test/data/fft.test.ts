import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fft, magnitudeSpectrum } from '../../data/audio/fft.ts';
import { Prng } from '../../data/prng.ts';

function naiveDft(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  const n = re.length;
  const or = new Float64Array(n);
  const oi = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * k * j) / n;
      or[k] = or[k]! + re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
      oi[k] = oi[k]! + re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
    }
  }
  return [or, oi];
}

test('FFT matches a naive DFT for sizes 1..256', () => {
  const rng = new Prng(1);
  for (const n of [1, 2, 4, 8, 16, 64, 256]) {
    const re = Float64Array.from({ length: n }, () => rng.normal());
    const im = Float64Array.from({ length: n }, () => rng.normal());
    const [er, ei] = naiveDft(re, im);
    fft(re, im);
    for (let k = 0; k < n; k++) {
      assert.ok(Math.abs(re[k]! - er[k]!) < 1e-9 * n && Math.abs(im[k]! - ei[k]!) < 1e-9 * n, `n=${n} k=${k}`);
    }
  }
});

test('inverse FFT undoes the forward FFT', () => {
  const rng = new Prng(2);
  const re = Float64Array.from({ length: 512 }, () => rng.normal());
  const im = Float64Array.from({ length: 512 }, () => rng.normal());
  const r0 = re.slice();
  const i0 = im.slice();
  fft(re, im);
  fft(re, im, true);
  for (let i = 0; i < 512; i++) assert.ok(Math.abs(re[i]! - r0[i]!) < 1e-12 && Math.abs(im[i]! - i0[i]!) < 1e-12);
});

test('FFT rejects lengths that are not powers of two', () => {
  assert.throws(() => fft(new Float64Array(12), new Float64Array(12)), /not a power of two/);
  assert.throws(() => fft(new Float64Array(8), new Float64Array(4)), /im has 4/);
});

test('a cosine at bin 5 peaks at bin 5', () => {
  const x = Float64Array.from({ length: 64 }, (_, i) => Math.cos((2 * Math.PI * 5 * i) / 64));
  const m = magnitudeSpectrum(x, 64);
  assert.ok(Math.abs(m[5]! - 32) < 1e-9);
  assert.ok(m[4]! < 1e-9 && m[6]! < 1e-9);
});
