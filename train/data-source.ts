/**
 * Where training clips come from: the synthetic audio-visual set (pixels in [−1, 1] and a
 * normalised log-mel, generated to fit the model config) or a folder of latent shards. Batches
 * are drawn from the step's random stream, so a resumed run sees the same batches.
 */
import { constants } from 'node:buffer';
import { readdirSync, statSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { audioConfig, type AudioConfig } from '../data/audio/config.ts';
import { normalizeLogMel } from '../data/audio/mel.ts';
import { loadLatentShards, ShardError } from '../data/shards.ts';
import { syntheticDataset, type SyntheticDataset } from '../data/synthetic.ts';
import type { Backend } from '../engine/backend.ts';
import { rand, tensor } from '../engine/creation.ts';
import { cpuBackend } from '../engine/cpu/backend.ts';
import type { Generator } from '../engine/rng.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { AVDiTConfig } from '../model/config.ts';
import { readSafetensorsHeader, type HeaderEntry } from '../engine/io/safetensors.ts';
import type { AVBatch } from './objectives.ts';

/** How to turn the audio channel back into sound (synthetic data only). */
export interface MelCodec {
  audio: AudioConfig;
  fps: number;
  /** Log-mel values lo..hi were mapped to −1..1. */
  lo: number;
  hi: number;
}

export interface AVData {
  n: number;
  /** [n, M, C, H, W] and [n, C, T, F]. */
  video: Float32Array;
  audio: Float32Array;
  clipVideo: number;
  clipAudio: number;
  labels: Int32Array | null;
  /** Present for pixel + log-mel data. */
  codec: MelCodec | null;
  /** JSON-able description (saved with checkpoints). */
  spec: DataSpec;
  synthetic: SyntheticDataset | null;
}

export type DataSpec = { kind: 'synthetic'; n: number; seed: number; codec: MelCodec } | { kind: 'shards'; dir: string };

/** The synthetic set's audio settings that give exactly the config's T × F log-mel. */
export function demoAudio(c: AVDiTConfig, fps = 10): AudioConfig {
  const sr = 16000;
  const L = Math.round((c.frames * sr) / fps);
  if (L % c.audioTime !== 0) throw new Error(`synthetic data: ${c.frames} frames at ${fps} fps give ${L} samples, not divisible into ${c.audioTime} mel frames`);
  const hop = L / c.audioTime;
  const nFft = Math.min(1024, 2 ** Math.ceil(Math.log2(hop * 2)));
  return audioConfig({ sampleRate: sr, hop, nFft, winLength: nFft, nMels: c.audioFreq, logFloor: Math.exp(MEL_RANGE.lo) });
}

/**
 * Log-mel range mapped to [−1, 1]. The tones peak near 8.6; the floor −2 (the audio config's
 * logFloor, e^−2) sits 46 dB under them and above the background noise (about −6 … −3), so the
 * silence between sounds is exactly −1 instead of a random texture. With the paper's floor (1e-5)
 * the audio branch spent its first hundreds of steps on that texture and sampled blotchy
 * spectrograms (bench/RESULTS.md, "npm run demo").
 */
export const MEL_RANGE = { lo: -2, hi: 10 };

export function syntheticData(c: AVDiTConfig, n: number, seed: number): AVData {
  if (c.videoChannels !== 3 || c.audioChannels !== 1) {
    throw new Error(`synthetic data is RGB pixels (3 channels) + a log-mel (1 channel); this config wants ${c.videoChannels} video and ${c.audioChannels} audio channels (use --preset demo, or --data DIR with latent shards)`);
  }
  const fps = 10;
  const audio = demoAudio(c, fps);
  checkSyntheticSize(c, n, Math.round((c.frames * audio.sampleRate) / fps));
  if (n > 2000) process.stderr.write(`generating ${n} synthetic clips…\n`); // ~4.5 ms a clip (demo preset): say why it is quiet
  const ds = syntheticDataset({ n, frames: c.frames, height: c.videoHeight, width: c.videoWidth, fps, classes: Math.min(c.classes, 10), seed, audio });
  const mel = normalizeLogMel(ds.mel.slice(), MEL_RANGE.lo, MEL_RANGE.hi);
  const codec = { audio, fps, ...MEL_RANGE };
  return {
    n, video: ds.video, audio: mel, clipVideo: c.frames * 3 * c.videoHeight * c.videoWidth, clipAudio: c.audioTime * c.audioFreq,
    labels: ds.labels, codec, spec: { kind: 'synthetic', n, seed, codec }, synthetic: ds,
  };
}

/**
 * Refuse a synthetic set whose arrays could not be allocated (before generating it): the video
 * [n, M, 3, H, W], waveform [n, L] and two log-mel [n, T, F] arrays must each fit a typed array
 * (2³² elements in Node 20) and together the memory free now (os.freemem: Linux's MemAvailable).
 */
function checkSyntheticSize(c: AVDiTConfig, n: number, waveform: number): void {
  const video = c.frames * 3 * c.videoHeight * c.videoWidth, mel = c.audioTime * c.audioFreq;
  const bytes = n * (video + waveform + 2 * mel) * 4;
  const gb = (b: number) => (b / 1e9).toFixed(1);
  const why = n * Math.max(video, waveform, mel) > constants.MAX_LENGTH ? `more than one array can hold (${constants.MAX_LENGTH} elements)`
    : bytes > freemem() ? `more than the ${gb(freemem())} GB of memory free` : null;
  if (why) throw new Error(`--data-n ${n}: the synthetic clips would take ${gb(bytes)} GB, ${why}`);
}

/** The per-sample shapes the model takes: video [M, C, H, W], audio [C, T, F]. */
const wantShapes = (c: AVDiTConfig) => ({ video: [c.frames, c.videoChannels, c.videoHeight, c.videoWidth], audio: [c.audioChannels, c.audioTime, c.audioFreq] });

const shapeError = (where: string, v: readonly number[], a: readonly number[], c: AVDiTConfig) => {
  const want = wantShapes(c);
  return new ShardError(`${where} video [${v.join(', ')}] and audio [${a.join(', ')}] per sample; the model wants video [${want.video.join(', ')}] ([M, C, H, W]) and audio [${want.audio.join(', ')}] ([C, T, F])`);
};

/** The header entries of each readable `*.safetensors` shard in `dir` (unreadable ones are left to loadLatentShards). */
function shardHeaders(dir: string): { file: string; entries: HeaderEntry[] }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const file = join(dir, name);
    try {
      return statSync(file).isDirectory() ? [] : [{ file, entries: readSafetensorsHeader(file).entries }];
    } catch {
      return [];
    }
  });
}

/**
 * Compare every shard's per-sample shapes with the model's from the safetensors headers alone,
 * before any tensor data is read (loading reads and checks every shard whole: minutes for a large
 * set). A shard whose header cannot be read, or lacks "video" / "audio" of the right rank, is left
 * to loadLatentShards, which names what is wrong with it. With `labels`, a shard without "label"
 * is refused too (class-conditional training needs them).
 */
export function checkShardHeaders(c: AVDiTConfig, dir: string, labels = false): void {
  const want = wantShapes(c);
  for (const { file, entries } of shardHeaders(dir)) {
    const v = entries.find((e) => e.name === 'video')?.shape, a = entries.find((e) => e.name === 'audio')?.shape;
    if (v?.length !== 5 || a?.length !== 4) continue;
    const vs = v.slice(1), as = a.slice(1);
    if (vs.join() !== want.video.join() || as.join() !== want.audio.join()) throw shapeError(`${file}: holds`, vs, as, c);
    if (labels && !entries.some((e) => e.name === 'label')) throw new ShardError(`${file}: has no "label" tensor, and --conditional trains on class labels`);
  }
}

export function shardData(c: AVDiTConfig, dir: string, labels = false): AVData {
  checkShardHeaders(c, dir, labels);
  const set = loadLatentShards(dir, { classes: c.classes });
  const want = wantShapes(c);
  if (set.videoShape.join() !== want.video.join() || set.audioShape.join() !== want.audio.join()) throw shapeError(`${dir}: shards hold`, set.videoShape, set.audioShape, c);
  return {
    n: set.count, video: set.video, audio: set.audio, clipVideo: set.video.length / set.count, clipAudio: set.audio.length / set.count,
    labels: set.labels, codec: null, spec: { kind: 'shards', dir }, synthetic: null,
  };
}

/** `--data synthetic` or a folder of shards. */
export function openData(c: AVDiTConfig, data: string, n: number, seed: number, labels = false): AVData {
  return data === 'synthetic' ? syntheticData(c, n, seed) : shardData(c, data, labels);
}

/** Share of labels replaced by the null class in conditional training. */
export const LABEL_DROP = 0.1;

/** Clips idx[0], idx[1], … as video [B, M, Cv, H, W] and audio [B, Ca, T, F] tensors. */
export function clipTensors(d: AVData, c: AVDiTConfig, idx: readonly number[], backend: Backend): { video: Tensor; audio: Tensor } {
  const B = idx.length;
  const video = new Float32Array(B * d.clipVideo), audio = new Float32Array(B * d.clipAudio);
  idx.forEach((i, b) => {
    video.set(d.video.subarray(i * d.clipVideo, (i + 1) * d.clipVideo), b * d.clipVideo);
    audio.set(d.audio.subarray(i * d.clipAudio, (i + 1) * d.clipAudio), b * d.clipAudio);
  });
  return {
    video: tensor(video, [B, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend }),
    audio: tensor(audio, [B, c.audioChannels, c.audioTime, c.audioFreq], { backend }),
  };
}

/** B random clips (with replacement) drawn from `gen`. `conditional`: real labels, else the null class. */
export function drawBatch(d: AVData, c: AVDiTConfig, B: number, gen: Generator, backend: Backend, conditional: boolean): AVBatch & { indices: number[] } {
  const u = rand([B], { dtype: 'f64', backend: cpuBackend, generator: gen }).dataSync();
  const idx = Array.from(u, (v) => Math.min(d.n - 1, Math.floor(v * d.n)));
  // Conditional training drops a tenth of the labels to the null class (DiT's token_drop), so the
  // same model is also the unconditional one that classifier-free guidance needs.
  const drop = conditional ? rand([B], { dtype: 'f64', backend: cpuBackend, generator: gen }).dataSync() : null;
  const labels = idx.map((i, b) => (drop && d.labels && drop[b]! >= LABEL_DROP ? d.labels[i]! : c.classes));
  return {
    ...clipTensors(d, c, idx, backend),
    labels: tensor(labels, [B], { dtype: 'i32', backend }),
    indices: idx,
  };
}
