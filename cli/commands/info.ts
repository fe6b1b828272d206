/** `avdit info`: parameter counts of a model configuration, in total and per trainable group. */
import { metaBackend } from '../../engine/meta/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT, PARAM_GROUPS } from '../../model/avdit.ts';
import { backboneProblems } from '../../model/backbone.ts';
import { readStateFile } from '../../model/checkpoint.ts';
import { CheckpointError } from '../../model/checkpoint-errors.ts';
import { parse } from '../args.ts';
import { configFromFlags, MODEL_FLAGS, MODEL_HELP } from '../model-flags.ts';

export const help = `avdit info [--preset P] [--set key=value] [--backbone FILE] [--json]

Prints the model's parameter counts: total, trainable, frozen, and per group (temporal adapters,
audio LoRA, fusion, audio adapter, audio embed/final, DiT biases). With --backbone, checks that
the DiT checkpoint fits the configuration.
${MODEL_HELP}`;

const fmtM = (n: number) => `${n.toLocaleString('en-US').padStart(13)}  (${(n / 1e6).toFixed(2)}M)`;

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, { ...MODEL_FLAGS, backbone: { type: 'string' }, json: { type: 'boolean' } });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const config = configFromFlags(flags);
  // Shapes only: no memory is allocated, so XL's 834M parameters cost nothing.
  const model = new AVDiT({ backend: metaBackend, gen: new Generator(0) }, config);
  if (flags.backbone) {
    const path = flags.backbone as string;
    const problems = backboneProblems(model, readStateFile(path).tensors);
    if (problems.length) throw new CheckpointError(path, undefined, `does not fit the model as a DiT backbone:\n  ${problems.join('\n  ')}`);
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
  console.log(`AV-DiT ${(flags.preset as string | undefined) ?? 'tiny'}: D=${config.hidden} depth=${config.depth} heads=${config.heads} patch=${config.patch} frames=${config.frames} LoRA r=${config.loraRank}`);
  console.log(`  total      ${fmtM(counts.total)}`);
  console.log(`  trainable  ${fmtM(counts.trainable)}`);
  console.log(`  frozen     ${fmtM(counts.frozen)}`);
  console.log('trainable by group:');
  for (const [g, n] of Object.entries(groups)) console.log(`  ${g.padEnd(22)} ${fmtM(n)}`);
  if (flags.backbone) console.log(`backbone ${flags.backbone as string}: fits`);
  return 0;
}
