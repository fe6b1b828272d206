/**
 * Does a trained AV-DiT's sound follow the picture in time? For held-out synthetic clips, the audio
 * branch's ε-MSE with each clip's own video against the same with the video of another clip of the
 * same class (same colour and shape, other events), at fixed noise levels, with the same noise for
 * both. A model that reads the video's timing predicts its own clip's audio better: ratio > 1.
 * A model whose audio ignores when things happen in the picture gives 1.000.
 *
 *   node --import tsx bench/av-timing.ts --ckpt runs/demo-avdit/checkpoint.safetensors [--fusion pooled|frames|none] [--n 32]
 *
 * (default --fusion: the mode the checkpoint was trained with). Writes bench/results/av-timing.json.
 */
import { parseArgs } from 'node:util';
import * as A from '../autograd/index.ts';
import { cpuBackend } from '../engine/cpu/backend.ts';
import { randn, tensor } from '../engine/creation.ts';
import { Generator } from '../engine/rng.ts';
import { createDiffusion } from '../diffusion/index.ts';
import { AVDiT, type FusionMode } from '../model/avdit.ts';
import { configFromMetadata, readStateFile, toEngine } from '../model/checkpoint.ts';
import { modelWeights } from '../model/weights.ts';
import { clipTensors, openData } from '../train/data-source.ts';
import { channelsToFrames, framesToChannels } from '../train/objectives.ts';
import { fusionFromFlags } from '../cli/model-flags.ts';
import { writeResult } from './results.ts';

const { values: flags } = parseArgs({ options: { ckpt: { type: 'string' }, fusion: { type: 'string' }, n: { type: 'string' } } });
if (!flags.ckpt) throw new Error('--ckpt FILE is required');
const state = await readStateFile(flags.ckpt);
const config = configFromMetadata(state.metadata, flags.ckpt);
if (!config) throw new Error(`${flags.ckpt} has no avdit.config metadata (an avdit train checkpoint is needed)`);
const args = JSON.parse(state.metadata['avdit.args'] ?? '{}') as { fusion?: string; noFusion?: boolean };
const fusion: FusionMode = fusionFromFlags(flags, args);
const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, config);
model.loadStateDict(toEngine(modelWeights(state.tensors).weights, cpuBackend));

// Held-out clips: a data seed no training run uses.
const B = Number(flags.n ?? 32), pool = 2 * B;
const data = openData(config, 'synthetic', pool, 777);
const labels = data.labels!;
const own = Array.from({ length: B }, (_, i) => i);
const sameClass = own.map((i) => {
  for (let k = 1; k < pool; k++) if (labels[(i + k) % pool] === labels[i]) return (i + k) % pool;
  throw new Error(`no other clip of class ${labels[i]} among ${pool}`);
});
const { audio } = clipTensors(data, config, own, cpuBackend);
const y = tensor(own.map((i) => labels[i]!), [B], { dtype: 'i32' });
const diffusion = createDiffusion('');

const rows: { t: number; ownVideo: number; otherVideo: number; ratio: number }[] = [];
for (const step of [50, 200, 400, 500, 600, 700, 800]) {
  const t = Array<number>(B).fill(step);
  const [ownVideo, otherVideo] = [own, sameClass].map((idx) => {
    const gen = new Generator(step); // the same noise for both pairings
    const x0v = framesToChannels(clipTensors(data, config, idx, cpuBackend).video);
    const nv = randn([...x0v.shape], { generator: gen });
    const na = randn([...audio.shape], { generator: gen });
    const out = A.noGrad(() => model.forwardAV(channelsToFrames(diffusion.qSample(x0v, t, nv)), diffusion.qSample(audio, t, na), t, y, { fusion }));
    const eps = A.narrow(out.audio, 1, 0, config.audioChannels);
    return A.mean(A.square(A.sub(eps, na))).dataSync()[0]!;
  }) as [number, number];
  rows.push({ t: step, ownVideo, otherVideo, ratio: otherVideo / ownVideo });
  console.log(`t=${String(step).padStart(3)}  audio ε-MSE with its own video ${ownVideo.toFixed(5)}, with another clip's ${otherVideo.toFixed(5)}: ratio ${(otherVideo / ownVideo).toFixed(3)}`);
}
writeResult('av-timing', { ckpt: flags.ckpt, fusion, clips: B, rows });
