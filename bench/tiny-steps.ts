/**
 * The tiny AV-DiT here, end to end: a denoising step at batch 1 (forward + one DDPM update) and a
 * training step at batch 2 (forward + backward + AdamW) on the CPU backend (one thread, then all
 * cores) and on WebGPU (lavapipe here), next to PyTorch on one CPU thread running this spec's
 * reference model (bench/torch_tiny.py, Debian's python3-torch) in the same run. Medians of 30 timed
 * runs after 20 untimed ones, on both sides. Writes bench/results/tiny-steps.json (or <preset>-steps.json).
 *
 *   node --import tsx bench/tiny-steps.ts [--preset demo] [--train-batch B] [--no-webgpu] [--no-torch]
 *
 * With --preset demo --train-batch 8 it times the demo's own training step (PyTorch: tiny only).
 */
import { spawnSync } from 'node:child_process';
import * as A from '../autograd/index.ts';
import type { Backend } from '../engine/backend.ts';
import { randn, tensor } from '../engine/creation.ts';
import { cpuBackend } from '../engine/cpu/backend.ts';
import { pool } from '../engine/cpu/threads.ts';
import { closeBackends, useBackend } from '../engine/registry.ts';
import { Generator } from '../engine/rng.ts';
import { scopeAsync } from '../engine/scope.ts';
import { createDiffusion, pSampleFromOutput } from '../diffusion/index.ts';
import { AVDiT } from '../model/avdit.ts';
import { makeConfig } from '../model/config.ts';
import { AdamW } from '../train/adamw.ts';
import { avditLoss, framesToChannels } from '../train/objectives.ts';
import { writeResult } from './results.ts';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const preset = opt('--preset') ?? 'tiny';
const trainBatch = Number(opt('--train-batch') ?? 2);
const c = makeConfig(preset);
const rows: Record<string, unknown>[] = [];

/**
 * Median ms of `reps` runs after WARMUP untimed ones (pipeline compiles on WebGPU; on the CPU, V8
 * compiles the hot loops only after some runs: with one warm-up, the tiny denoising step's median
 * swung between 12 and 24 ms from run to run, 2026-11-26). PyTorch's script warms up the same.
 */
const WARMUP = 20;
async function median(reps: number, fn: () => Promise<void>): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    await fn();
    ts.push(performance.now() - s);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

async function measure(backend: Backend, label: string): Promise<void> {
  const gen = new Generator(0);
  const model = new AVDiT({ backend, gen }, c);
  const optimizer = new AdamW(model.parameters({ trainable: true }), { lr: 1e-4, weightDecay: 0 });
  const d250 = createDiffusion('250');
  const dTrain = createDiffusion('');
  const denoise = () => scopeAsync(async () => {
    const xv = randn([1, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend, generator: gen });
    const xa = randn([1, c.audioChannels, c.audioTime, c.audioFreq], { backend, generator: gen });
    const out = A.noGrad(() => model.forwardAV(xv, xa, [d250.timestepMap[100]!], tensor([c.classes], [1], { dtype: 'i32', backend })));
    const step = A.noGrad(() => pSampleFromOutput(d250, out.audio, xa, [100], { generator: gen }));
    const stepV = A.noGrad(() => pSampleFromOutput(d250, framesToChannels(out.video), framesToChannels(xv), [100], { generator: gen }));
    await step.sample.toArray();
    await stepV.sample.toArray();
  });
  const train = () => scopeAsync(async () => {
    const batch = {
      video: randn([trainBatch, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend, generator: gen }),
      audio: randn([trainBatch, c.audioChannels, c.audioTime, c.audioFreq], { backend, generator: gen }),
      labels: tensor(Array(trainBatch).fill(c.classes), [trainBatch], { dtype: 'i32', backend }),
    };
    const { loss } = avditLoss(model, dTrain, batch, gen);
    A.backward(loss);
    optimizer.step();
    A.zeroGrad(optimizer.params);
    await loss.item();
  });
  const row: Record<string, unknown> = { backend: label, device: backend.device, preset, trainBatch, denoiseStepB1Ms: await median(30, denoise), trainStepMs: await median(30, train) };
  // WebGPU: dispatches per step (after the warm-up inside median, so no one-off work is counted).
  const ctx = (backend as { ctx?: { dispatches: number } }).ctx;
  if (ctx) {
    for (const [name, fn] of [['denoiseDispatches', denoise], ['trainDispatches', train]] as const) {
      const d0 = ctx.dispatches;
      await fn();
      row[name] = ctx.dispatches - d0;
    }
  }
  rows.push(row);
  console.log(JSON.stringify(row));
  model.dispose();
  optimizer.dispose();
}

const cores = pool.threads;
pool.setThreads(1);
await measure(cpuBackend, 'cpu, 1 thread');
if (cores > 1) {
  pool.setThreads(cores);
  await measure(cpuBackend, `cpu, ${cores} threads`);
}
if (!argv.includes('--no-webgpu')) await measure(await useBackend('webgpu'), 'webgpu');
let torch: unknown = null;
if (!argv.includes('--no-torch') && preset === 'tiny' && trainBatch === 2) {
  const py = process.env.PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(py, [new URL('./torch_tiny.py', import.meta.url).pathname], { encoding: 'utf8' });
  if (r.status === 0) torch = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  else console.log(`torch: failed (${r.stderr.split('\n').slice(-3).join(' ')})`);
  console.log('torch (1 thread):', JSON.stringify(torch));
}
const t = torch as { denoiseStepB1Ms: number; trainStepB2Ms: number } | null;
if (t) for (const r of rows) console.log(`${r.backend}: denoise ${((r.denoiseStepB1Ms as number) / t.denoiseStepB1Ms).toFixed(2)}× torch, train ${((r.trainStepMs as number) / t.trainStepB2Ms).toFixed(2)}× torch`);
writeResult(`${preset}-steps`, { rows, torch });
await closeBackends();
