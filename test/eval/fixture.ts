/**
 * Test helpers for the evaluation: a tiny writer of `avdit sample`'s folder format, and ways to
 * break real clips (audio shifted in time, audio shuffled between clips, noise).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { audioConfig, type AudioConfig } from '../../data/audio/config.ts';
import { clipSetOf, type ClipSet } from '../../data/eval/evaluate.ts';
import { Prng } from '../../data/prng.ts';
import { syntheticDataset, type SyntheticDataset } from '../../data/synthetic.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';

/** The demo's coarse setting: 8 frames at 10 fps, 16×16, log-mel 32×16. */
export const DEMO_AUDIO: AudioConfig = audioConfig({ sampleRate: 16000, hop: 400, nFft: 1024, winLength: 1024, nMels: 16 });
export const DEMO = { frames: 8, height: 16, width: 16, fps: 10, classes: 8, audio: DEMO_AUDIO } as const;

export function demoData(n: number, seed: number, over: Partial<Parameters<typeof syntheticDataset>[0]> = {}): SyntheticDataset {
  return syntheticDataset({ n, ...DEMO, seed, ...over });
}

/** Write `DIR/samples.safetensors` as `avdit sample` does. */
export function writeSamplesFolder(dir: string, s: ClipSet, meta: { fps: number; audio: AudioConfig; classes: number; dataSeed: number }, withLabels = true): string {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, { dtype: 'f32' | 'i32'; shape: number[]; data: Float32Array | Int32Array }> = {
    video: { dtype: 'f32', shape: [s.n, s.frames, 3, s.height, s.width], data: s.video },
    logmel: { dtype: 'f32', shape: [s.n, s.melFrames, meta.audio.nMels], data: s.logmel },
  };
  if (withLabels && s.labels) tensors.labels = { dtype: 'i32', shape: [s.n], data: s.labels };
  const path = join(dir, 'samples.safetensors');
  writeSafetensors(path, tensors, { 'avdit.samples': JSON.stringify(meta) }, { i32As: 'I64' });
  return path;
}

/** Each clip's log-mel delayed by `videoFrames` video frames (the start filled with its quietest frame). */
export function shiftAudio(s: ClipSet, videoFrames: number, ac: AudioConfig, fps: number): ClipSet {
  const F = ac.nMels;
  const T = s.melFrames;
  const k = Math.round((videoFrames * ac.sampleRate) / (fps * ac.hop));
  const out = new Float32Array(s.logmel.length);
  for (let i = 0; i < s.n; i++) {
    const src = s.logmel.subarray(i * T * F, (i + 1) * T * F);
    let quiet = 0;
    let quietE = Infinity;
    for (let t = 0; t < T; t++) {
      let e = 0;
      for (let m = 0; m < F; m++) e += src[t * F + m]!;
      if (e < quietE) [quiet, quietE] = [t, e];
    }
    for (let t = 0; t < T; t++) {
      const from = t - k;
      const row = from >= 0 && from < T ? from : quiet;
      out.set(src.subarray(row * F, (row + 1) * F), (i * T + t) * F);
    }
  }
  return { ...s, logmel: out };
}

/** Audio moved to another clip (a random derangement-ish permutation: no clip keeps its own). */
export function shuffleAudio(s: ClipSet, seed: number): ClipSet {
  const rng = new Prng(seed);
  const perm = Array.from({ length: s.n }, (_, i) => i);
  rng.shuffle(perm);
  for (let i = 0; i < s.n; i++) if (perm[i] === i) [perm[i], perm[(i + 1) % s.n]] = [perm[(i + 1) % s.n]!, perm[i]!];
  const per = s.melFrames * (s.logmel.length / (s.n * s.melFrames));
  const out = new Float32Array(s.logmel.length);
  for (let i = 0; i < s.n; i++) out.set(s.logmel.subarray(perm[i]! * per, (perm[i]! + 1) * per), i * per);
  return { ...s, logmel: out };
}

/** Video and audio replaced by noise (video uniform in [-1, 1], log-mel normal around its mean). */
export function noiseClips(s: ClipSet, seed: number): ClipSet {
  const rng = new Prng(seed);
  let mean = 0;
  for (const v of s.logmel) mean += v / s.logmel.length;
  return {
    ...s,
    video: Float32Array.from(s.video, () => rng.uniform(-1, 1)),
    logmel: Float32Array.from(s.logmel, () => mean + 2 * rng.normal()),
  };
}

export { clipSetOf };
