/**
 * Short-time Fourier transform and its least-squares inverse.
 *   X[t, k] = Σ_n x[n + t·hop − nFft/2] · w[n] · e^{-2πi kn/nFft}   (frame t centred on sample t·hop)
 * The inverse is Griffin & Lim's least-squares estimate (IEEE TASSP 1984, eq. 6):
 *   x[n] = Σ_t w[n − t·hop] · y_t[n − t·hop] / Σ_t w²[n − t·hop],  y_t = IDFT(X[t, ·])
 * which reconstructs x exactly from an unmodified STFT wherever Σ_t w² > 0.
 * Padding: the analysis reflects the signal before its start (x[−i] = x[i], as librosa/torch with
 * center=True) so the first frames see the signal, not a fake rise out of silence, and pads with
 * zeros after its end, because reflecting a sound that is still decaying there would mirror it
 * into a fake rise (a spurious onset). The inverse ignores samples outside the signal.
 */
import { fft, isPowerOfTwo } from './fft.ts';

export interface StftOptions {
  /** FFT size (power of two). Bins K = nFft/2 + 1. */
  nFft: number;
  /** Hop in samples (160 = 10 ms at 16 kHz). */
  hop: number;
  /** Hann window length (≤ nFft, centred in the frame); defaults to nFft. */
  winLength?: number;
}

/** A one-sided complex spectrogram, row-major [frames, bins]. */
export interface Spectrogram {
  re: Float32Array;
  im: Float32Array;
  frames: number;
  bins: number;
}

/** Periodic Hann window of `winLength`, zero-padded to `nFft` with the window centred. */
export function hannWindow(nFft: number, winLength = nFft): Float64Array {
  if (winLength > nFft || winLength < 1) throw new Error(`hannWindow: winLength ${winLength} must be in [1, ${nFft}]`);
  const w = new Float64Array(nFft);
  const off = Math.floor((nFft - winLength) / 2);
  for (let n = 0; n < winLength; n++) w[off + n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / winLength);
  return w;
}

function check(o: StftOptions): void {
  if (!isPowerOfTwo(o.nFft)) throw new Error(`stft: nFft ${o.nFft} must be a power of two`);
  if (!Number.isInteger(o.hop) || o.hop < 1) throw new Error(`stft: hop ${o.hop} must be a positive integer`);
}

/** Number of frames for a signal of `length` samples: ceil(length / hop) (1.6 s, 16 kHz, hop 160 → 160). */
export function frameCount(length: number, hop: number): number {
  return Math.max(1, Math.ceil(length / hop));
}

/** STFT of a real signal x [L] → Spectrogram [frames, nFft/2+1]. */
export function stft(x: ArrayLike<number>, o: StftOptions, frames = frameCount(x.length, o.hop)): Spectrogram {
  check(o);
  const { nFft, hop } = o;
  const bins = nFft / 2 + 1;
  const w = hannWindow(nFft, o.winLength);
  const re = new Float64Array(nFft);
  const im = new Float64Array(nFft);
  const out: Spectrogram = { re: new Float32Array(frames * bins), im: new Float32Array(frames * bins), frames, bins };
  const half = nFft / 2;
  for (let t = 0; t < frames; t++) {
    const start = t * hop - half;
    for (let n = 0; n < nFft; n++) {
      const i = start + n < 0 ? -(start + n) : start + n;
      re[n] = i < x.length ? x[i]! * w[n]! : 0;
      im[n] = 0;
    }
    fft(re, im);
    for (let k = 0; k < bins; k++) {
      out.re[t * bins + k] = re[k]!;
      out.im[t * bins + k] = im[k]!;
    }
  }
  return out;
}

/** Inverse STFT (least-squares overlap-add) → signal of `length` samples (default frames·hop). */
export function istft(s: Spectrogram, o: StftOptions, length = s.frames * o.hop): Float32Array {
  check(o);
  const { nFft, hop } = o;
  if (s.bins !== nFft / 2 + 1) throw new Error(`istft: spectrogram has ${s.bins} bins but nFft ${nFft} needs ${nFft / 2 + 1}`);
  const w = hannWindow(nFft, o.winLength);
  const re = new Float64Array(nFft);
  const im = new Float64Array(nFft);
  const acc = new Float64Array(length);
  const norm = new Float64Array(length);
  const half = nFft / 2;
  for (let t = 0; t < s.frames; t++) {
    for (let k = 0; k <= half; k++) {
      re[k] = s.re[t * s.bins + k]!;
      im[k] = s.im[t * s.bins + k]!;
    }
    im[0] = 0;
    im[half] = 0;
    for (let k = 1; k < half; k++) {
      re[nFft - k] = re[k]!;
      im[nFft - k] = -im[k]!;
    }
    fft(re, im, true);
    const start = t * hop - half;
    for (let n = 0; n < nFft; n++) {
      const i = start + n;
      if (i < 0 || i >= length) continue;
      acc[i] = acc[i]! + re[n]! * w[n]!;
      norm[i] = norm[i]! + w[n]! * w[n]!;
    }
  }
  const y = new Float32Array(length);
  for (let i = 0; i < length; i++) y[i] = norm[i]! > 1e-8 ? acc[i]! / norm[i]! : 0;
  return y;
}

/** |X| (power 1) or |X|² (power 2), row-major [frames, bins]. */
export function magnitude(s: Spectrogram, power = 1): Float32Array {
  const out = new Float32Array(s.re.length);
  for (let i = 0; i < out.length; i++) {
    const m2 = s.re[i]! * s.re[i]! + s.im[i]! * s.im[i]!;
    out[i] = power === 2 ? m2 : Math.pow(m2, power / 2);
  }
  return out;
}
