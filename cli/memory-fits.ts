/**
 * Refusing work that cannot fit in memory before it starts: a training batch (train, pretrain) and
 * a sampling run (sample), each against the memory the backend has: on the CPU backend this
 * machine's memory (such work used to grow until the system killed the process), on WebGPU the
 * buffer pool's budget (the GPU's memory by nvidia-smi, or AVDIT_GPU_MEMORY_GB; it used to fail at
 * the first step). Peaks are computed on the memory-accounting backend (train/step-memory.ts, about
 * a second even for XL) and are lower bounds of what the work holds (XL training on the H200: 26.3
 * computed against 29.1 GiB measured), so a refusal is never wrong; work just under the budget may
 * still fail at its first step.
 */
import { totalmem } from 'node:os';
import type { Backend } from '../engine/backend.ts';
import type { AVDiTOptions, FusionMode } from '../model/avdit.ts';
import type { AVDiTConfig } from '../model/config.ts';
import { batchInputBytes, samplePeakBytes, trainStepPeakBytes } from '../train/step-memory.ts';
import { UsageError } from './args.ts';

/** GiB with one decimal, or two significant digits under 1 GiB (a 20 MiB budget reads 0.020 GiB, not 0.0). */
const gib = (b: number): string => `${b >= 2 ** 30 ? (b / 2 ** 30).toFixed(1) : (b / 2 ** 30).toPrecision(2)} GiB`;

/** The bytes the backend may hold (Infinity: not known, nothing is checked) and how to name them. */
function budgetOf(backend: Backend): { budget: number; where: string; gpu: boolean } {
  const gpu = backend.name === 'webgpu';
  const budget = gpu ? (backend.memory().budgetBytes ?? Infinity) : backend.name === 'cpu' ? totalmem() : Infinity;
  return { budget, gpu, where: gpu ? `the GPU memory budget of ${gib(budget)} (AVDIT_GPU_MEMORY_GB sets it)` : `this machine's ${gib(budget)} of memory` };
}

/** Refuse a --batch whose training step cannot fit, before any data is made. */
export async function checkBatchFits(backend: Backend, kind: 'avdit' | 'dit', c: AVDiTConfig, batch: number, opts: AVDiTOptions & { minSnrGamma?: number } = {}): Promise<void> {
  const { budget, gpu, where } = budgetOf(backend);
  if (!Number.isFinite(budget)) return;
  const inputs = batchInputBytes(kind, c, batch);
  const need = inputs > budget ? inputs : await trainStepPeakBytes(kind, c, batch, opts, gpu);
  if (need > budget) {
    const hint = !opts.checkpoint ? '; --checkpoint (activation checkpointing) needs much less' : '';
    throw new UsageError(`--batch ${batch}: one training step would hold at least ${gib(need)}${inputs > budget ? ' of inputs alone' : ' (computed on the memory-accounting backend)'}, more than ${where}${hint}`);
  }
}

/**
 * Refuse a sampling run that cannot fit, before the model is loaded: its n clips gathered on the
 * host, and a batch's denoising step on the backend. The step's peak is computed at batches 1 and 2
 * with exact sizes and extended along that line: the peak is a maximum of sums that each grow
 * linearly with the batch (a convex function), so the line stays below it at larger batches and
 * the figure is a lower bound without running the big batch; the batch the line says could fit is
 * named in the refusal.
 */
export async function checkSampleFits(backend: Backend, c: AVDiTConfig, n: number, batch: number, o: { guided: boolean; fusion?: FusionMode }): Promise<void> {
  const host = totalmem();
  const clips = n * (batchInputBytes('avdit', c, 1));
  if (clips > host) throw new UsageError(`--n ${n}: the clips alone would take ${gib(clips)} of this machine's ${gib(host)} of memory; sample fewer at a time (another --seed gives other clips)`);
  const { budget, where } = budgetOf(backend);
  if (!Number.isFinite(budget)) return;
  const B = Math.min(batch, n);
  const [one, two] = [await samplePeakBytes(c, 1, o), await samplePeakBytes(c, 2, o)];
  const per = Math.max(0, two - one);
  const need = one + (B - 1) * per;
  if (need > budget) {
    const fits = per > 0 ? Math.floor((budget - one) / per) + 1 : 0;
    const hint = fits >= 1 ? `; at most --batch ${fits} could fit` : `; the model alone (batch 1) needs ${gib(one)}`;
    throw new UsageError(`--batch ${B}: sampling would hold at least ${gib(need)} (computed on the memory-accounting backend${o.guided ? ', guidance doubling the rows' : ''}), more than ${where}${hint}`);
  }
}
