/**
 * The pitch heard in a log-mel [T, F], and the colour it stands for.
 *
 * Mel power P[m] = Σ_t exp(L[t, m]) (the loud tone bursts dominate). The peak band k and its
 * louder neighbour j give the frequency by interpolation of their centres (Hz), weighted by power:
 * f = (c_k P_k + c_j P_j) / (P_k + P_j). For a pure tone between two centres this is exact for
 * the HTK triangles of data/audio/mel.ts (they are linear in Hz and sum to 1 there). The colour is
 * the COLOURS entry (among the first nColours) nearest in log-frequency.
 */
import type { AudioConfig } from '../audio/config.ts';
import { melFilterbank } from '../audio/mel.ts';
import { COLOURS } from '../synthetic-render.ts';

/** Dominant frequency (Hz) of a natural-log mel [T, F]. */
export function dominantPitchHz(logmel: Float32Array, frames: number, ac: AudioConfig): number {
  const F = ac.nMels;
  if (logmel.length !== frames * F) throw new Error(`dominantPitchHz: log-mel has ${logmel.length} values, expected ${frames}×${F}`);
  const power = new Float64Array(F);
  for (let t = 0; t < frames; t++) for (let m = 0; m < F; m++) power[m] = power[m]! + Math.exp(Math.min(50, logmel[t * F + m]!));
  let k = 0;
  for (let m = 1; m < F; m++) if (power[m]! > power[k]!) k = m;
  const c = melFilterbank(ac).centers;
  const lo = k > 0 ? power[k - 1]! : -1;
  const hi = k < F - 1 ? power[k + 1]! : -1;
  const j = hi >= lo ? k + 1 : k - 1;
  if (j < 0 || j >= F) return c[k]!;
  return (c[k]! * power[k]! + c[j]! * power[j]!) / (power[k]! + power[j]!);
}

/** Index of the COLOURS entry (< nColours) whose pitch is nearest to f in log-frequency. */
export function colourOfPitch(f: number, nColours = COLOURS.length): number {
  let best = 0;
  for (let k = 1; k < nColours; k++) if (Math.abs(Math.log(f / COLOURS[k]!.pitch)) < Math.abs(Math.log(f / COLOURS[best]!.pitch))) best = k;
  return best;
}

/** Colour index heard in a log-mel [T, F]. */
export function heardColour(logmel: Float32Array, frames: number, ac: AudioConfig, nColours = COLOURS.length): number {
  return colourOfPitch(dominantPitchHz(logmel, frames, ac), nColours);
}

/**
 * Share of the mel power that each colour's pitch explains: s_k = Σ_m w_m(p_k) P[m], with w_m(f)
 * band m's triangle at frequency f and P as in dominantPitchHz, normalised to sum to 1 over the
 * first nColours colours (all equal when none has any power). A soft "heard colour" histogram.
 */
export function pitchShares(logmel: Float32Array, frames: number, ac: AudioConfig, nColours = COLOURS.length): Float64Array {
  const F = ac.nMels;
  const power = new Float64Array(F);
  for (let t = 0; t < frames; t++) for (let m = 0; m < F; m++) power[m] = power[m]! + Math.exp(Math.min(50, logmel[t * F + m]!));
  const c = melFilterbank(ac).centers;
  const edge = (m: number): number => (m < 0 ? ac.fMin : m >= F ? ac.fMax : c[m]!);
  const out = new Float64Array(nColours);
  let total = 0;
  for (let k = 0; k < nColours; k++) {
    const f = COLOURS[k]!.pitch;
    let s = 0;
    for (let m = 0; m < F; m++) {
      const [a, b, d] = [edge(m - 1), edge(m), edge(m + 1)];
      const w = f <= a || f >= d ? 0 : f <= b ? (f - a) / (b - a) : (d - f) / (d - b);
      s += w * power[m]!;
    }
    out[k] = s;
    total += s;
  }
  for (let k = 0; k < nColours; k++) out[k] = total > 0 ? out[k]! / total : 1 / nColours;
  return out;
}
