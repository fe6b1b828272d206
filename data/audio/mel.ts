/**
 * Mel filterbank, (log-)mel spectrograms and an approximate inverse.
 *
 * Mel scale: HTK, m = 2595 · log10(1 + f / 700) (O'Shaughnessy 1987). Filters are triangles on the
 * linear-frequency axis with corners at nMels + 2 points equally spaced in mel between fMin and
 * fMax, peak height 1 (HTK-style, no area normalisation): between the first and last centre the
 * filters sum to 1 at every bin. A filter too narrow to contain any bin gets weight 1 on its
 * nearest bin, so no band is ever empty.
 *
 * Inverse: the magnitude spectrum s ≥ 0 minimising ‖F s − m‖² per frame, by Lee–Seung
 * multiplicative updates s ← s ⊙ (Fᵀm) / (FᵀF s) (a non-negative least-squares approximation),
 * started from the normalised transpose Fᵀm / Fᵀ1.
 */
import type { AudioConfig } from './config.ts';
import { magnitude, stft } from './stft.ts';

export const hzToMel = (f: number): number => 2595 * Math.log10(1 + f / 700);
export const melToHz = (m: number): number => 700 * (Math.pow(10, m / 2595) - 1);

/** A filterbank: dense weights [nMels, bins] plus each row's non-zero range [lo, hi). */
export interface MelFilterbank {
  weights: Float32Array;
  nMels: number;
  bins: number;
  lo: Int32Array;
  hi: Int32Array;
  /** Centre frequency of each band (Hz). */
  centers: Float64Array;
}

const cache = new Map<string, MelFilterbank>();

export function melFilterbank(c: Pick<AudioConfig, 'sampleRate' | 'nFft' | 'nMels' | 'fMin' | 'fMax'>): MelFilterbank {
  const key = `${c.sampleRate}/${c.nFft}/${c.nMels}/${c.fMin}/${c.fMax}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const bins = c.nFft / 2 + 1;
  const binHz = c.sampleRate / c.nFft;
  const m0 = hzToMel(c.fMin);
  const m1 = hzToMel(c.fMax);
  const pts = Array.from({ length: c.nMels + 2 }, (_, i) => melToHz(m0 + ((m1 - m0) * i) / (c.nMels + 1)));
  const weights = new Float32Array(c.nMels * bins);
  const lo = new Int32Array(c.nMels);
  const hi = new Int32Array(c.nMels);
  const centers = new Float64Array(c.nMels);
  for (let m = 0; m < c.nMels; m++) {
    const [a, b, d] = [pts[m]!, pts[m + 1]!, pts[m + 2]!];
    centers[m] = b;
    let first = -1;
    let last = -1;
    for (let k = 0; k < bins; k++) {
      const f = k * binHz;
      const v = f <= a || f >= d ? 0 : f <= b ? (f - a) / (b - a) : (d - f) / (d - b);
      if (v > 0) {
        weights[m * bins + k] = v;
        if (first < 0) first = k;
        last = k;
      }
    }
    if (first < 0) {
      first = last = Math.min(bins - 1, Math.round(b / binHz));
      weights[m * bins + first] = 1;
    }
    lo[m] = first;
    hi[m] = last + 1;
  }
  const fb: MelFilterbank = { weights, nMels: c.nMels, bins, lo, hi, centers };
  cache.set(key, fb);
  return fb;
}

/** Mel spectrogram [frames, nMels] of a spectrum |X|^power given row-major [frames, bins]. */
export function applyFilterbank(spec: Float32Array, frames: number, fb: MelFilterbank): Float32Array {
  if (spec.length !== frames * fb.bins) throw new Error(`applyFilterbank: spectrum has ${spec.length} values, expected ${frames}×${fb.bins}`);
  const out = new Float32Array(frames * fb.nMels);
  for (let t = 0; t < frames; t++) {
    for (let m = 0; m < fb.nMels; m++) {
      let s = 0;
      for (let k = fb.lo[m]!; k < fb.hi[m]!; k++) s += fb.weights[m * fb.bins + k]! * spec[t * fb.bins + k]!;
      out[t * fb.nMels + m] = s;
    }
  }
  return out;
}

/** Mel spectrogram of a waveform x [L] → [T, nMels], T = ceil(L / hop). */
export function melSpectrogram(x: ArrayLike<number>, c: AudioConfig, frames?: number): Float32Array {
  const s = stft(x, c, frames);
  return applyFilterbank(magnitude(s, c.power), s.frames, melFilterbank(c));
}

/** Log-mel: ln(max(mel, logFloor)) → [T, nMels]. */
export function logMel(x: ArrayLike<number>, c: AudioConfig, frames?: number): Float32Array {
  const mel = melSpectrogram(x, c, frames);
  for (let i = 0; i < mel.length; i++) mel[i] = Math.log(Math.max(mel[i]!, c.logFloor));
  return mel;
}

/**
 * Mel → linear spectrum (the same power as the mel) [frames, bins], non-negative least squares by
 * `iters` multiplicative updates. Bins outside every filter come back as 0.
 */
export function melToLinear(mel: Float32Array, frames: number, fb: MelFilterbank, iters = 32): Float32Array {
  const { nMels, bins, weights, lo, hi } = fb;
  if (mel.length !== frames * nMels) throw new Error(`melToLinear: mel has ${mel.length} values, expected ${frames}×${nMels}`);
  const colSum = new Float64Array(bins);
  for (let m = 0; m < nMels; m++) for (let k = lo[m]!; k < hi[m]!; k++) colSum[k] = colSum[k]! + weights[m * bins + k]!;
  const out = new Float32Array(frames * bins);
  const ftm = new Float64Array(bins);
  const s = new Float64Array(bins);
  const fs = new Float64Array(nMels);
  const den = new Float64Array(bins);
  for (let t = 0; t < frames; t++) {
    ftm.fill(0);
    for (let m = 0; m < nMels; m++) {
      const v = Math.max(0, mel[t * nMels + m]!);
      for (let k = lo[m]!; k < hi[m]!; k++) ftm[k] = ftm[k]! + weights[m * bins + k]! * v;
    }
    for (let k = 0; k < bins; k++) s[k] = colSum[k]! > 0 ? ftm[k]! / colSum[k]! : 0;
    for (let it = 0; it < iters; it++) {
      for (let m = 0; m < nMels; m++) {
        let a = 0;
        for (let k = lo[m]!; k < hi[m]!; k++) a += weights[m * bins + k]! * s[k]!;
        fs[m] = a;
      }
      for (let k = 0; k < bins; k++) if (colSum[k]! > 0) s[k] = s[k]! * ftm[k]!; // numerator first
      den.fill(0);
      for (let m = 0; m < nMels; m++) for (let k = lo[m]!; k < hi[m]!; k++) den[k] = den[k]! + weights[m * bins + k]! * fs[m]!;
      for (let k = 0; k < bins; k++) s[k] = den[k]! > 1e-30 ? s[k]! / den[k]! : 0;
    }
    for (let k = 0; k < bins; k++) out[t * bins + k] = s[k]!;
  }
  return out;
}

/** Map log-mel values from [lo, hi] (e.g. [ln logFloor, ln maxMel]) to [-1, 1] (clamped), in place. */
export function normalizeLogMel(x: Float32Array, lo: number, hi: number): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = Math.min(1, Math.max(-1, (2 * (x[i]! - lo)) / (hi - lo) - 1));
  return x;
}

/** Inverse of normalizeLogMel: [-1, 1] → [lo, hi], in place. */
export function denormalizeLogMel(x: Float32Array, lo: number, hi: number): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = lo + ((x[i]! + 1) * (hi - lo)) / 2;
  return x;
}
