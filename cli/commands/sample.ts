/** `avdit sample`: generate audio-video clips from a trained AV-DiT and write them for a person to watch and hear. */
import { join } from 'node:path';
import { denormalizeLogMel } from '../../data/audio/mel.ts';
import { writeSamples } from '../../data/samples.ts';
import { classNames } from '../../data/synthetic.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { configFromMetadata, readStateFile, toEngine } from '../../model/checkpoint.ts';
import { CheckpointError } from '../../model/checkpoint-errors.ts';
import { writeSafetensors } from '../../model/safetensors.ts';
import { modelWeights } from '../../model/weights.ts';
import type { DataSpec } from '../../train/data-source.ts';
import { Progress } from '../../train/progress.ts';
import { sampleClips } from '../../train/sampling.ts';
import { backendFlag, intFlag, outDirFlag, parse, UsageError } from '../args.ts';
import { configFromFlags, FUSION_FLAGS, FUSION_HELP, fusionFromFlags, MODEL_FLAGS, MODEL_HELP } from '../model-flags.ts';

export const help = `avdit sample --ckpt FILE --out DIR [--n N] [--steps S] [--sampler ddpm|ddim] [--class K] [--cfg W] [--seed S]

Generates N audio-video clips (in batches, with a progress bar) and writes per clip a GIF, PNG
frames, a WAV (Griffin-Lim from the generated log-mel) and a spectrogram PNG, plus DIR/index.html
that plays video and audio together, and DIR/samples.safetensors (raw outputs, for avdit eval).
Latent-space checkpoints (no decoder here) get samples.safetensors only.
  --n N            clips (default 8); --batch B (default 8)
  --steps S        sampling steps over a respaced schedule (default 250, as the paper)
  --sampler S      ddpm (default) or ddim (faster; --eta X, default 0)
  --class K        class id for class-conditional sampling (default: unconditional)
  --per-class      clips cycle through the classes (default n: one per class)
  --cfg W          classifier-free guidance scale with --class (default 1: none)
  --cfg-audio W    the audio's own guidance scale (default: --cfg)
  --weights W      ema (default, if the checkpoint has them) or raw
  --seed S         the same seed gives the same samples (default 0)
  --backend cpu|webgpu|auto
${FUSION_HELP} (default: as the model was trained)
${MODEL_HELP}`;

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
  outDirFlag('out', out);
  let n = intFlag(flags, 'n', 8);
  const batch = intFlag(flags, 'batch', 8), steps = intFlag(flags, 'steps', 250), seed = intFlag(flags, 'seed', 0, 0);
  const sampler = (flags.sampler as string | undefined) ?? 'ddpm';
  if (sampler !== 'ddpm' && sampler !== 'ddim') throw new UsageError(`--sampler must be ddpm or ddim, got "${sampler}"`);
  const cfg = flags.cfg === undefined ? 1 : Number(flags.cfg);
  const eta = flags.eta === undefined ? 0 : Number(flags.eta);
  const cfgAudio = flags['cfg-audio'] === undefined ? cfg : Number(flags['cfg-audio']);
  if (!(cfg >= 1) || !(cfgAudio >= 1) || !(eta >= 0)) throw new UsageError('--cfg and --cfg-audio must be ≥ 1 and --eta ≥ 0');
  if (steps > 1000) throw new UsageError('--steps must be at most 1000');

  const state = readStateFile(ckpt);
  const config = (!flags.preset && configFromMetadata(state.metadata, ckpt)) || configFromFlags(flags);
  const classId = flags.class === undefined ? null : intFlag(flags, 'class', 0, 0);
  if (classId !== null && classId >= config.classes) throw new UsageError(`--class ${classId}: the model has classes 0..${config.classes - 1}`);
  const perClass = flags['per-class'] === true;
  if (perClass && classId !== null) throw new UsageError('--per-class and --class exclude each other');
  if (perClass && flags.n === undefined) n = config.classes;
  const labels = perClass ? Array.from({ length: n }, (_, i) => i % config.classes) : classId !== null ? Array<number>(n).fill(classId) : null;
  if (state.metadata['avdit.kind'] === 'dit') throw new UsageError(`${ckpt} is a DiT backbone (from avdit pretrain); train AV-DiT on it first: avdit train --backbone ${ckpt}`);
  const args = JSON.parse(state.metadata['avdit.args'] ?? '{}') as { data?: DataSpec; fusion?: string; noFusion?: boolean };
  const codec = args.data?.kind === 'synthetic' ? args.data.codec : null;
  const fusion = fusionFromFlags(flags, args, config);
  const { weights, usedEma } = modelWeights(state.tensors, flags.weights !== 'raw');

  const backend = await backendFlag(flags, 'auto');
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
  const progress = new Progress('sample', 1000);
  const started = performance.now();
  const res = await sampleClips(model, diffusion, {
    n, batch, seed, method: sampler, eta, labels, cfg, cfgAudio, clipDenoised: codec !== null, fusion,
    onStep: (done, total) => progress.update(Math.round((1000 * done) / total)),
  });
  progress.done();
  const secs = (performance.now() - started) / 1000;
  const c = config;
  const T = c.audioTime, F = c.audioFreq;
  const logmel = codec ? denormalizeLogMel(res.audio.slice(), codec.lo, codec.hi) : res.audio;
  const meta: Record<string, string> = codec ? { 'avdit.samples': JSON.stringify({ fps: codec.fps, audio: codec.audio, classes: c.classes, dataSeed: args.data?.kind === 'synthetic' ? args.data.seed : 0 }) } : {};
  writeSafetensors(join(out, 'samples.safetensors'), {
    video: { dtype: 'f32', shape: [n, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], data: res.video },
    ...(codec ? { logmel: { dtype: 'f32' as const, shape: [n, T, F], data: logmel } } : { audio: { dtype: 'f32' as const, shape: [n, c.audioChannels, T, F], data: res.audio } }),
    ...(labels ? { labels: { dtype: 'i32' as const, shape: [n], data: Int32Array.from(labels) } } : {}),
  }, meta, { i32As: 'I64' });
  console.error(`${n} clips in ${secs.toFixed(1)} s (${(n / secs).toFixed(3)} samples/s)`);
  if (!codec) {
    console.log(`wrote ${join(out, 'samples.safetensors')} (latents: decode them with the VAEs they came from)`);
    return 0;
  }
  const per = c.frames * 3 * c.videoHeight * c.videoWidth;
  const names = classNames(Math.min(c.classes, 10));
  const index = writeSamples(out, Array.from({ length: n }, (_, i) => ({
    title: labels ? `sample ${i}: ${names[labels[i]!] ?? `class ${labels[i]}`}` : `sample ${i}`,
    video: res.video.subarray(i * per, (i + 1) * per).map((v) => Math.max(-1, Math.min(1, v))),
    logmel: logmel.subarray(i * T * F, (i + 1) * T * F),
  })), { frames: c.frames, height: c.videoHeight, width: c.videoWidth, fps: codec.fps, audio: codec.audio, title: 'AV-DiT samples', note: `${sampler}, ${steps} steps, seed ${seed}, checkpoint ${ckpt}` });
  console.log(`open ${index}`);
  return 0;
}
