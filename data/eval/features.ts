/**
 * Simple, documented per-clip features for Fréchet distances (FVD/FAD in miniature: the features
 * are hand-made and read the synthetic scene directly, no pretrained network).
 *
 * Video features (names in videoFeatureNames):
 *   colour_<name>    share of object pixels nearest to each colour in use (visual.ts colourHistogram)
 *   area_mean        mean object area per frame, as a fraction of the frame
 *   area_std         its standard deviation over frames (appearance, flash growth)
 *   lum_mean         mean brightness of object pixels, mass / area averaged over frames
 *   mass_cv          standard deviation / mean of the object mass over frames (flashes)
 *   height_std       standard deviation of the vertical centroid over frames, / H (bounces)
 *   height_mean      mean vertical centroid, / H
 *   motion_mean      mean absolute frame difference ([-1, 1] units), frames 1..M−1
 *   motion_max       its maximum
 * Audio features (names in audioFeatureNames):
 *   mel_<g>          mean log-mel over time, pooled into min(8, F) equal groups of bands
 *   pitch_<name>     share of the mel power at each colour's pitch (pitch.ts pitchShares)
 *   flux_mean, flux_std, flux_max   spectral flux (onset strength, data/audio/onset.ts) per band
 *   onset_rate       detected onsets per second
 */
import type { AudioConfig } from '../audio/config.ts';
import { detectOnsets, type OnsetOptions } from '../audio/onset.ts';
import { COLOURS } from '../synthetic-render.ts';
import { pitchShares } from './pitch.ts';
import { colourHistogram, frameStats, objectWeights, type ClipDims, type FrameStats } from './visual.ts';

const meanOf = (a: ArrayLike<number>, from = 0): number => {
  let s = 0;
  for (let i = from; i < a.length; i++) s += a[i]!;
  return a.length > from ? s / (a.length - from) : 0;
};
const stdOf = (a: ArrayLike<number>, from = 0): number => {
  const m = meanOf(a, from);
  let s = 0;
  for (let i = from; i < a.length; i++) s += (a[i]! - m) ** 2;
  return a.length > from ? Math.sqrt(s / (a.length - from)) : 0;
};

export function videoFeatureNames(nColours: number): string[] {
  return [...COLOURS.slice(0, nColours).map((c) => `colour_${c.name}`), 'area_mean', 'area_std', 'lum_mean', 'mass_cv', 'height_std', 'height_mean', 'motion_mean', 'motion_max'];
}

/** Video features of one clip [M, 3, H, W] (stats and weights may be passed when already computed). */
export function videoFeatures(video: Float32Array, d: ClipDims, nColours: number, weights = objectWeights(video, d), stats: FrameStats = frameStats(video, d, weights)): number[] {
  const hw = d.height * d.width;
  const lum = Array.from(stats.area, (a, m) => (a > 0 ? stats.mass[m]! / a : 0));
  const massMean = meanOf(stats.mass);
  let motionMax = 0;
  for (let m = 1; m < d.frames; m++) motionMax = Math.max(motionMax, stats.motion[m]!);
  return [
    ...colourHistogram(video, d, nColours, weights),
    meanOf(stats.area) / hw,
    stdOf(stats.area) / hw,
    meanOf(lum),
    massMean > 0 ? stdOf(stats.mass) / massMean : 0,
    stdOf(stats.cy) / d.height,
    meanOf(stats.cy) / d.height,
    meanOf(stats.motion, 1),
    motionMax,
  ];
}

const melGroups = (F: number): number => Math.min(8, F);

export function audioFeatureNames(nMels: number, nColours: number): string[] {
  return [...Array.from({ length: melGroups(nMels) }, (_, g) => `mel_${g}`), ...COLOURS.slice(0, nColours).map((c) => `pitch_${c.name}`), 'flux_mean', 'flux_std', 'flux_max', 'onset_rate'];
}

/** Audio features of one natural-log mel [T, F]. */
export function audioFeatures(logmel: Float32Array, frames: number, ac: AudioConfig, nColours: number, onset: OnsetOptions = {}): number[] {
  const F = ac.nMels;
  const G = melGroups(F);
  const pooled = new Array<number>(G).fill(0);
  const count = new Array<number>(G).fill(0);
  for (let m = 0; m < F; m++) {
    const g = Math.min(G - 1, Math.floor((m * G) / F));
    let s = 0;
    for (let t = 0; t < frames; t++) s += logmel[t * F + m]!;
    pooled[g] = pooled[g]! + s / frames;
    count[g] = count[g]! + 1;
  }
  const { frames: on, flux } = detectOnsets(logmel, frames, F, onset);
  const perBand = Array.from(flux, (v) => v / F);
  const seconds = (frames * ac.hop) / ac.sampleRate;
  return [...pooled.map((s, g) => s / count[g]!), ...pitchShares(logmel, frames, ac, nColours), meanOf(perBand, 1), stdOf(perBand, 1), Math.max(0, ...perBand), on.length / seconds];
}
