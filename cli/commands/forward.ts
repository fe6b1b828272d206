/** `avdit forward`: one AV-DiT forward pass from a checkpoint on inputs from a safetensors file. */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as A from '../../autograd/index.ts';
import { tensor } from '../../engine/creation.ts';
import { fmt } from '../../engine/shape.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { configFromMetadata, readStateFile, toEngine } from '../../model/checkpoint.ts';
import { CheckpointError } from '../../engine/io/checkpoint-errors.ts';
import type { AVDiTConfig } from '../../model/config.ts';
import { readSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import { modelWeights } from '../../model/weights.ts';
import { backendFlag, parse, PRECISION_FLAG, UsageError } from '../args.ts';
import { configFromFlags, MODEL_FLAGS, modelHelp } from '../model-flags.ts';

export const help = `avdit forward --ckpt FILE --inputs IN --out OUT [--preset P] [--backend cpu|webgpu|auto] [--precision f32|mixed]

Runs one forward pass. FILE: our safetensors checkpoint (its metadata holds the config) or a
PyTorch .pt state dict with DESIGN.md's keys (then --preset gives the config); a training
checkpoint from avdit train runs with its EMA weights. IN: safetensors with
x_video [B,M,Cv,H,W] f32, x_audio [B,Ca,T,F] f32, t [B] (i64 or f32, diffusion steps in [0, 1000)),
optional y [B] i64 (default: the null class), B ≥ 1. OUT gets out_video [B,M,2Cv,H,W] and out_audio [B,2Ca,T,F] (f32).
${modelHelp("the checkpoint's stored config, else tiny")}`;

function expectShape(file: string, name: string, got: readonly number[], want: (number | 'B')[], B: number): void {
  const w = want.map((d) => (d === 'B' ? B : d));
  if (got.join() !== w.join()) throw new UsageError(`${file}: ${name} has shape ${fmt(got)}, the model wants ${fmt(w)}`);
}

/** The steps of the DDPM schedule the model is trained on (createDiffusion's default). */
const DIFFUSION_STEPS = 1000;

/** --out FILE's folder must exist and be a writable folder: checked before the forward pass. */
function checkOutFolder(outPath: string): void {
  const dir = dirname(resolve(outPath));
  if (!existsSync(dir)) throw new UsageError(`--out ${outPath}: folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`--out ${outPath}: ${dir} is not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--out ${outPath}: folder ${dir} is not writable`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, { ...MODEL_FLAGS, ...PRECISION_FLAG, ckpt: { type: 'string' }, inputs: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' } });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const [ckpt, inPath, outPath] = [flags.ckpt, flags.inputs, flags.out] as (string | undefined)[];
  if (!ckpt || !inPath || !outPath) throw new UsageError('--ckpt, --inputs and --out are required');
  if (existsSync(outPath) && statSync(outPath).isDirectory()) throw new UsageError(`--out ${outPath} is a directory; give a file name`);
  checkOutFolder(outPath);

  // Read and check everything before any long work.
  const state = await readStateFile(ckpt);
  if (state.metadata['avdit.kind'] === 'dit') throw new UsageError(`${ckpt} is a DiT backbone (from avdit pretrain); train AV-DiT on it first: avdit train --backbone ${ckpt}`);
  const config: AVDiTConfig = configFromFlags(flags, 'tiny', configFromMetadata(state.metadata, ckpt));
  const inputs = readSafetensors(inPath).tensors;
  const need = (k: string) => {
    const t = inputs.get(k);
    if (!t) throw new UsageError(`${inPath}: missing tensor "${k}" (has: ${[...inputs.keys()].join(', ')})`);
    return t;
  };
  const xv = need('x_video'), xa = need('x_audio'), t = need('t');
  const B = xv.shape[0] ?? 0;
  if (B < 1) throw new UsageError(`${inPath}: x_video has shape ${fmt(xv.shape)}: need a batch of at least one clip`);
  const c = config;
  expectShape(inPath, 'x_video', xv.shape, ['B', c.frames, c.videoChannels, c.videoHeight, c.videoWidth], B);
  expectShape(inPath, 'x_audio', xa.shape, ['B', c.audioChannels, c.audioTime, c.audioFreq], B);
  expectShape(inPath, 't', t.shape, ['B'], B);
  // The model embeds t as a diffusion step: NaN or steps outside the schedule give garbage, not an error.
  const badT = Array.from(t.data).find((v) => !(v >= 0 && v < DIFFUSION_STEPS));
  if (badT !== undefined) throw new UsageError(`${inPath}: t must hold diffusion steps in [0, ${DIFFUSION_STEPS}), got ${badT}`);
  const y = inputs.get('y');
  if (y) expectShape(inPath, 'y', y.shape, ['B'], B);
  const labels = y ? Array.from(y.data) : Array<number>(B).fill(c.classes);
  if (labels.some((l) => !Number.isInteger(l) || l < 0 || l > c.classes)) throw new UsageError(`${inPath}: y must hold class ids in 0..${c.classes} (${c.classes} = null class)`);

  const backend = await backendFlag(flags, 'auto');
  const model = new AVDiT({ backend, gen: new Generator(0) }, config);
  // A training checkpoint also holds optimizer state and EMA weights: use the EMA ones if present.
  const sd = toEngine(modelWeights(state.tensors, true).weights, backend);
  try {
    model.loadStateDict(sd);
  } catch (e) {
    throw new CheckpointError(ckpt, undefined, (e as Error).message);
  }
  for (const tt of sd.values()) tt.dispose();

  const started = performance.now();
  const out = A.noGrad(() =>
    model.forwardAV(
      tensor(xv.data, xv.shape, { backend }),
      tensor(xa.data, xa.shape, { backend }),
      Array.from(t.data),
      tensor(labels, [B], { dtype: 'i32', backend }),
    ),
  );
  const video = await out.video.toArray(), audio = await out.audio.toArray();
  const ms = performance.now() - started;
  writeSafetensors(outPath, {
    out_video: { dtype: 'f32', shape: [...out.video.shape], data: video },
    out_audio: { dtype: 'f32', shape: [...out.audio.shape], data: audio },
  });
  console.log(`forward: batch ${B} in ${ms.toFixed(0)} ms on ${backend.name}; wrote ${outPath} (out_video ${fmt(out.video.shape)}, out_audio ${fmt(out.audio.shape)})`);
  return 0;
}
