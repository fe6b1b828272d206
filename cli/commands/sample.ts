/** `avdit sample`: generate audio-video clips from a trained AV-DiT and write them for a person to watch and hear. */
import { readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { denormalizeLogMel } from '../../data/audio/mel.ts';
import { writeSamples } from '../../data/samples.ts';
import { classNames } from '../../data/synthetic.ts';
import { createDiffusion, ddimStepCounts } from '../../diffusion/index.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { configFromMetadata, readStateFile, toEngine } from '../../model/checkpoint.ts';
import { CheckpointError } from '../../engine/io/checkpoint-errors.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { modelWeights } from '../../model/weights.ts';
import type { DataSpec } from '../../train/data-source.ts';
import { Progress } from '../../train/progress.ts';
import { sampleClips } from '../../train/sampling.ts';
import { sampleBatchThatFits } from '../memory-fits.ts';
import { INTERRUPTED, watchInterrupt } from '../../train/interrupt.ts';
import { backendFlag, intFlag, numFlag, outDirFlag, parse, UsageError } from '../args.ts';
import { configFromFlags, FUSION_FLAGS, FUSION_HELP, fusionFromFlags, MODEL_FLAGS, modelHelp } from '../model-flags.ts';

export const help = `avdit sample --ckpt FILE --out DIR [--n N] [--steps S] [--sampler ddpm|ddim] [--class K] [--cfg W] [--seed S]

Generates N audio-video clips (in batches, with a progress bar) and writes per clip a GIF, PNG
frames, a WAV (Griffin-Lim from the generated log-mel) and a spectrogram PNG, plus DIR/index.html
that plays video and audio together, and DIR/samples.safetensors (raw outputs, for avdit eval).
Latent-space checkpoints (no decoder here) get samples.safetensors only.
  --n N            clips (default 8); --batch B (default 8, or what fits in memory)
  --steps S        sampling steps over a respaced schedule of the 1000 (default 250, as the
                   paper): ddpm takes 1..1000; ddim strides evenly, so S must be ⌈1000/k⌉ for a
                   whole k: 2..36, 38, 39, 40, 42, …, 50, …, 100, 112, 125, 143, 167, 200, 250,
                   334, 500, 1000
  --sampler S      ddpm (default) or ddim (faster; --eta X in [0, 1], default 0: deterministic)
  --class K        class id for class-conditional sampling (default: unconditional)
  --per-class      clips cycle through the classes (default n: one per class)
  --cfg W          classifier-free guidance scale ≥ 1 with --class or --per-class (default 1: none)
  --cfg-audio W    the audio's own guidance scale (default: --cfg)
  --weights W      ema (default: the EMA weights where the checkpoint has them; named, it must) or raw
  --seed S         the same seed gives the same samples (default 0)
  --backend cpu|webgpu|auto
  --precision f32|mixed  mixed: f16 matmul and attention operands, f32 accumulation (tensor cores on NVIDIA)
${FUSION_HELP} (default: as the model was trained)
${modelHelp("the checkpoint's stored config, else tiny")}`;

/** DDPM steps of the schedule sample respaces (createDiffusion's default). */
const TRAIN_STEPS = 1000;
/** More clips than this in one run is almost surely a typo (and would not fit in memory at XL size). */
const MAX_CLIPS = 10000;

/** --steps for --sampler ddim: a count the integer-stride respacing can make, else a usage error with the nearest. */
function checkDdimSteps(steps: number): void {
  const ok = ddimStepCounts(TRAIN_STEPS);
  if (ok.includes(steps)) return;
  const below = ok.filter((s) => s < steps).at(-1), above = ok.find((s) => s > steps);
  const nearest = [below, above].filter((s) => s !== undefined).join(' or ');
  throw new UsageError(`--steps ${steps} does not work with --sampler ddim: it takes every k-th of the ${TRAIN_STEPS} steps, so --steps must be ⌈${TRAIN_STEPS}/k⌉ for a whole k (nearest: ${nearest}; see --help)`);
}

/** How many of the n clips in `data` (n equal parts) hold NaN or ±Infinity. */
function nonFiniteClips(data: Float32Array, n: number): number {
  const per = data.length / n;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i * per; j < (i + 1) * per; j++) {
      if (!Number.isFinite(data[j]!)) {
        bad++;
        break;
      }
    }
  }
  return bad;
}

/**
 * Remove what an earlier run with more clips left in `dir`: clip i ≥ n's sample_NNN.gif / .wav /
 * _spec.png files and the frame_NNN.png files in its sample_NNN/ folder (the folder too if that
 * empties it), exactly the names writeSamples makes; nothing else. Returns how many clips.
 */
function removeStaleClips(dir: string, n: number): number {
  const stale = new Set<number>();
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const m = /^sample_(\d{3,})(\.gif|\.wav|_spec\.png)?$/.exec(e.name);
    const i = m ? Number(m[1]) : -1;
    if (!m || i < n || String(i).padStart(3, '0') !== m[1]) continue; // e.g. sample_0012 is not a name we write
    const path = join(dir, e.name);
    if (m[2] !== undefined && e.isFile()) {
      rmSync(path);
      stale.add(i);
    } else if (m[2] === undefined && e.isDirectory()) {
      for (const f of readdirSync(path, { withFileTypes: true })) if (f.isFile() && /^frame_\d{3,}\.png$/.test(f.name)) rmSync(join(path, f.name));
      if (readdirSync(path).length === 0) rmdirSync(path);
      stale.add(i);
    }
  }
  return stale.size;
}

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, {
    ...MODEL_FLAGS, ckpt: { type: 'string' }, out: { type: 'string' }, n: { type: 'string' }, batch: { type: 'string' },
    steps: { type: 'string' }, sampler: { type: 'string' }, eta: { type: 'string' }, class: { type: 'string' }, cfg: { type: 'string' }, 'cfg-audio': { type: 'string' },
    weights: { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' }, precision: { type: 'string' }, ...FUSION_FLAGS, 'per-class': { type: 'boolean' },
  });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const ckpt = flags.ckpt as string | undefined, out = flags.out as string | undefined;
  if (!ckpt || !out) throw new UsageError('--ckpt and --out are required');
  // Every flag is checked before the checkpoint is read (and before --out is made).
  let n = intFlag(flags, 'n', 8);
  let batch = intFlag(flags, 'batch', 8);
  const steps = intFlag(flags, 'steps', 250), seed = intFlag(flags, 'seed', 0, 0);
  if (n > MAX_CLIPS) throw new UsageError(`--n must be at most ${MAX_CLIPS}, got ${n}`);
  if (steps > TRAIN_STEPS) throw new UsageError(`--steps must be at most ${TRAIN_STEPS}`);
  const sampler = (flags.sampler as string | undefined) ?? 'ddpm';
  if (sampler !== 'ddpm' && sampler !== 'ddim') throw new UsageError(`--sampler must be ddpm or ddim, got "${sampler}"`);
  if (sampler === 'ddim') checkDdimSteps(steps);
  if (flags.eta !== undefined && sampler !== 'ddim') throw new UsageError('--eta is for --sampler ddim (ddpm always adds its full noise)');
  const eta = numFlag(flags, 'eta', 0);
  if (!(eta >= 0 && eta <= 1)) throw new UsageError(`--eta must be in [0, 1] (0: deterministic DDIM, 1: DDPM-like noise), got ${eta}`);
  const cfg = numFlag(flags, 'cfg', 1);
  const cfgAudio = numFlag(flags, 'cfg-audio', cfg);
  if (!(cfg >= 1) || !(cfgAudio >= 1)) throw new UsageError(`--cfg and --cfg-audio must be ≥ 1 (1: no guidance), got ${cfg < 1 ? cfg : cfgAudio}`);
  const classId = flags.class === undefined ? null : intFlag(flags, 'class', 0, 0);
  const perClass = flags['per-class'] === true;
  if (perClass && classId !== null) throw new UsageError('--per-class and --class exclude each other');
  // Guidance contrasts the class with the null class: unconditional sampling has nothing to guide.
  if (classId === null && !perClass) for (const f of ['cfg', 'cfg-audio']) if (flags[f] !== undefined) throw new UsageError(`--${f} needs --class K or --per-class (guidance is towards a class)`);
  const weightsFlag = (flags.weights as string | undefined) ?? 'ema';
  if (weightsFlag !== 'ema' && weightsFlag !== 'raw') throw new UsageError(`--weights must be ema or raw, got "${weightsFlag}"`);
  outDirFlag('out', out);

  const state = await readStateFile(ckpt);
  if (state.metadata['avdit.kind'] === 'dit') throw new UsageError(`${ckpt} is a DiT backbone (from avdit pretrain); train AV-DiT on it first: avdit train --backbone ${ckpt}`);
  const config = configFromFlags(flags, 'tiny', configFromMetadata(state.metadata, ckpt));
  if (classId !== null && classId >= config.classes) throw new UsageError(`--class ${classId}: the model has classes 0..${config.classes - 1}`);
  if (perClass && flags.n === undefined) n = config.classes;
  let labels = perClass ? Array.from({ length: n }, (_, i) => i % config.classes) : classId !== null ? Array<number>(n).fill(classId) : null;
  const args = JSON.parse(state.metadata['avdit.args'] ?? '{}') as { data?: DataSpec; fusion?: string; noFusion?: boolean };
  const codec = args.data?.kind === 'synthetic' ? args.data.codec : null;
  const fusion = fusionFromFlags(flags, args, config);
  const { weights, usedEma } = modelWeights(state.tensors, weightsFlag === 'ema');
  if (flags.weights === 'ema' && !usedEma) throw new UsageError(`--weights ema: ${ckpt} holds no EMA weights (use --weights raw)`);

  const backend = await backendFlag(flags, 'auto');
  batch = await sampleBatchThatFits(backend, config, n, batch, { guided: labels !== null && (cfg !== 1 || cfgAudio !== 1), fusion, chosen: flags.batch !== undefined });
  const model = new AVDiT({ backend, gen: new Generator(0) }, config);
  const sd = toEngine(weights, backend);
  try {
    model.loadStateDict(sd);
  } catch (e) {
    throw new CheckpointError(ckpt, undefined, (e as Error).message);
  }
  for (const t of sd.values()) t.dispose();
  const diffusion = createDiffusion(sampler === 'ddim' ? `ddim${steps}` : String(steps));
  console.error(`sampling ${n} clips with ${sampler} over ${steps} steps (${usedEma ? 'EMA' : 'raw'} weights${labels === null ? ', unconditional' : `, ${perClass ? 'clips cycling through the classes' : `class ${classId}`}, cfg ${cfg}${cfgAudio !== cfg ? ` (audio ${cfgAudio})` : ''}`})`);
  // Counted in denoising steps of one clip (a batch of B clips advances B per model call), so the
  // rate reads clip-steps/s and the ETA is right with a short last batch too.
  const progress = new Progress('sample', n * steps, 0, process.stderr, undefined, 'clip-steps');
  const started = performance.now();
  // Ctrl-C: finish the batch in hand and write the clips made so far (a second Ctrl-C quits at once).
  const interrupt = watchInterrupt('writing the clips made so far after this batch');
  let res: Awaited<ReturnType<typeof sampleClips>>;
  try {
    res = await sampleClips(model, diffusion, {
      n, batch, seed, method: sampler, eta, labels, cfg, cfgAudio, clipDenoised: codec !== null, fusion,
      onStep: (done) => progress.update(done),
      stop: () => interrupt.requested,
    });
  } finally {
    interrupt.stop();
    progress.done();
  }
  if (res.n < n) {
    console.error(`interrupted: ${res.n} of ${n} clips made`);
    n = res.n;
    labels = labels && labels.slice(0, n);
  }
  const secs = (performance.now() - started) / 1000;
  const badVideo = nonFiniteClips(res.video, n), badAudio = nonFiniteClips(res.audio, n);
  if (badVideo || badAudio) {
    const which = [badVideo ? `video in ${badVideo} of ${n} clips` : '', badAudio ? `audio in ${badAudio} of ${n} clips` : ''].filter(Boolean).join(', ');
    console.error(`avdit sample: sampling diverged: the generated latents hold NaN or infinite values (${which}); nothing was written to ${out} (a broken checkpoint, or too strong a --cfg?)`);
    return 1;
  }
  if (codec) {
    const stale = removeStaleClips(out, n);
    if (stale) console.error(`removed ${stale} stale clip${stale === 1 ? '' : 's'} (sample_${String(n).padStart(3, '0')} and up) left in ${out} by an earlier run`);
  }
  const c = config;
  const T = c.audioTime, F = c.audioFreq;
  const logmel = codec ? denormalizeLogMel(res.audio.slice(), codec.lo, codec.hi) : res.audio;
  const meta: Record<string, string> = codec ? { 'avdit.samples': JSON.stringify({ fps: codec.fps, audio: codec.audio, classes: c.classes, dataSeed: args.data?.kind === 'synthetic' ? args.data.seed : 0 }) } : {};
  writeSafetensors(join(out, 'samples.safetensors'), {
    video: { dtype: 'f32', shape: [n, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], data: res.video },
    ...(codec ? { logmel: { dtype: 'f32' as const, shape: [n, T, F], data: logmel } } : { audio: { dtype: 'f32' as const, shape: [n, c.audioChannels, T, F], data: res.audio } }),
    ...(labels ? { labels: { dtype: 'i32' as const, shape: [n], data: Int32Array.from(labels) } } : {}),
  }, meta, { i32As: 'I64' });
  console.error(`${n} clip${n === 1 ? '' : 's'} in ${secs.toFixed(1)} s (${(n / secs).toFixed(3)} samples/s)`);
  if (!codec) {
    console.log(`wrote ${join(out, 'samples.safetensors')} (latents: decode them with the VAEs they came from)`);
    return interrupt.requested ? INTERRUPTED : 0;
  }
  const per = c.frames * 3 * c.videoHeight * c.videoWidth;
  const names = classNames(Math.min(c.classes, 10));
  const index = writeSamples(out, Array.from({ length: n }, (_, i) => ({
    title: labels ? `sample ${i}: ${names[labels[i]!] ?? `class ${labels[i]}`}` : `sample ${i}`,
    video: res.video.subarray(i * per, (i + 1) * per).map((v) => Math.max(-1, Math.min(1, v))),
    logmel: logmel.subarray(i * T * F, (i + 1) * T * F),
  })), { frames: c.frames, height: c.videoHeight, width: c.videoWidth, fps: codec.fps, audio: codec.audio, title: 'AV-DiT samples', note: `${sampler}, ${steps} steps, seed ${seed}, checkpoint ${ckpt}` });
  console.log(`open ${index}`);
  return interrupt.requested ? INTERRUPTED : 0;
}
