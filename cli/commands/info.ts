/** `avdit info`: parameter counts of a model configuration, in total and per trainable group. */
import { metaBackend } from '../../engine/meta/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT, PARAM_GROUPS } from '../../model/avdit.ts';
import { backboneProblems, fitProblems } from '../../model/backbone.ts';
import { configFromMetadata, readStateFile } from '../../model/checkpoint.ts';
import { CheckpointError } from '../../engine/io/checkpoint-errors.ts';
import type { AVDiTConfig } from '../../model/config.ts';
import { modelWeights } from '../../model/weights.ts';
import { parse, UsageError } from '../args.ts';
import { configFromFlags, MODEL_FLAGS, modelHelp } from '../model-flags.ts';

export const help = `avdit info [--preset P] [--set key=value] [--ckpt FILE | --backbone FILE] [--json]

Prints the model's parameter counts: total, trainable, frozen, and per group (temporal adapters,
audio LoRA, fusion, audio adapter, audio embed/final, DiT biases).
  --ckpt FILE      the counts of an AV-DiT checkpoint (from avdit train), with the config it
                   stores, and a check that its weights fit that model
  --backbone FILE  check that a DiT checkpoint (from avdit pretrain) fits the model it would
                   train, with the config it stores, as avdit train --backbone uses it
With --preset or --set, that config instead of the file's (a .pt file stores none: default tiny).
${modelHelp("the file's stored config, else tiny")}`;

const fmtM = (n: number) => `${n.toLocaleString('en-US').padStart(13)}  (${(n / 1e6).toFixed(2)}M)`;

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, { ...MODEL_FLAGS, backbone: { type: 'string' }, ckpt: { type: 'string' }, json: { type: 'boolean' } });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const ckpt = flags.ckpt as string | undefined, backbonePath = flags.backbone as string | undefined;
  if (ckpt && backbonePath) throw new UsageError('give --ckpt or --backbone, not both');
  const path = ckpt ?? backbonePath;
  const state = path ? await readStateFile(path) : null;
  if (ckpt && state!.metadata['avdit.kind'] === 'dit') throw new UsageError(`${ckpt} is a DiT backbone (from avdit pretrain): check it with --backbone ${ckpt}`);
  // The file's own config (as train and sample use it) unless --preset picks one; --set on top.
  const stored = state && flags.preset === undefined ? configFromMetadata(state.metadata, path!) : null;
  const config: AVDiTConfig = configFromFlags(flags, 'tiny', stored);
  // Shapes only: no memory is allocated, so XL's 834M parameters cost nothing.
  const model = new AVDiT({ backend: metaBackend, gen: new Generator(0) }, config);
  if (state) {
    // As train and sample read them: the EMA weights if present, no optimizer state.
    const { weights } = modelWeights(state.tensors);
    const problems = ckpt ? fitProblems(model, weights) : backboneProblems(model, weights);
    if (problems.length) throw new CheckpointError(path!, undefined, `does not fit the model${ckpt ? '' : ' as a DiT backbone'}:\n  ${problems.join('\n  ')}`);
  }
  const counts = model.count();
  const groups: Record<string, number> = {};
  for (const [k, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    const g = PARAM_GROUPS.find(([, re]) => re.test(k))?.[0] ?? 'DiT biases';
    groups[g] = (groups[g] ?? 0) + p.size;
  }
  if (flags.json) {
    console.log(JSON.stringify({ config, ...counts, groups }, null, 2));
    return 0;
  }
  const name = stored ? `(config of ${path})` : ((flags.preset as string | undefined) ?? 'tiny');
  console.log(`AV-DiT ${name}: D=${config.hidden} depth=${config.depth} heads=${config.heads} patch=${config.patch} frames=${config.frames} LoRA r=${config.loraRank}`);
  console.log(`  total      ${fmtM(counts.total)}`);
  console.log(`  trainable  ${fmtM(counts.trainable)}`);
  console.log(`  frozen     ${fmtM(counts.frozen)}`);
  console.log('trainable by group:');
  for (const [g, n] of Object.entries(groups)) console.log(`  ${g.padEnd(22)} ${fmtM(n)}`);
  if (path) console.log(`${ckpt ? 'checkpoint' : 'backbone'} ${path}: fits`);
  return 0;
}
