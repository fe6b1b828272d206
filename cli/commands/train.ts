/** `avdit train`: adapt a frozen DiT backbone to audio and video (AV-DiT's trainable parts only). */
import { metaBackend } from '../../engine/meta/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { createDiffusion } from '../../diffusion/index.ts';
import { AVDiT } from '../../model/avdit.ts';
import { checkBackboneFits, loadBackbone } from '../../model/backbone.ts';
import { configFromMetadata, readStateFile } from '../../model/checkpoint.ts';
import { modelWeights } from '../../model/weights.ts';
import { AdamW } from '../../train/adamw.ts';
import { drawBatch, openData } from '../../train/data-source.ts';
import { EMA } from '../../train/ema.ts';
import { trainLoop } from '../../train/loop.ts';
import { avditLoss } from '../../train/objectives.ts';
import { ckptPath } from '../../train/run-dir.ts';
import { backendFlag, checkOutDirFlag, INTERRUPTED, outDirFlag, parse, UsageError } from '../args.ts';
import { configFromFlags, FUSION_FLAGS, FUSION_HELP, fusionFromFlags, MODEL_FLAGS, modelHelp } from '../model-flags.ts';
import { resumeDirFlag, resumeFlags, splitResumeDir } from '../resume-flags.ts';
import { checkBatchFits } from '../memory-fits.ts';
import { CHECKPOINT_FLAGS, CHECKPOINT_HELP, checkpointingFromFlags } from '../checkpoint-flags.ts';
import { TRAIN_FLAGS, TRAIN_HELP, trainArgs } from '../train-flags.ts';

export const help = `avdit train --out DIR [--backbone FILE] [flags]
       avdit train --resume DIR [flags]

Trains AV-DiT's new parts (temporal adapters, LoRA, fusion gates, audio adapter, audio
embed/final layer and the DiT's biases) on audio-video clips, with the DiT backbone frozen.
  --backbone FILE     DiT weights: an \`avdit pretrain\` checkpoint (its EMA weights) or the
                      official DiT .pt state dict (default: a random backbone, with a warning)
  --conditional       train with class labels (default: unconditional, the paper's setting)
${CHECKPOINT_HELP}
  --min-snr G         weight each step's ε-MSE by min(SNR, G)/SNR (Min-SNR-γ, Hang et al. 2023;
                      default: off, ADM's loss as the paper): the nearly clean steps count less
${FUSION_HELP}
${modelHelp("the run's with --resume, else the backbone's stored config, else demo")}
${TRAIN_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const resumeArg = splitResumeDir(argv);
  const flags = parse(resumeArg.argv, { ...MODEL_FLAGS, ...TRAIN_FLAGS, backbone: { type: 'string' }, conditional: { type: 'boolean' }, ...FUSION_FLAGS, ...CHECKPOINT_FLAGS, 'min-snr': { type: 'string' } });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  resumeDirFlag(flags, resumeArg.dir);
  // Resuming: the run's config and options (its checkpoint holds the frozen weights too).
  const resumed = resumeFlags(flags, 'avdit');
  if (resumed && flags.backbone) console.error(`--resume: the run's checkpoint holds the frozen weights; --backbone ${flags.backbone as string} is not read`);
  const a = trainArgs(flags);
  // --out is checked (making nothing) before the backbone is read, the data made or the model built.
  checkOutDirFlag('out', a.out);
  // Else the backbone's config (our checkpoints keep one) unless --preset is given; --set on top.
  const backbone = flags.backbone && !resumed ? await readStateFile(flags.backbone as string) : null;
  const config = resumed ?? configFromFlags(flags, 'demo', backbone && configFromMetadata(backbone.metadata, flags.backbone as string));
  // Every flag is checked before the data is made or read and before --out is touched.
  const fusion = fusionFromFlags(flags, {}, config);
  const minSnrGamma = flags['min-snr'] === undefined ? undefined : Number(flags['min-snr']);
  if (minSnrGamma !== undefined && !(minSnrGamma > 0)) throw new UsageError(`--min-snr must be a number > 0, got "${String(flags['min-snr'])}"`);
  // The backbone's fit, on a shape-only model (the meta backend allocates nothing, so XL costs nothing).
  const weights = backbone ? modelWeights(backbone.tensors) : null;
  if (weights) checkBackboneFits(new AVDiT({ backend: metaBackend, gen: new Generator(0) }, config), weights.weights, flags.backbone as string);
  const backend = await backendFlag(flags, 'auto');
  const checkpoint = await checkpointingFromFlags(flags, backend, 'avdit', config, a.batch, { fusion, minSnrGamma });
  await checkBatchFits(backend, 'avdit', config, a.batch, { fusion, checkpoint, minSnrGamma });
  const conditional = flags.conditional === true;
  const data = openData(config, a.data, a.dataN, a.dataSeed, conditional); // shards without labels: refused from their headers
  if (conditional && !data.labels) throw new UsageError(`--conditional: the data in ${a.data} has no labels`);
  const dir = outDirFlag('out', a.out);
  const model = new AVDiT({ backend, gen: new Generator(a.seed) }, config);
  if (weights) {
    loadBackbone(model, weights.weights, flags.backbone as string);
    console.error(`backbone: ${flags.backbone as string} (${weights.usedEma ? 'EMA weights' : 'weights'}) loaded and frozen`);
  } else if (!a.resume) {
    console.error('warning: no --backbone: the frozen DiT is randomly initialised (run avdit pretrain first for a meaningful one)');
  }
  const params = model.parameters({ trainable: true });
  const optimizer = new AdamW(params, { lr: a.lr, betas: a.betas, weightDecay: a.weightDecay });
  const ema = a.ema > 0 ? new EMA(params, a.ema) : null;
  const diffusion = createDiffusion('');
  const counts = model.count();
  console.error(`training AV-DiT: ${(counts.trainable / 1e6).toFixed(3)}M trainable of ${(counts.total / 1e6).toFixed(2)}M parameters, ${data.n} clips, ${conditional ? 'class-conditional' : 'unconditional'}${fusion === 'none' ? ', without fusion' : fusion === 'frames' ? ', fusion with frame tokens' : ''}`);
  const { lastStep, interrupted } = await trainLoop({
    dir, model, optimizer, ema, steps: a.steps, ckptEvery: a.ckptEvery, resume: a.resume, label: 'train',
    ...(a.gradClip !== undefined ? { gradClip: a.gradClip } : {}),
    ...(a.timeBudget !== undefined ? { deadline: performance.now() + a.timeBudget * 1000 } : {}),
    meta: { kind: 'avdit', seed: a.seed, config, args: { ...a, data: data.spec, conditional, fusion, ...(minSnrGamma !== undefined ? { minSnrGamma } : {}) } },
    lossFn: (_step, gen) => avditLoss(model, diffusion, drawBatch(data, config, a.batch, gen, backend, conditional), gen, { fusion, checkpoint, minSnrGamma }),
  });
  console.log(`trained to step ${lastStep}: ${ckptPath(dir)} (sample with avdit sample --ckpt ${ckptPath(dir)} --out DIR)`);
  return interrupted ? INTERRUPTED : 0;
}
