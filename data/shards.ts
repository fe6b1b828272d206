/**
 * Latent datasets on disk: a folder of safetensors shards, each holding `video` F32
 * [N_i, M, C, H, W], `audio` F32 [N_i, C, T, F] and optionally `label` (I32 or I64) [N_i]. All
 * shards are loaded into memory and checked to agree (per-sample shapes, label presence), to hold
 * at least one sample and only finite values, and (given the model's class count) labels in
 * range; errors name the file. Minibatches are drawn without replacement in a seeded random order.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Prng } from './prng.ts';
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';
import { readSafetensors } from '../engine/io/safetensors.ts';
import type { TypedArray } from '../engine/dtype.ts';
import type { WireDtype } from '../engine/io/wire-dtypes.ts';

export class ShardError extends Error {
  override name = 'ShardError';
}

export interface LatentSet {
  files: string[];
  count: number;
  /** Per-sample shapes: video [M, C, H, W], audio [C, T, F]. */
  videoShape: number[];
  audioShape: number[];
  /** All samples: video [count, M, C, H, W], audio [count, C, T, F], labels [count] or null. */
  video: Float32Array;
  audio: Float32Array;
  labels: Int32Array | null;
}

export interface Batch {
  /** [B, M, C, H, W] */
  video: Float32Array;
  /** [B, C, T, F] */
  audio: Float32Array;
  /** [B] or null */
  labels: Int32Array | null;
  /** Sample indices in the set. */
  indices: number[];
  /** Epoch this batch belongs to (from 0). */
  epoch: number;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** A tensor of a shard as read (engine/io/safetensors.ts), with its dtype on disk. */
interface ShardTensor {
  wire: WireDtype;
  shape: number[];
  data: TypedArray;
}

/** The tensors of one shard file; unreadable or malformed files are ShardErrors naming the file. */
function readShard(file: string): Map<string, ShardTensor> {
  try {
    const r = readSafetensors(file);
    return new Map([...r.tensors].map(([k, t]) => [k, { wire: r.wire.get(k)!, shape: t.shape, data: t.data }]));
  } catch (e) {
    if (e instanceof CheckpointError) throw new ShardError(e.message, { cause: e });
    throw e;
  }
}

function f32(file: string, name: string, t: ShardTensor | undefined, rank: number): ShardTensor & { data: Float32Array } {
  if (!t) throw new ShardError(`${file}: no tensor "${name}"`);
  if (t.wire !== 'F32') throw new ShardError(`${file}: "${name}" is ${t.wire}, expected F32`);
  if (t.shape.length !== rank) throw new ShardError(`${file}: "${name}" has shape ${fmt(t.shape)}, expected rank ${rank}`);
  return t as ShardTensor & { data: Float32Array };
}

/** Throw at the first NaN or ±Infinity in `t` (one pass), naming the file, tensor and sample. */
function checkFinite(file: string, name: string, t: ShardTensor & { data: Float32Array }): void {
  const x = t.data;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) {
      const per = x.length / t.shape[0]!;
      throw new ShardError(`${file}: "${name}" holds ${x[i]} at sample ${Math.floor(i / per)} (element ${i}); the data must be finite`);
    }
  }
}

const isFolder = (path: string): boolean => {
  try {
    return statSync(path).isDirectory(); // follows links: a link to a shard file is a shard
  } catch {
    return false; // reading it will report what is wrong, naming it
  }
};

export interface ShardOptions {
  /** The model's class count: every label must then be in 0..classes−1 (`classes` is the null class). */
  classes?: number;
}

/** Load and validate every `*.safetensors` file in `dir` (sorted by name; folders so named are skipped). */
export function loadLatentShards(dir: string, o: ShardOptions = {}): LatentSet {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  } catch (e) {
    throw new ShardError(`${dir}: cannot list the folder (${(e as Error).message})`);
  }
  const folders = names.filter((n) => isFolder(join(dir, n)));
  names = names.filter((n) => !folders.includes(n));
  if (names.length === 0) throw new ShardError(`${dir}: no .safetensors shards${folders.length ? ` (${folders.join(', ')}: ${folders.length === 1 ? 'a folder' : 'folders'})` : ''}`);
  const videos: Float32Array[] = [];
  const audios: Float32Array[] = [];
  const labels: Int32Array[] = [];
  let videoShape: number[] | null = null;
  let audioShape: number[] | null = null;
  let hasLabels: boolean | null = null;
  let first = '';
  let count = 0;
  const files = names.map((n) => join(dir, n));
  for (const file of files) {
    const tensors = readShard(file);
    const v = f32(file, 'video', tensors.get('video'), 5);
    const a = f32(file, 'audio', tensors.get('audio'), 4);
    const n = v.shape[0]!;
    if (a.shape[0] !== n) throw new ShardError(`${file}: "video" has ${n} samples but "audio" has ${a.shape[0]}`);
    if (n === 0) throw new ShardError(`${file}: holds 0 samples ("video" is ${fmt(v.shape)})`);
    count += n;
    const vs = v.shape.slice(1);
    const as = a.shape.slice(1);
    if (videoShape === null || audioShape === null) {
      videoShape = vs;
      audioShape = as;
      first = file;
    } else {
      if (fmt(vs) !== fmt(videoShape)) throw new ShardError(`${file}: "video" samples are ${fmt(vs)} but ${first} has ${fmt(videoShape)} ([M, C, H, W])`);
      if (fmt(as) !== fmt(audioShape)) throw new ShardError(`${file}: "audio" samples are ${fmt(as)} but ${first} has ${fmt(audioShape)} ([C, T, F])`);
    }
    const l = tensors.get('label');
    if (hasLabels !== null && hasLabels !== (l !== undefined)) throw new ShardError(`${file}: ${l ? 'has' : 'lacks'} "label" but ${first} ${l ? 'lacks' : 'has'} it`);
    hasLabels = l !== undefined;
    if (l) {
      // (The reader turns I64 into i32, refusing values outside the i32 range.)
      if (l.wire !== 'I32' && l.wire !== 'I64') throw new ShardError(`${file}: "label" is ${l.wire}, expected I32 or I64`);
      if (l.shape.length !== 1 || l.shape[0] !== n) throw new ShardError(`${file}: "label" has shape ${fmt(l.shape)}, expected [${n}]`);
      const li = new Int32Array(n);
      const end = o.classes ?? 0x80000000;
      for (let i = 0; i < n; i++) {
        const x = Number(l.data[i]!);
        if (!Number.isSafeInteger(x) || x < 0 || x >= end) {
          // Out-of-range labels would index past the class table (or pick the null class) mid-training.
          throw new ShardError(`${file}: label[${i}] is ${String(l.data[i])}, ${o.classes === undefined ? 'not a class index' : `the model has classes 0..${o.classes - 1}`}`);
        }
        li[i] = x;
      }
      labels.push(li);
    }
    checkFinite(file, 'video', v);
    checkFinite(file, 'audio', a);
    videos.push(v.data);
    audios.push(a.data);
  }
  const cat = <A extends Float32Array | Int32Array>(parts: A[], make: (n: number) => A): A => {
    const out = make(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  return {
    files,
    count,
    videoShape: videoShape!,
    audioShape: audioShape!,
    video: cat(videos, (n) => new Float32Array(n)),
    audio: cat(audios, (n) => new Float32Array(n)),
    labels: hasLabels ? cat(labels, (n) => new Int32Array(n)) : null,
  };
}

export interface BatchOptions {
  batchSize: number;
  seed?: number;
  /** Epochs to run (default Infinity: the iterator never ends). */
  epochs?: number;
  /** Drop the last, smaller batch of each epoch (default true). */
  dropLast?: boolean;
}

/** Random minibatches: each epoch a fresh permutation from Prng(seed + epoch). */
export function* minibatches(set: LatentSet, o: BatchOptions): Generator<Batch> {
  const B = o.batchSize;
  if (!(Number.isInteger(B) && B >= 1)) throw new ShardError(`minibatches: batch size ${B} must be a positive integer`);
  const dropLast = o.dropLast ?? true;
  if (dropLast && B > set.count) throw new ShardError(`minibatches: batch size ${B} exceeds the ${set.count} samples (dropLast would yield nothing)`);
  const vsz = set.videoShape.reduce((a, b) => a * b, 1);
  const asz = set.audioShape.reduce((a, b) => a * b, 1);
  const epochs = o.epochs ?? Infinity;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = new Prng((o.seed ?? 0) + epoch * 1000003).shuffle(Array.from({ length: set.count }, (_, i) => i));
    for (let s = 0; s < set.count; s += B) {
      const idx = order.slice(s, s + B);
      if (idx.length < B && dropLast) break;
      const video = new Float32Array(idx.length * vsz);
      const audio = new Float32Array(idx.length * asz);
      const labels = set.labels ? new Int32Array(idx.length) : null;
      idx.forEach((j, b) => {
        video.set(set.video.subarray(j * vsz, (j + 1) * vsz), b * vsz);
        audio.set(set.audio.subarray(j * asz, (j + 1) * asz), b * asz);
        if (labels) labels[b] = set.labels![j]!;
      });
      yield { video, audio, labels, indices: idx, epoch };
    }
  }
}
