/**
 * A procedurally generated audio-visual dataset whose picture and sound truly correspond.
 *
 * Each clip shows one or two coloured shapes (disc or square) on a dark background above a grey
 * floor. Every visual event — a bounce on the floor, a flash, an appearance — happens exactly at
 * the video frame where a sound starts: a short tone burst with an exponential decay and a click.
 * The object's colour sets the pitch, its shape the timbre (disc: sine, square: odd harmonics),
 * its size the loudness. Class label = colour × shape of the first object (the second object, if
 * any, is of the same class); the motion type is not part of the label.
 *
 * Layouts (row-major): video [N, M, 3, H, W] in [-1, 1]; audio [N, L] waveform in about [-1, 1],
 * L = round(M · sampleRate / fps), faded out over its last 25 ms; mel [N, 1, T, F] natural-log mel (see data/audio/mel.ts),
 * T = ceil(L / hop); labels [N]; events[i] = sorted video frames of clip i where a sound starts.
 * Clip i depends only on (seed, i) and the options, not on N.
 */
import { audioConfig, type AudioConfig } from './audio/config.ts';
import { logMel } from './audio/mel.ts';
import { Prng } from './prng.ts';
import { addSound, COLOURS, drawBackground, drawObject, SHAPES, track, type Motion, type ObjectTrack } from './synthetic-render.ts';

export interface SyntheticOptions {
  /** Number of clips N (default 16). */
  n: number;
  /** Video frames per clip M (default 8). */
  frames: number;
  /** Frame size (default 32×32). */
  height: number;
  width: number;
  /** Video frame rate (default 10: 8 frames = 0.8 s, 10 mel frames per video frame). */
  fps: number;
  /** Number of classes, 1..10 (colour × shape; default 8). */
  classes: number;
  /** At most this many objects per clip, 1 or 2 (default 2). */
  maxObjects: number;
  /** Std of the background noise added to the waveform (default 1e-3). */
  noise: number;
  /** Seed (default 0). */
  seed: number;
  /** Audio features (default: the paper's 16 kHz, 10 ms hop, 64 mels). */
  audio: Partial<AudioConfig>;
}

export interface ClipInfo {
  label: number;
  className: string;
  objects: { shape: string; colour: string; motion: Motion; events: number[] }[];
}

export interface SyntheticDataset {
  video: Float32Array;
  videoShape: [number, number, number, number, number];
  audio: Float32Array;
  audioShape: [number, number];
  mel: Float32Array;
  melShape: [number, number, number, number];
  labels: Int32Array;
  events: number[][];
  clips: ClipInfo[];
  classNames: string[];
  fps: number;
  audioConfig: AudioConfig;
}

export const DEFAULT_SYNTHETIC: Readonly<Omit<SyntheticOptions, 'audio'>> = Object.freeze({
  n: 16, frames: 8, height: 32, width: 32, fps: 10, classes: 8, maxObjects: 2, noise: 1e-3, seed: 0,
});

/** Class c: colour ⌊c/2⌋, shape c mod 2 ("red disc", "red square", "green disc", …). */
export function classNames(classes: number): string[] {
  return Array.from({ length: classes }, (_, c) => `${COLOURS[c >> 1]!.name} ${SHAPES[c & 1]!}`);
}

/** Pick `count` frames in [1, M−1] at least 2 apart from each other and from `taken`. */
function pickEvents(rng: Prng, M: number, count: number, taken: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const free: number[] = [];
    for (let f = 1; f < M; f++) if ([...taken, ...out].every((e) => Math.abs(e - f) >= 2)) free.push(f);
    if (free.length === 0) break;
    out.push(free[rng.int(free.length)]!);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Raised-cosine fade over the last `n` samples. A tone still ringing when the clip is cut would
 * otherwise end in a step, whose broadband splatter in the last STFT frames looks like an onset.
 */
function fadeOut(x: Float32Array, n: number): void {
  n = Math.min(n, x.length);
  for (let i = 0; i < n; i++) x[x.length - n + i] = x[x.length - n + i]! * 0.5 * (1 + Math.cos((Math.PI * (i + 1)) / n));
}

const MOTIONS: readonly Motion[] = ['bounce', 'flash', 'appear'];

export function syntheticDataset(opts: Partial<SyntheticOptions> = {}): SyntheticDataset {
  const o = { ...DEFAULT_SYNTHETIC, ...opts };
  const ac = audioConfig(opts.audio ?? {});
  const { n: N, frames: M, height: H, width: W, fps } = o;
  if (!(o.classes >= 1 && o.classes <= COLOURS.length * SHAPES.length)) throw new Error(`syntheticDataset: classes ${o.classes} must be in 1..${COLOURS.length * SHAPES.length}`);
  if (M < 3) throw new Error(`syntheticDataset: need at least 3 frames, got ${M}`);
  if (H < 8 || W < 8) throw new Error(`syntheticDataset: frames of ${H}×${W} are too small (min 8×8)`);
  const L = Math.round((M * ac.sampleRate) / fps);
  const T = Math.ceil(L / ac.hop);
  const F = ac.nMels;
  const ds: SyntheticDataset = {
    video: new Float32Array(N * M * 3 * H * W), videoShape: [N, M, 3, H, W],
    audio: new Float32Array(N * L), audioShape: [N, L],
    mel: new Float32Array(N * T * F), melShape: [N, 1, T, F],
    labels: new Int32Array(N), events: [], clips: [], classNames: classNames(o.classes), fps, audioConfig: ac,
  };
  const frameSize = 3 * H * W;
  for (let i = 0; i < N; i++) {
    const rng = new Prng((o.seed * 1000003 + i * 7919) | 0);
    const label = rng.int(o.classes);
    const colour = COLOURS[label >> 1]!;
    const shape = SHAPES[label & 1]!;
    const nObj = o.maxObjects >= 2 && rng.next() < 0.4 ? 2 : 1;
    const objects: ObjectTrack[] = [];
    const taken: number[] = [];
    for (let k = 0; k < nObj; k++) {
      const motion = MOTIONS[rng.int(MOTIONS.length)]!;
      const want = motion === 'appear' ? 1 : motion === 'flash' ? 1 + rng.int(2) : 1 + rng.int(3);
      const events = pickEvents(rng, motion === 'appear' ? M - 1 : M, want, taken);
      if (events.length === 0) continue; // no room left for a second object's events
      taken.push(...events);
      objects.push(track(shape, colour, motion, events, M, H, W, rng));
    }
    const video = ds.video.subarray(i * M * frameSize, (i + 1) * M * frameSize);
    for (let m = 0; m < M; m++) {
      drawBackground(video, m * frameSize, H, W);
      for (const t of objects) drawObject(video, m * frameSize, H, W, t, m);
    }
    const audio = ds.audio.subarray(i * L, (i + 1) * L);
    for (let s = 0; s < L; s++) audio[s] = o.noise * rng.normal();
    for (const t of objects) addSound(audio, t, ac.sampleRate, fps, H, W, rng);
    fadeOut(audio, Math.round(0.025 * ac.sampleRate));
    ds.mel.set(logMel(audio, ac, T), i * T * F);
    ds.labels[i] = label;
    ds.events.push([...new Set(taken)].sort((a, b) => a - b));
    ds.clips.push({ label, className: ds.classNames[label]!, objects: objects.map((t) => ({ shape: t.shape, colour: t.colour.name, motion: t.motion, events: t.events })) });
  }
  return ds;
}

/** Clip i's video [M, 3, H, W] (a view). */
export function clipVideo(ds: SyntheticDataset, i: number): Float32Array {
  const [, M, C, H, W] = ds.videoShape;
  return ds.video.subarray(i * M * C * H * W, (i + 1) * M * C * H * W);
}
/** Clip i's waveform [L] (a view). */
export function clipAudio(ds: SyntheticDataset, i: number): Float32Array {
  const L = ds.audioShape[1];
  return ds.audio.subarray(i * L, (i + 1) * L);
}
/** Clip i's log-mel [T, F] (a view). */
export function clipMel(ds: SyntheticDataset, i: number): Float32Array {
  const [, , T, F] = ds.melShape;
  return ds.mel.subarray(i * T * F, (i + 1) * T * F);
}
