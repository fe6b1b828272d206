/**
 * The training loop shared by `avdit pretrain` (the DiT backbone) and `avdit train` (AV-DiT):
 * per step, a fresh random stream, the loss, backward, optional gradient clipping, AdamW, EMA,
 * a JSONL log line and the progress bar; atomic checkpoints every N steps and at the end;
 * `resume` continues bit for bit; a non-finite loss stops with the last good checkpoint kept, and
 * no checkpoint is written whose weights, AdamW moments or EMA hold NaN or ±Inf (a finite loss can
 * still give an overflowing update); Ctrl-C saves and exits cleanly.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as A from '../autograd/index.ts';
import { Generator } from '../engine/rng.ts';
import { scope, scopeAsync } from '../engine/scope.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { Module } from '../model/module.ts';
import { plotLines } from '../data/image/plot.ts';
import { writePng } from '../data/image/png.ts';
import type { AdamW } from './adamw.ts';
import type { EMA } from './ema.ts';
import { watchInterrupt } from './interrupt.ts';
import { Progress } from './progress.ts';
import { CKPT, LOSS_PNG, logPath } from './run-dir.ts';
import { loadTrainState, saveTrainState, type RunMeta } from './train-state.ts';
import type { LossOut } from './objectives.ts';

/** Training diverged: a NaN/Inf loss or gradient norm, or NaN/Inf weights, moments or EMA at a checkpoint. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

/** The random stream of a step: Philox(seed) from counter step·2³² (disjoint for 2²¹ steps). */
export const stepGenerator = (seed: number, step: number): Generator => new Generator(seed, step * 2 ** 32);

export interface LoopSpec {
  dir: string;
  model: Module;
  optimizer: AdamW;
  ema: EMA | null;
  /** Run until this step (the step count of the whole run, resumed or not). */
  steps: number;
  ckptEvery: number;
  gradClip?: number;
  meta: Omit<RunMeta, 'step'>;
  /** Build and evaluate the loss of `step` from its generator. */
  lossFn: (step: number, gen: Generator) => LossOut;
  resume?: boolean;
  label?: string;
  /** Called after each step with the logged record. */
  onStep?: (rec: StepRecord) => void;
  /** Stop after this step without finishing (used by tests to simulate an interruption). */
  stopAfter?: number;
  /** Stop (with a checkpoint) once performance.now() passes this: a time budget. */
  deadline?: number;
}

export interface StepRecord {
  step: number;
  loss: number;
  gradNorm: number;
  seconds: number;
  [part: string]: number;
}

/** ‖g‖₂ over all gradients; if above `clip`, every gradient is scaled by clip/‖g‖ (no read-back needed). */
function clipGradients(params: readonly Tensor[], clip: number | undefined): Tensor {
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  const sq = grads.map((g) => A.sum(A.square(g)));
  const norm = A.sqrt(sq.reduce((acc, s) => A.add(acc, s)));
  if (clip !== undefined) {
    const factor = A.clamp(A.div(clip, A.add(norm, 1e-6)), 0, 1);
    for (const p of params) {
      if (!p.grad) continue;
      const scaled = A.mul(p.grad, factor).keep();
      p.grad.dispose();
      p.grad = scaled;
    }
  }
  return norm;
}

/**
 * Per group, whether every element of its tensors is finite, with one read-back for all: per
 * tensor Σ x·2⁻⁶⁴, summed. NaN and ±Inf pass through the scaling and the sums (+Inf and −Inf give
 * NaN), while finite f32 values (|x| < 2¹²⁸) scaled by 2⁻⁶⁴ sum without overflow for up to 2⁶⁴
 * elements; no comparison or max is used, which GPU compilers may assume NaN-free.
 */
export async function finiteGroups(groups: readonly (readonly Tensor[])[]): Promise<boolean[]> {
  const full = groups.filter((ts) => ts.length > 0);
  if (!full.length) return groups.map(() => true);
  const sums = await scopeAsync(async () => {
    // Each tensor's temporaries are freed as soon as its sum is queued: the peak is the largest tensor's.
    const l1 = (t: Tensor) => scope(() => A.sum(A.affine(t, 2 ** -64, 0)));
    const parts = A.noGrad(() => full.map((ts) => A.reshape(ts.map(l1).reduce((acc, x) => A.add(acc, x)), [1])));
    return A.noGrad(() => A.concat(parts)).toArray();
  });
  let i = 0;
  return groups.map((ts) => (ts.length > 0 ? Number.isFinite(sums[i++]!) : true));
}

export async function trainLoop(spec: LoopSpec): Promise<{ lastStep: number; records: StepRecord[]; interrupted: boolean }> {
  const { dir, model, optimizer, ema } = spec;
  const ckpt = join(dir, CKPT);
  let step = 0;
  if (spec.resume) {
    if (!existsSync(ckpt)) throw new Error(`--resume: no ${CKPT} in ${dir}`);
    const meta = await loadTrainState(ckpt, model, optimizer, ema);
    if (meta.seed !== spec.meta.seed) throw new Error(`--resume: the run used seed ${meta.seed}, not ${spec.meta.seed}`);
    step = meta.step;
    truncateLog(logPath(dir), step);
    process.stderr.write(`resuming ${dir} from step ${step}\n`);
  } else {
    writeFileSync(logPath(dir), '');
  }
  const interrupt = watchInterrupt('saving a checkpoint after this step');
  const records: StepRecord[] = [];
  let saved = spec.resume ? step : -1;
  const lastCheckpoint = () =>
    saved >= 0
      ? `The last checkpoint, ${ckpt}, holds step ${saved} (the weights after that step's update, when the loss was still finite: if they had already diverged, resuming from it fails again).`
      : 'No checkpoint was written yet.';
  const save = async (s: number) => {
    // Never replace a good checkpoint with a diverged state (one pass over the trainable tensors).
    const st = optimizer.stateDict();
    const groups = [optimizer.params, [...st.m, ...st.v].filter((t): t is Tensor => t !== null), ema?.shadow ?? []];
    const names = ['the weights', 'the AdamW moments', 'the EMA'];
    const bad = (await finiteGroups(groups)).flatMap((ok, i) => (ok ? [] : [names[i]!]));
    if (bad.length) {
      throw new NonFiniteLossError(
        `${bad.join(' and ')} hold NaN or infinite values after step ${s} (its loss, ${records[records.length - 1]?.loss}, was finite: the update overflowed); stopped without saving them. ` +
          lastCheckpoint() + ' Try a lower --lr or --grad-clip, or start a new run.',
      );
    }
    await saveTrainState(ckpt, model, optimizer, ema, { ...spec.meta, step: s });
    saved = s;
  };
  const progress = new Progress(spec.label ?? 'train', spec.steps, step, process.stderr, spec.deadline);
  const started = performance.now();
  try {
    while (step < spec.steps && !interrupt.requested) {
      const s = step + 1;
      const t0 = performance.now();
      const values = await scopeAsync(async () => {
        const gen = stepGenerator(spec.meta.seed, s);
        const { loss, parts } = spec.lossFn(s, gen);
        A.backward(loss);
        const norm = A.noGrad(() => clipGradients(optimizer.params, spec.gradClip));
        optimizer.step();
        ema?.update();
        A.zeroGrad(optimizer.params);
        // One read-back per step for every logged scalar (each read waits for the GPU).
        const names = ['loss', 'gradNorm', ...Object.keys(parts)];
        const scalars = A.noGrad(() => A.concat([loss, norm, ...Object.values(parts)].map((t) => A.reshape(t, [1]))));
        const vals = await scalars.toArray();
        return Object.fromEntries(names.map((k, i) => [k, vals[i]!])) as Record<string, number>;
      });
      if (!Number.isFinite(values.loss!) || !Number.isFinite(values.gradNorm!)) {
        throw new NonFiniteLossError(`loss is ${values.loss} at step ${s} (gradient norm ${values.gradNorm}); stopped. ${lastCheckpoint()} Try a lower --lr or --grad-clip, or start a new run.`);
      }
      step = s;
      const rec = { step, ...values, seconds: (performance.now() - t0) / 1000 } as StepRecord;
      records.push(rec);
      appendFileSync(logPath(dir), JSON.stringify(rec) + '\n');
      spec.onStep?.(rec);
      progress.update(step, { loss: rec.loss }, step === spec.steps);
      // Let the event loop run once a step: on the CPU backend every await above resolves at once,
      // and without a turn of the loop the SIGINT handler would never run (Ctrl-C was ignored).
      await new Promise((resolve) => setImmediate(resolve));
      const outOfTime = spec.deadline !== undefined && performance.now() > spec.deadline;
      if (step % spec.ckptEvery === 0 || step === spec.steps || interrupt.requested || outOfTime) await save(step);
      if (outOfTime || (spec.stopAfter !== undefined && step >= spec.stopAfter)) break;
    }
  } catch (e) {
    // A diverged run still gets its loss curve (of the steps logged, all with a finite loss).
    if (e instanceof NonFiniteLossError) writeLossCurve(dir);
    throw e;
  } finally {
    interrupt.stop();
    progress.done();
  }
  const interrupted = interrupt.requested;
  if (interrupted) process.stderr.write(`saved ${ckpt} at step ${step}; continue with --resume\n`);
  writeLossCurve(dir);
  const secs = (performance.now() - started) / 1000;
  if (records.length) process.stderr.write(`${records.length} step${records.length === 1 ? '' : 's'} in ${secs.toFixed(1)} s (${(records.length / secs).toFixed(2)} steps/s)\n`);
  return { lastStep: step, records, interrupted };
}

/**
 * The records of log.jsonl. A line that does not parse (a run killed while appending leaves a torn
 * last line) is dropped with a notice naming the file and line.
 */
export function readLog(path: string): StepRecord[] {
  const recs: StepRecord[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((l, i) => {
    if (!l) return;
    try {
      recs.push(JSON.parse(l) as StepRecord);
    } catch {
      process.stderr.write(`${path}: line ${i + 1} is not a log record (cut short?); dropped\n`);
    }
  });
  return recs;
}

/** Keep the log lines of steps ≤ `step` (a resumed run rewrites what came after its checkpoint). */
function truncateLog(path: string, step: number): void {
  if (!existsSync(path)) return writeFileSync(path, '');
  const kept = readLog(path).filter((r) => r.step <= step);
  writeFileSync(path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** loss.png from log.jsonl. */
export function writeLossCurve(dir: string): void {
  const path = logPath(dir);
  if (!existsSync(path)) return;
  const recs = readLog(path);
  if (recs.length < 2) return;
  writePng(join(dir, LOSS_PNG), plotLines([{ x: recs.map((r) => r.step), y: recs.map((r) => r.loss) }], { logY: recs.every((r) => r.loss > 0) }));
}

