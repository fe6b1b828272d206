import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frameCount, hannWindow, istft, magnitude, stft } from '../../data/audio/stft.ts';
import { Prng } from '../../data/prng.ts';

test('STFT → iSTFT reconstructs the signal (Hann, 75% and 60% overlap, short window)', () => {
  const rng = new Prng(3);
  const x = Float32Array.from({ length: 4000 }, () => rng.normal() * 0.3);
  for (const o of [{ nFft: 512, hop: 128 }, { nFft: 1024, hop: 160, winLength: 400 }, { nFft: 256, hop: 100 }]) {
    const y = istft(stft(x, o), o, x.length);
    let err = 0;
    for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(x[i]! - y[i]!));
    assert.ok(err < 1e-5, `${JSON.stringify(o)}: max error ${err}`);
  }
});

test('frame count follows the paper: 1.6 s at 16 kHz with a 10 ms hop → 160 frames', () => {
  assert.equal(frameCount(25600, 160), 160);
  const s = stft(new Float32Array(25600), { nFft: 1024, hop: 160 });
  assert.equal(s.frames, 160);
  assert.equal(s.bins, 513);
});

test('Hann window is periodic and centred', () => {
  const w = hannWindow(8);
  assert.equal(w[0], 0);
  assert.ok(Math.abs(w[4]! - 1) < 1e-12);
  const v = hannWindow(8, 4);
  assert.deepEqual([...v].map((a) => +a.toFixed(6)), [0, 0, 0, 0.5, 1, 0.5, 0, 0]);
  assert.throws(() => hannWindow(4, 8), /winLength/);
});

test('a steady sine has its STFT peak at the right bin', () => {
  const sr = 16000;
  const f = 1000; // bin 32 of a 512-point FFT
  const x = Float32Array.from({ length: 8000 }, (_, i) => Math.sin((2 * Math.PI * f * i) / sr));
  const s = stft(x, { nFft: 512, hop: 160 });
  const m = magnitude(s);
  const t = 20;
  let best = 0;
  for (let k = 0; k < s.bins; k++) if (m[t * s.bins + k]! > m[t * s.bins + best]!) best = k;
  assert.equal(best, 32);
});

test('STFT frames equal a DFT of each windowed frame (two frames share one FFT; odd and even frame counts); iSTFT of any spectrum is the frames\' inverse DFTs overlap-added', () => {
  const rng = new Prng(5);
  const nFft = 16, hop = 4;
  const w = hannWindow(nFft);
  for (const frames of [1, 4, 5]) {
    const x = Float32Array.from({ length: frames * hop }, () => rng.normal());
    const s = stft(x, { nFft, hop }, frames);
    for (let t = 0; t < frames; t++) {
      for (let k = 0; k <= nFft / 2; k++) {
        let re = 0, im = 0;
        for (let n = 0; n < nFft; n++) {
          const j = t * hop - nFft / 2 + n, i = j < 0 ? -j : j;
          const v = i < x.length ? x[i]! * w[n]! : 0;
          re += v * Math.cos((-2 * Math.PI * k * n) / nFft);
          im += v * Math.sin((-2 * Math.PI * k * n) / nFft);
        }
        assert.ok(Math.abs(s.re[t * s.bins + k]! - re) < 1e-5 && Math.abs(s.im[t * s.bins + k]! - im) < 1e-5, `frames ${frames}, frame ${t}, bin ${k}`);
      }
    }
    // Any spectrum (not one of a signal): each frame's Hermitian inverse DFT, windowed, overlap-added.
    const spec = { re: Float32Array.from({ length: frames * 9 }, () => rng.normal()), im: Float32Array.from({ length: frames * 9 }, () => rng.normal()), frames, bins: 9 };
    const y = istft(spec, { nFft, hop });
    const acc = new Float64Array(y.length), norm = new Float64Array(y.length);
    for (let t = 0; t < frames; t++) {
      for (let n = 0; n < nFft; n++) {
        let v = 0;
        for (let k = 0; k < nFft; k++) {
          const kk = k <= nFft / 2 ? k : nFft - k, sign = k <= nFft / 2 ? 1 : -1;
          const a = spec.re[t * 9 + kk]!, b = kk === 0 || kk === nFft / 2 ? 0 : sign * spec.im[t * 9 + kk]!;
          v += (a * Math.cos((2 * Math.PI * k * n) / nFft) - b * Math.sin((2 * Math.PI * k * n) / nFft)) / nFft;
        }
        const i = t * hop - nFft / 2 + n;
        if (i < 0 || i >= y.length) continue;
        acc[i] += v * w[n]!;
        norm[i] += w[n]! * w[n]!;
      }
    }
    for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]! - (norm[i]! > 1e-8 ? acc[i]! / norm[i]! : 0)) < 1e-5, `frames ${frames}, sample ${i}`);
  }
});
