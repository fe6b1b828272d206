/** `avdit pretrain`: train the image DiT (all parameters) on single frames, the backbone AV-DiT adapts. */
import { Generator } from '../../engine/rng.ts';
import { tensor } from '../../engine/creation.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { rand } from '../../engine/creation.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import { DiT } from '../../model/dit.ts';
import { AdamW } from '../../train/adamw.ts';
import { openData } from '../../train/data-source.ts';
import { EMA } from '../../train/ema.ts';
import { trainLoop } from '../../train/loop.ts';
import { ditLoss } from '../../train/objectives.ts';
import { join } from 'node:path';
import { exportBackbone } from '../../train/backbone-export.ts';
import { ckptPath } from '../../train/run-dir.ts';
import { backendFlag, checkOutDirFlag, INTERRUPTED, outDirFlag, parse } from '../args.ts';
import { configFromFlags, MODEL_FLAGS, modelHelp } from '../model-flags.ts';
import { resumeDirFlag, resumeFlags, splitResumeDir } from '../resume-flags.ts';
import { checkBatchFits } from '../memory-fits.ts';
import { TRAIN_FLAGS, TRAIN_HELP, trainArgs } from '../train-flags.ts';
import { CHECKPOINT_FLAGS, CHECKPOINT_HELP, checkpointingFromFlags } from '../checkpoint-flags.ts';

export const help = `avdit pretrain --out DIR [flags]
       avdit pretrain --resume DIR [flags]

Trains the image DiT itself (every parameter; class labels with 10% dropped to the null class,
as DiT) on single video frames, producing the frozen backbone DIR/backbone.safetensors (EMA
weights) that \`avdit train --backbone DIR/backbone.safetensors\` adapts to audio and video.
${CHECKPOINT_HELP}
${modelHelp('demo')}
${TRAIN_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const resumeArg = splitResumeDir(argv);
  const flags = parse(resumeArg.argv, { ...MODEL_FLAGS, ...TRAIN_FLAGS, ...CHECKPOINT_FLAGS });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  resumeDirFlag(flags, resumeArg.dir);
  const config = resumeFlags(flags, 'dit') ?? configFromFlags(flags, 'demo');
  const a = trainArgs(flags);
  // --out is checked (making nothing) before the data is made or the model built; made after the data.
  checkOutDirFlag('out', a.out);
  const backend = await backendFlag(flags, 'auto');
  const checkpoint = await checkpointingFromFlags(flags, backend, 'dit', config, a.batch);
  await checkBatchFits(backend, 'dit', config, a.batch, { checkpoint });
  const data = openData(config, a.data, a.dataN, a.dataSeed);
  const dir = outDirFlag('out', a.out);
  const model = new DiT({ backend, gen: new Generator(a.seed) }, config);
  const params = model.parameters({ trainable: true });
  const optimizer = new AdamW(params, { lr: a.lr, betas: a.betas, weightDecay: a.weightDecay });
  const ema = a.ema > 0 ? new EMA(params, a.ema) : null;
  const diffusion = createDiffusion('');
  const M = config.frames, frame = config.videoChannels * config.videoHeight * config.videoWidth;
  console.error(`pretraining DiT (${(model.count().total / 1e6).toFixed(2)}M parameters) on frames of ${data.n} clips`);
  if (!data.labels) console.error(`note: ${a.data} has no labels: every frame trains the null class, so the backbone learns the unconditional model only`);
  const { lastStep, interrupted } = await trainLoop({
    dir, model, optimizer, ema, steps: a.steps, ckptEvery: a.ckptEvery, resume: a.resume, label: 'pretrain',
    ...(a.gradClip !== undefined ? { gradClip: a.gradClip } : {}),
    ...(a.timeBudget !== undefined ? { deadline: performance.now() + a.timeBudget * 1000 } : {}),
    meta: { kind: 'dit', seed: a.seed, config, args: { ...a, data: data.spec } },
    lossFn: (_step, gen) => {
      // B random frames of random clips
      const u = rand([2 * a.batch], { dtype: 'f64', backend: cpuBackend, generator: gen }).dataSync();
      const images = new Float32Array(a.batch * frame);
      const labels: number[] = [];
      for (let b = 0; b < a.batch; b++) {
        const i = Math.min(data.n - 1, Math.floor(u[2 * b]! * data.n)), m = Math.min(M - 1, Math.floor(u[2 * b + 1]! * M));
        images.set(data.video.subarray(i * data.clipVideo + m * frame, i * data.clipVideo + (m + 1) * frame), b * frame);
        labels.push(data.labels ? data.labels[i]! : config.classes);
      }
      const x = tensor(images, [a.batch, config.videoChannels, config.videoHeight, config.videoWidth], { backend });
      return ditLoss(model, diffusion, x, labels, gen, undefined, { checkpoint });
    },
  });
  const backbone = join(dir, 'backbone.safetensors');
  exportBackbone(ckptPath(dir), backbone);
  console.log(`pretrained to step ${lastStep}: ${backbone} (${ema ? 'EMA ' : ''}weights for avdit train --backbone; the run state is ${ckptPath(dir)})`);
  return interrupted ? INTERRUPTED : 0;
}
