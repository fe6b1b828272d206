/** `avdit eval`: "does it work?" — generated audio-visual samples against held-out real clips. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { audioConfig, type AudioConfig } from '../../data/audio/config.ts';
import { checkClipSet, clipSetOf, evaluate, type ClipSet, type EvalReport, type EvalSettings } from '../../data/eval/evaluate.ts';
import { syntheticDataset } from '../../data/synthetic.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { intFlag, parse, UsageError } from '../args.ts';

export const help = `avdit eval --samples DIR [--real N] [--json]

Scores generated clips (DIR/samples.safetensors, as written by avdit sample: video [N,M,3,H,W] f32
in [-1,1], logmel [N,T,F] f32 natural-log mel, optional labels [N]; metadata "avdit.samples" =
JSON {fps, audio, classes, dataSeed}) against N held-out real synthetic clips (seed dataSeed+1000;
a second real set, seed dataSeed+2000, gives the real-vs-real reference):

  sync          fraction of clips whose audio onsets match their visual events one to one
                within one video frame (visual events read from the pixels: appearance, flash,
                bounce); also the mean per-clip F1 (a clip with neither visual events nor
                audio onsets scores 0)
  agreement     fraction of clips whose seen colour (dominant object hue) is the colour whose
                pitch is heard (dominant mel frequency); with labels, agreement of each with the
                requested class's colour
  FD            Fréchet distances of hand-made video, audio and joint features (standardised on
                the real set): generated vs real, and real vs real as the floor

  --real N      held-out real clips per set (default 64, at most 4096)
  --json        machine-readable output`;

/** A samples folder that is missing, unreadable or inconsistent. */
export class SamplesError extends Error {
  override name = 'SamplesError';
}

export interface SamplesMeta {
  fps: number;
  audio: AudioConfig;
  classes: number;
  dataSeed: number;
}

/** Most real clips per set (each set is synthesised in memory). */
const MAX_REAL = 4096;
/** Longest clip (frames / fps) eval makes real clips for. */
const MAX_CLIP_SECONDS = 60;

/**
 * The problem with the metadata's audio settings (fields audioConfig would take on trust), or null:
 * each present field finite and in a range that makes a working mel front end.
 */
function audioMetaProblem(a: Record<string, unknown>): string | null {
  for (const [k, v] of Object.entries(a)) if (typeof v !== 'number' || !Number.isFinite(v)) return `audio.${k} must be a finite number, got ${JSON.stringify(v)}`;
  const n = a as Partial<AudioConfig>;
  const int = (k: keyof AudioConfig, lo: number, hi: number) => {
    const v = n[k];
    return v === undefined || (Number.isInteger(v) && v >= lo && v <= hi) ? null : `audio.${k} must be an integer in ${lo}..${hi}, got ${v}`;
  };
  const bad = int('sampleRate', 1000, 192000) ?? int('nFft', 16, 65536) ?? int('winLength', 1, 65536) ?? int('hop', 1, 65536) ?? int('nMels', 1, 1024);
  if (bad) return bad;
  if (n.nFft !== undefined && (n.nFft & (n.nFft - 1)) !== 0) return `audio.nFft must be a power of two, got ${n.nFft}`;
  for (const k of ['fMax', 'power', 'logFloor'] as const) if (n[k] !== undefined && !(n[k] > 0)) return `audio.${k} must be > 0, got ${n[k]}`;
  if (n.fMin !== undefined && n.fMin < 0) return `audio.fMin must be ≥ 0, got ${n.fMin}`;
  return null;
}

/** Read and check DIR/samples.safetensors. */
export function readSamples(dir: string): { set: ClipSet; meta: SamplesMeta; file: string } {
  if (!existsSync(dir)) throw new SamplesError(`${dir}: no such folder`);
  if (!statSync(dir).isDirectory()) throw new SamplesError(`${dir}: not a folder (give the folder that holds samples.safetensors)`);
  const file = join(dir, 'samples.safetensors');
  if (!existsSync(file)) throw new SamplesError(`${dir}: no samples.safetensors in it (write one with avdit sample)`);
  let st: ReturnType<typeof readSafetensors>;
  try {
    st = readSafetensors(file);
  } catch (e) {
    throw new SamplesError(`${file} is not a readable safetensors file: ${(e as Error).message}`);
  }
  const fail = (msg: string): never => {
    throw new SamplesError(`${file}: ${msg}`);
  };
  const raw = st.metadata['avdit.samples'];
  if (raw === undefined) fail('no "avdit.samples" metadata (fps, audio, classes, dataSeed)');
  let m: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(raw!);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    m = v as Record<string, unknown>;
  } catch (e) {
    fail(`"avdit.samples" metadata is not valid JSON (${(e as Error).message})`);
  }
  for (const k of ['fps', 'classes', 'dataSeed']) if (typeof m[k] !== 'number' || !Number.isFinite(m[k])) fail(`"avdit.samples" metadata: ${k} must be a number, got ${JSON.stringify(m[k])}`);
  if (typeof m.audio !== 'object' || m.audio === null || Array.isArray(m.audio)) fail('"avdit.samples" metadata: audio must be an object (an AudioConfig)');
  const audioProblem = audioMetaProblem(m.audio as Record<string, unknown>);
  if (audioProblem) fail(`"avdit.samples" metadata: ${audioProblem}`);
  let audio: AudioConfig;
  try {
    audio = audioConfig(m.audio as Partial<AudioConfig>);
  } catch (e) {
    return fail(`"avdit.samples" metadata: ${(e as Error).message}`);
  }
  const meta: SamplesMeta = { fps: m.fps as number, audio, classes: m.classes as number, dataSeed: m.dataSeed as number };
  if (!(meta.fps > 0 && meta.fps <= 1000)) fail(`"avdit.samples" metadata: fps must be in (0, 1000], got ${meta.fps}`);
  if (!Number.isSafeInteger(meta.dataSeed) || meta.dataSeed < 0) fail(`"avdit.samples" metadata: dataSeed must be an integer ≥ 0, got ${meta.dataSeed}`);
  if (!Number.isInteger(meta.classes) || meta.classes < 1 || meta.classes > 10) fail(`classes must be an integer in 1..10, got ${meta.classes}`);

  const need = (name: string, rank: number) => {
    const t = st.tensors.get(name);
    if (!t) return fail(`missing tensor "${name}" (has: ${[...st.tensors.keys()].join(', ') || 'none'})`);
    if (t.dtype !== 'f32') fail(`tensor "${name}" must be F32, got ${st.wire.get(name)}`);
    if (t.shape.length !== rank) fail(`tensor "${name}" must have rank ${rank}, got shape [${t.shape.join(', ')}]`);
    for (const v of t.data) if (!Number.isFinite(v)) fail(`tensor "${name}" holds NaN or infinite values`);
    return t;
  };
  const video = need('video', 5);
  const logmel = need('logmel', 3);
  const [n, frames, ch, height, width] = video.shape as [number, number, number, number, number];
  if (ch !== 3) fail(`video must be [N, M, 3, H, W] (RGB), got [${video.shape.join(', ')}]`);
  // The real clips are synthesised at the samples' size and length: keep that possible and bounded.
  if (frames < 3 || height < 8 || width < 8) fail(`video clips must have at least 3 frames of 8×8, got [${video.shape.join(', ')}]`);
  if (frames / meta.fps > MAX_CLIP_SECONDS) fail(`"avdit.samples" metadata: fps ${meta.fps} makes ${frames}-frame clips ${(frames / meta.fps).toFixed(0)} s long (at most ${MAX_CLIP_SECONDS} s)`);
  if (logmel.shape[0] !== n) fail(`logmel has ${logmel.shape[0]} clips but video has ${n}`);
  if (logmel.shape[2] !== audio.nMels) fail(`logmel has ${logmel.shape[2]} mel bands but the metadata's audio config has nMels ${audio.nMels}`);
  if (n < 2) fail(`need at least 2 samples, got ${n}`);
  let labels: Int32Array | undefined;
  const lt = st.tensors.get('labels');
  if (lt) {
    if (lt.dtype !== 'i32' || lt.shape.length !== 1 || lt.shape[0] !== n) fail(`labels must be an integer tensor [${n}], got ${st.wire.get('labels')} [${lt.shape.join(', ')}]`);
    labels = lt.data as Int32Array;
    for (const l of labels) if (l < 0 || l >= meta.classes) fail(`labels must be class ids in 0..${meta.classes - 1}, got ${l}`);
  }
  const set: ClipSet = { n, frames, height, width, melFrames: logmel.shape[1]!, video: video.data as Float32Array, logmel: logmel.data as Float32Array, labels };
  try {
    checkClipSet(set, audio, file);
  } catch (e) {
    fail((e as Error).message);
  }
  return { set, meta, file };
}

const fmt = (v: number | null): string => (v === null ? '—' : Math.abs(v) >= 1000 ? v.toExponential(2) : v.toFixed(3));

export function formatTable(r: EvalReport): string {
  const rows: [string, number | null, number | null][] = [
    ['sync: clips in sync (±1 frame)', r.generated.syncFraction, r.real.syncFraction],
    ['sync: mean onset/event F1', r.generated.meanSyncF1, r.real.meanSyncF1],
    ['agreement: colour seen = pitch heard', r.generated.agreement, r.real.agreement],
    ['agreement: colour seen = label', r.generated.videoLabelAgreement, r.real.videoLabelAgreement],
    ['agreement: pitch heard = label', r.generated.audioLabelAgreement, r.real.audioLabelAgreement],
    ['FD video (vs real)', r.fd.generated.video, r.fd.realVsReal.video],
    ['FD audio (vs real)', r.fd.generated.audio, r.fd.realVsReal.audio],
    ['FD audio-visual joint (vs real)', r.fd.generated.joint, r.fd.realVsReal.joint],
  ];
  const w = Math.max(...rows.map((x) => x[0].length));
  return [
    `${'metric'.padEnd(w)}  ${'generated'.padStart(10)}  ${'real-vs-real'.padStart(12)}`,
    ...rows.map(([name, g, re]) => `${name.padEnd(w)}  ${fmt(g).padStart(10)}  ${fmt(re).padStart(12)}`),
    '(real-vs-real column: sync and agreement of the held-out real clips themselves; FD of real set B vs real set A)',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, { samples: { type: 'string' }, real: { type: 'string' }, json: { type: 'boolean' } });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const dir = flags.samples as string | undefined;
  if (!dir) throw new UsageError('--samples DIR is required');
  const nReal = intFlag(flags, 'real', 64, 2);
  if (nReal > MAX_REAL) throw new UsageError(`--real must be at most ${MAX_REAL}, got ${nReal}`);
  const { set, meta, file } = readSamples(dir);
  const real = (offset: number) =>
    clipSetOf(syntheticDataset({ n: nReal, frames: set.frames, height: set.height, width: set.width, fps: meta.fps, classes: meta.classes, audio: meta.audio, seed: meta.dataSeed + offset }));
  const realA = real(1000);
  const realB = real(2000);
  if (realA.melFrames !== set.melFrames) process.stderr.write(`avdit eval: note: samples have ${set.melFrames} log-mel frames, real clips ${realA.melFrames}\n`);
  const settings: EvalSettings = { fps: meta.fps, audio: meta.audio, classes: meta.classes };
  const report = evaluate(set, realA, realB, settings);
  if (flags.json) {
    console.log(JSON.stringify({ samples: file, clips: set.n, labels: set.labels !== undefined, realClips: nReal, realSeeds: [meta.dataSeed + 1000, meta.dataSeed + 2000], ...report }, null, 2));
    return 0;
  }
  console.log(`avdit eval: ${set.n} generated clips (${set.frames} frames ${set.height}×${set.width}, log-mel ${set.melFrames}×${meta.audio.nMels}${set.labels ? ', class-conditional' : ''}) vs ${nReal} held-out real (seed ${meta.dataSeed + 1000}); real-vs-real: ${nReal} more (seed ${meta.dataSeed + 2000}) vs the same set`);
  console.log(formatTable(report));
  return 0;
}
