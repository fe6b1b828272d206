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
  // Two frames per complex FFT: frame t in the real part, frame t + 1 in the imaginary part, then
  // separated by the symmetry of real signals' spectra, X_t[k] = (Z[k] + conj Z[N−k]) / 2 and
  // X_{t+1}[k] = (Z[k] − conj Z[N−k]) / 2i: half the FFTs.
  const windowed = (t: number, into: Float64Array): void => {
    const start = t * hop - half;
    for (let n = 0; n < nFft; n++) {
      const i = start + n < 0 ? -(start + n) : start + n;
      into[n] = t < frames && i < x.length ? x[i]! * w[n]! : 0;
    }
  };
  for (let t = 0; t < frames; t += 2) {
    windowed(t, re);
    windowed(t + 1, im);
    fft(re, im);
    for (let k = 0; k < bins; k++) {
      const j = (nFft - k) % nFft;
      const zr = re[k]!, zi = im[k]!, cr = re[j]!, ci = im[j]!;
      out.re[t * bins + k] = (zr + cr) / 2;
      out.im[t * bins + k] = (zi - ci) / 2;
      if (t + 1 < frames) {
        out.re[(t + 1) * bins + k] = (zi + ci) / 2;
        out.im[(t + 1) * bins + k] = (cr - zr) / 2;
      }
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
  // Two frames per complex inverse FFT: Z = X_t + i·X_{t+1} (each extended to its Hermitian full
  // spectrum) transforms to x_t + i·x_{t+1}, both real: half the FFTs.
  const overlapAdd = (t: number, y: Float64Array): void => {
    const start = t * hop - half;
    for (let n = 0; n < nFft; n++) {
      const i = start + n;
      if (i < 0 || i >= length) continue;
      acc[i] = acc[i]! + y[n]! * w[n]!;
      norm[i] = norm[i]! + w[n]! * w[n]!;
    }
  };
  for (let t = 0; t < s.frames; t += 2) {
    const two = t + 1 < s.frames;
    for (let k = 0; k <= half; k++) {
      // X_t[k] = a + ib, X_{t+1}[k] = c + id (0 without a second frame); the DC and Nyquist bins are real.
      const edge = k === 0 || k === half;
      const a = s.re[t * s.bins + k]!, b = edge ? 0 : s.im[t * s.bins + k]!;
      const c = two ? s.re[(t + 1) * s.bins + k]! : 0, d = two && !edge ? s.im[(t + 1) * s.bins + k]! : 0;
      re[k] = a - d;
      im[k] = b + c;
      if (!edge) {
        // Z[N−k] = conj X_t[k] + i·conj X_{t+1}[k]
        re[nFft - k] = a + d;
        im[nFft - k] = c - b;
      }
    }
    fft(re, im, true);
    overlapAdd(t, re);
    if (two) overlapAdd(t + 1, im);
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
