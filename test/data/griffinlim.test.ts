import assert from 'node:assert/strict';
import { test } from 'node:test';
import { audioConfig } from '../../data/audio/config.ts';
import { magnitudeSpectrum } from '../../data/audio/fft.ts';
import { griffinLim, logMelToAudio } from '../../data/audio/griffinlim.ts';
import { logMel } from '../../data/audio/mel.ts';
import { magnitude, stft } from '../../data/audio/stft.ts';

const sr = 16000;
const tone = (f: number, n: number) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / sr));

/** Dominant frequency (Hz) of x over an N-point FFT, and the bin width. */
function dominant(x: Float32Array, N: number): [number, number] {
  const m = magnitudeSpectrum(x.subarray(0, N), N);
  let best = 1;
  for (let k = 1; k < m.length; k++) if (m[k]! > m[best]!) best = k;
  return [(best * sr) / N, sr / N];
}

test('Griffin–Lim on a pure tone recovers its pitch within one bin', () => {
  const o = { nFft: 512, hop: 128 };
  const x = tone(440, 8192);
  const s = stft(x, o);
  const y = griffinLim(magnitude(s), s.frames, o, { iters: 24, length: x.length });
  const [f, bin] = dominant(y, 8192);
  assert.ok(Math.abs(f - 440) <= bin, `dominant ${f} Hz, want 440 ± ${bin}`);
  // And the STFT bin of the reconstruction: 440 Hz lies within one 31.25 Hz bin of the peak.
  const m = magnitude(stft(y, o));
  let best = 0;
  for (let k = 0; k < 257; k++) if (m[10 * 257 + k]! > m[10 * 257 + best]!) best = k;
  assert.ok(Math.abs((best * sr) / 512 - 440) <= sr / 512);
});

test('log-mel → inverse mel → Griffin–Lim keeps the pitch of a tone and the silence of silence', () => {
  const c = audioConfig({ nFft: 512, winLength: 400, nMels: 64 });
  const x = tone(660, 6400);
  const lm = logMel(x, c);
  const T = lm.length / c.nMels;
  const y = logMelToAudio(lm, T, c, { iters: 24 });
  assert.equal(y.length, T * c.hop);
  const [f] = dominant(y, 4096);
  assert.ok(Math.abs(f - 660) < 40, `dominant ${f} Hz, want 660 (mel bands there are ~45 Hz wide)`);
  const silent = logMelToAudio(logMel(new Float32Array(3200), c), 20, c, { iters: 4 });
  for (const v of silent) assert.equal(v, 0);
});
