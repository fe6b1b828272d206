/**
 * "Does it work?": generated audio-visual clips against held-out real ones.
 *
 * 1. Synchrony. Per clip, audio onsets (spectral flux, data/audio/onset.ts, in video-frame units)
 *    are matched one to one with visual events (visual.ts) within one video frame (syncScore).
 *    A clip is in sync when it has at least one visual event and every onset and every event is
 *    matched (F1 = 1). Reported: the fraction of clips in sync, and the mean F1. A clip with
 *    neither visual events nor audio onsets (blank, silent) scores F1 = 0, not the 1 that
 *    syncScore gives two empty lists: it shows no audio-visual event at all, so there is no
 *    synchrony to credit (otherwise blank, silent samples would score as well as real data).
 * 2. Class agreement. The colour seen (visual.ts dominantColour) against the colour whose pitch is
 *    heard (pitch.ts heardColour): the fraction of clips where they agree; with requested labels
 *    also the fraction where each agrees with the label's colour (label >> 1).
 * 3. Fréchet distances over features.ts's video, audio and joint (video ++ audio) features, all
 *    standardised by the first real set's mean and std: generated vs real set A, and real set B vs
 *    real set A (the floor that sampling noise alone gives). The joint FD also sees whether the
 *    right sound goes with the right picture (e.g. audio shuffled between clips raises only it).
 */
import type { AudioConfig } from '../audio/config.ts';
import { onsetsInVideoFrames, syncScore, type OnsetOptions, type SyncScore } from '../audio/onset.ts';
import type { SyntheticDataset } from '../synthetic.ts';
import { COLOURS } from '../synthetic-render.ts';
import { audioFeatureNames, audioFeatures, videoFeatureNames, videoFeatures } from './features.ts';
import { frechetBetween, standardizer } from './frechet.ts';
import { dominantPitchHz, colourOfPitch } from './pitch.ts';
import { colourHistogram, eventsFromStats, frameStats, objectWeights, type VisualEventOptions } from './visual.ts';

/** N clips: video [N, M, 3, H, W] in [-1, 1], natural-log mel [N, T, F], optional labels [N]. */
export interface ClipSet {
  n: number;
  frames: number;
  height: number;
  width: number;
  /** Log-mel frames T. */
  melFrames: number;
  video: Float32Array;
  logmel: Float32Array;
  /** The class asked for (or the true class of real clips); absent for unconditional samples. */
  labels?: Int32Array;
}

export interface EvalSettings {
  fps: number;
  audio: AudioConfig;
  classes: number;
  onset?: OnsetOptions;
  visual?: VisualEventOptions;
}

export interface ClipAnalysis {
  visualEvents: number[];
  /** Audio onsets in video frames. */
  onsets: number[];
  sync: SyncScore;
  inSync: boolean;
  /** Colour index seen (−1: no object) and heard, and the pitch heard (Hz). */
  seenColour: number;
  heardColour: number;
  pitchHz: number;
  videoFeatures: number[];
  audioFeatures: number[];
}

export interface SetSummary {
  n: number;
  syncFraction: number;
  meanSyncF1: number;
  /** Fraction of clips whose seen colour matches the heard one. */
  agreement: number;
  /** With labels: fraction whose seen (heard) colour is the label's colour; null without labels. */
  videoLabelAgreement: number | null;
  audioLabelAgreement: number | null;
}

export interface FrechetReport {
  video: number;
  audio: number;
  joint: number;
}

export interface EvalReport {
  generated: SetSummary;
  /** The same metrics on held-out real clips (set A), the reference. */
  real: SetSummary;
  fd: { generated: FrechetReport; realVsReal: FrechetReport };
  features: { video: string[]; audio: string[] };
}

/** Number of colours in use for `classes` classes (class c has colour c >> 1). */
export const coloursInUse = (classes: number): number => Math.min(COLOURS.length, Math.max(1, Math.ceil(classes / 2)));

/** Check a set's array sizes against its dimensions; throws naming the problem. */
export function checkClipSet(s: ClipSet, ac: AudioConfig, what = 'clip set'): void {
  const nv = s.n * s.frames * 3 * s.height * s.width;
  if (s.video.length !== nv) throw new Error(`${what}: video has ${s.video.length} values, expected ${s.n}×${s.frames}×3×${s.height}×${s.width}`);
  const na = s.n * s.melFrames * ac.nMels;
  if (s.logmel.length !== na) throw new Error(`${what}: logmel has ${s.logmel.length} values, expected ${s.n}×${s.melFrames}×${ac.nMels}`);
  if (s.labels && s.labels.length !== s.n) throw new Error(`${what}: ${s.labels.length} labels for ${s.n} clips`);
  if (s.n < 2) throw new Error(`${what}: need at least 2 clips, got ${s.n}`);
}

/** A synthetic dataset (its mel [N, 1, T, F]) as a ClipSet, labels included. */
export function clipSetOf(ds: SyntheticDataset): ClipSet {
  const [n, frames, , height, width] = ds.videoShape;
  return { n, frames, height, width, melFrames: ds.melShape[2], video: ds.video, logmel: ds.mel, labels: ds.labels };
}

/** Everything measured on one clip i. */
export function analyseClip(s: ClipSet, i: number, o: EvalSettings): ClipAnalysis {
  const d = { frames: s.frames, height: s.height, width: s.width };
  const fs = s.frames * 3 * s.height * s.width;
  const ms = s.melFrames * o.audio.nMels;
  const video = s.video.subarray(i * fs, (i + 1) * fs);
  const mel = s.logmel.subarray(i * ms, (i + 1) * ms);
  const nColours = coloursInUse(o.classes);
  const weights = objectWeights(video, d);
  const stats = frameStats(video, d, weights);
  const visualEvents = eventsFromStats(stats, d, o.visual);
  const onsets = onsetsInVideoFrames(mel, s.melFrames, o.audio, o.fps, o.onset);
  // Nothing to match on either side is no evidence of sync: score it 0 (see the header comment).
  const matched = syncScore(onsets, visualEvents, 1);
  const sync: SyncScore = onsets.length === 0 && visualEvents.length === 0 ? { ...matched, precision: 0, recall: 0, f1: 0 } : matched;
  const hist = colourHistogram(video, d, nColours, weights);
  let seenColour = -1;
  hist.forEach((v, k) => {
    if (v > 0 && (seenColour < 0 || v > hist[seenColour]!)) seenColour = k;
  });
  const pitchHz = dominantPitchHz(mel, s.melFrames, o.audio);
  return {
    visualEvents, onsets, sync, inSync: visualEvents.length > 0 && sync.f1 === 1,
    seenColour, heardColour: colourOfPitch(pitchHz, nColours), pitchHz,
    videoFeatures: videoFeatures(video, d, nColours, weights, stats),
    audioFeatures: audioFeatures(mel, s.melFrames, o.audio, nColours, o.onset),
  };
}

export function analyseSet(s: ClipSet, o: EvalSettings): ClipAnalysis[] {
  checkClipSet(s, o.audio);
  return Array.from({ length: s.n }, (_, i) => analyseClip(s, i, o));
}

export function summarise(s: ClipSet, a: ClipAnalysis[]): SetSummary {
  const frac = (f: (c: ClipAnalysis, i: number) => boolean) => a.filter(f).length / a.length;
  return {
    n: a.length,
    syncFraction: frac((c) => c.inSync),
    meanSyncF1: a.reduce((t, c) => t + c.sync.f1, 0) / a.length,
    agreement: frac((c) => c.seenColour === c.heardColour),
    videoLabelAgreement: s.labels ? frac((c, i) => c.seenColour === s.labels![i]! >> 1) : null,
    audioLabelAgreement: s.labels ? frac((c, i) => c.heardColour === s.labels![i]! >> 1) : null,
  };
}

/** FDs of `x` against the reference `ref` (features standardised on `ref`). */
export function frechetReport(x: ClipAnalysis[], ref: ClipAnalysis[]): FrechetReport {
  const sv = standardizer(ref.map((c) => c.videoFeatures));
  const sa = standardizer(ref.map((c) => c.audioFeatures));
  const v = (s: ClipAnalysis[]) => s.map((c) => sv(c.videoFeatures));
  const au = (s: ClipAnalysis[]) => s.map((c) => sa(c.audioFeatures));
  const j = (s: ClipAnalysis[]) => s.map((c) => [...sv(c.videoFeatures), ...sa(c.audioFeatures)]);
  return { video: frechetBetween(v(x), v(ref)), audio: frechetBetween(au(x), au(ref)), joint: frechetBetween(j(x), j(ref)) };
}

/** The whole evaluation: generated against real set A, with real set B against A as the floor. */
export function evaluate(generated: ClipSet, realA: ClipSet, realB: ClipSet, o: EvalSettings): EvalReport {
  for (const [s, name] of [[generated, 'generated'], [realA, 'real set A'], [realB, 'real set B']] as const) checkClipSet(s, o.audio, name);
  const g = analyseSet(generated, o);
  const a = analyseSet(realA, o);
  const b = analyseSet(realB, o);
  return {
    generated: summarise(generated, g),
    real: summarise(realA, a),
    fd: { generated: frechetReport(g, a), realVsReal: frechetReport(b, a) },
    features: { video: videoFeatureNames(coloursInUse(o.classes)), audio: audioFeatureNames(o.audio.nMels, coloursInUse(o.classes)) },
  };
}
