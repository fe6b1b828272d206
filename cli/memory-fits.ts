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
  const need = inputs > budget ? inputs : await trainStepPeakBytes(kind, c, batch, { ...opts, precision: backend.precision, device: backend }, gpu);
  if (need > budget) {
    const hint = opts.checkpoint !== true && (opts.checkpoint || 0) < c.depth ? `; ${opts.checkpoint ? 'checkpointing more blocks' : '--checkpoint (activation checkpointing)'} needs much less` : '';
    throw new UsageError(`--batch ${batch}: one training step would hold at least ${gib(need)}${inputs > budget ? ' of inputs alone' : ' (computed on the memory-accounting backend)'}, more than ${where}${hint}`);
  }
}

/**
 * How much more than the computed peak a training step is taken to hold when the checkpointed blocks
 * are chosen for the user (XL training on the H200: 29.1 GiB measured against 26.3 computed).
 */
export const TRAIN_MARGIN = 1.2;

/**
 * `--checkpoint-blocks auto`: the fewest blocks to checkpoint (the first n, model/checkpointing.ts)
 * for a training step at `batch` to fit the backend's memory with TRAIN_MARGIN: keeping a block's
 * activations saves its recomputation. None if that fits; else, as the peak falls with every block
 * checkpointed (the backward frees a block's saved activations as it leaves it: the demo model at
 * batch 8, 49.2, 43.2, 37.2, 35.0 and 35.0 MiB with 0 … 4 blocks), a bisection over 1 … depth (about
 * five peaks computed on the memory-accounting backend). With no budget known, none; when even every block checkpointed
 * does not fit, all of them (checkBatchFits then says why).
 */
export async function checkpointBlocksThatFit(
  backend: Backend, kind: 'avdit' | 'dit', c: AVDiTConfig, batch: number, opts: AVDiTOptions & { minSnrGamma?: number } = {},
): Promise<number> {
  const { budget, gpu } = budgetOf(backend);
  if (!Number.isFinite(budget)) return 0;
  if (batchInputBytes(kind, c, batch) > budget) return c.depth;
  const fits = async (n: number) => TRAIN_MARGIN * (await trainStepPeakBytes(kind, c, batch, { ...opts, checkpoint: n, precision: backend.precision, device: backend }, gpu)) <= budget;
  if (await fits(0)) return 0;
  let [lo, hi] = [1, c.depth]; // the answer lies in [lo, hi]
  if (!(await fits(hi))) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (await fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * How much more than the computed peak a run is taken to hold when the batch is chosen for the user:
 * the computation leaves out some of the pool's traffic (measured on lavapipe, sampling the tiny and
 * demo models: 1.0–1.3× the figure with the quarantine modelled; XL training on the H200: 1.1×).
 */
export const SAMPLE_MARGIN = 1.5;

/**
 * Check a sampling run against memory before the model is loaded: its n clips gathered on the host
 * (refused when they cannot fit), and a batch's sampling on the backend (the model, the merged LoRA
 * copies, x_t and one denoising step; guidance doubles the rows), computed on the memory-accounting
 * backend. A batch asked for (`chosen`) is refused only when even the computed peak, a lower bound,
 * is over the budget, naming the largest batch it allows. The default batch is kept when the peak
 * with the pool's quarantine modelled, times SAMPLE_MARGIN, fits; else the largest batch that does is
 * used, with a notice. Searches start where the line through the exact peaks at batches 1 and 2
 * crosses the budget: the exact peak is a maximum of sums that each grow linearly with the batch, so
 * it never lies under that line, and no larger batch can fit.
 */
export async function sampleBatchThatFits(backend: Backend, c: AVDiTConfig, n: number, batch: number, o: { guided: boolean; fusion?: FusionMode; chosen: boolean }): Promise<number> {
  const host = totalmem();
  const clips = n * batchInputBytes('avdit', c, 1);
  if (clips > host) throw new UsageError(`--n ${n}: the clips alone would take ${gib(clips)} of this machine's ${gib(host)} of memory; sample fewer at a time (another --seed gives other clips)`);
  const B = Math.min(batch, n);
  const { budget, where, gpu } = budgetOf(backend);
  if (!Number.isFinite(budget)) return B;
  const seen = new Map<string, Promise<number>>(); // each figure computed once (XL: ~0.1 s each)
  const peak = (b: number, pool: boolean | 'quarantine'): Promise<number> => {
    const key = `${b}/${pool}`;
    if (!seen.has(key)) seen.set(key, samplePeakBytes(c, b, { ...o, precision: backend.precision, device: backend }, pool));
    return seen.get(key)!;
  };
  const lower = (b: number) => peak(b, gpu);
  const likely = async (b: number) => SAMPLE_MARGIN * (await peak(b, gpu ? 'quarantine' : false));
  const ok = async (b: number) => (o.chosen ? await lower(b) : await likely(b)) <= budget;
  if (await ok(B)) return B;
  const [one, two] = [await peak(1, false), await peak(2, false)];
  let fits = one > budget ? 0 : Math.min(B - 1, two > one ? Math.floor((budget - one) / (two - one)) + 1 : B - 1);
  while (fits >= 1 && !(await ok(fits))) fits -= Math.max(1, Math.floor(fits / 8));
  const need = await lower(B);
  const why = `sampling would hold ${o.chosen || need > budget ? `at least ${gib(need)}` : `about ${gib(await likely(B))} with a margin`} (computed on the memory-accounting backend${o.guided ? ', guidance doubling the rows' : ''}), more than ${where}`;
  if (fits >= 1 && !o.chosen) {
    console.error(`--batch ${B} (the default): ${why}; sampling in batches of ${fits} instead`);
    return fits;
  }
  const hint = fits >= 1 ? `; at most --batch ${fits} could fit`
    : o.chosen ? `; even batch 1 does not fit (at least ${gib(await lower(1))})` : `; even batch 1 would not (about ${gib(await likely(1))} with a margin)`;
  throw new UsageError(`--batch ${B}: ${why}${hint}`);
}
