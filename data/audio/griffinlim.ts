/**
 * Griffin–Lim phase reconstruction (D. Griffin, J. Lim, "Signal estimation from modified short-time
 * Fourier transform", IEEE TASSP 32(2), 1984): alternate projections between spectrograms with
 * the target magnitude and consistent spectrograms (STFT of a signal), with the "fast" momentum of
 * Perraudin, Balazs & Søndergaard (2013): t_n = c_n + α(c_n − c_{n−1}).
 */
import type { AudioConfig } from './config.ts';
import { melFilterbank, melToLinear } from './mel.ts';
import { istft, stft, type Spectrogram, type StftOptions } from './stft.ts';
import { Prng } from '../prng.ts';

export interface GriffinLimOptions {
  /** Iterations (default 32). */
  iters?: number;
  /** Momentum α of fast Griffin–Lim (default 0.99; 0 gives the 1984 algorithm). */
  momentum?: number;
  /** Seed of the random initial phase (default 0). */
  seed?: number;
  /** Output length in samples (default frames·hop). */
  length?: number;
}

/** Waveform [length] whose STFT magnitude approximates `mag` [frames, nFft/2+1] (linear magnitude). */
export function griffinLim(mag: Float32Array, frames: number, o: StftOptions, g: GriffinLimOptions = {}): Float32Array {
  const bins = o.nFft / 2 + 1;
  if (mag.length !== frames * bins) throw new Error(`griffinLim: magnitude has ${mag.length} values, expected ${frames}×${bins}`);
  const iters = g.iters ?? 32;
  const alpha = g.momentum ?? 0.99;
  const length = g.length ?? frames * o.hop;
  const rng = new Prng(g.seed ?? 0);
  const n = frames * bins;
  const X: Spectrogram = { re: new Float32Array(n), im: new Float32Array(n), frames, bins };
  for (let i = 0; i < n; i++) {
    const ph = 2 * Math.PI * rng.next();
    X.re[i] = mag[i]! * Math.cos(ph);
    X.im[i] = mag[i]! * Math.sin(ph);
  }
  let prev: Spectrogram | null = null;
  const beta = alpha / (1 + alpha);
  for (let it = 0; it < iters; it++) {
    const rebuilt = stft(istft(X, o, length), o, frames);
    for (let i = 0; i < n; i++) {
      let r = rebuilt.re[i]!;
      let im = rebuilt.im[i]!;
      if (prev) {
        r -= beta * prev.re[i]!;
        im -= beta * prev.im[i]!;
      }
      const a = Math.hypot(r, im);
      if (a > 1e-12) {
        X.re[i] = (mag[i]! * r) / a;
        X.im[i] = (mag[i]! * im) / a;
      } else {
        X.re[i] = mag[i]!;
        X.im[i] = 0;
      }
    }
    prev = rebuilt;
  }
  return istft(X, o, length);
}

/**
 * Log-mel [frames, nMels] (natural log, as logMel makes) → waveform: exp, mel → linear by NNLS
 * (`melIters` updates), the power undone to a magnitude, then Griffin–Lim.
 */
export function logMelToAudio(logmel: Float32Array, frames: number, c: AudioConfig, g: GriffinLimOptions & { melIters?: number } = {}): Float32Array {
  const mel = new Float32Array(logmel.length);
  const floor = c.logFloor;
  // Values at the floor mean "silence": map them to 0 so they add no noise.
  for (let i = 0; i < mel.length; i++) {
    const v = Math.exp(logmel[i]!);
    mel[i] = v <= floor * 1.0001 ? 0 : v;
  }
  const lin = melToLinear(mel, frames, melFilterbank(c), g.melIters ?? 32);
  if (c.power !== 1) for (let i = 0; i < lin.length; i++) lin[i] = Math.pow(lin[i]!, 1 / c.power);
  return griffinLim(lin, frames, c, g);
}
