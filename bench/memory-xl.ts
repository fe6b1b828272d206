/**
 * Peak GPU memory of AV-DiT steps computed without a GPU: the model runs on the memory-accounting
 * backend (engine/meta/memory-backend.ts: every op makes outputs of the right sizes, no data), which
 * counts bytes in use as the WebGPU buffer pool would (size classes included). The same steps and
 * the same scopes as bench/gpu-xl.ts, so its figures can be set beside that script's peakInUseGiB
 * measured on a GPU.
 *
 *   node --import tsx bench/memory-xl.ts [--preset XL] [--old-classes] [--quarantine MB]
 * --old-classes: the pool's previous size classes (2^k and 1.5·2^k), to see what the finer
 * classes save. --quarantine MB: model freed buffers waiting for a submit (every 64 dispatches, or
 * once MB wait; `inf`: only every 64, as before the context submitted early). Writes
 * $OUT/memory-xl.json (or bench/results/).
 */
import { createMemoryBackend } from '../engine/meta/memory-backend.ts';
import { Generator } from '../engine/rng.ts';
import { sizeClass } from '../engine/webgpu/pool.ts';
import { AVDiT } from '../model/avdit.ts';
import { makeConfig } from '../model/config.ts';
import { writeResult } from './results.ts';
import { modelSteps } from './step-inputs.ts';

const argv = process.argv.slice(2);
const preset = argv.includes('--preset') ? argv[argv.indexOf('--preset') + 1]! : 'XL';
const oldClasses = argv.includes('--old-classes');

/** The pool's size classes before 2026-11-26: 2^k or 1.5·2^k. */
function oldSizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  return bytes <= (p / 4) * 3 ? (p / 4) * 3 : p;
}

const q = argv.includes('--quarantine') ? argv[argv.indexOf('--quarantine') + 1]! : null;
const quarantine = q === null ? undefined : { batch: 64, flushBytes: q === 'inf' ? Infinity : Number(q) * 2 ** 20 };
const backend = createMemoryBackend(oldClasses ? oldSizeClass : sizeClass, quarantine);
const config = makeConfig(preset);
const gen = new Generator(0);
const model = new AVDiT({ backend, gen }, config);
const gib = (b: number): number => Number((b / 2 ** 30).toFixed(4));


const rows: Record<string, unknown>[] = [];
async function measure(what: string, fn: () => Promise<void>): Promise<void> {
  // Twice, as gpu-xl.ts reports a step after a warm-up: the optimizer state exists from the first.
  await fn();
  backend.resetPeak();
  const before = backend.memory().liveBytes;
  await fn();
  const row = { what, peakGiB: gib(backend.memory().peakBytes), heldBeforeGiB: gib(before) };
  rows.push(row);
  console.log(JSON.stringify(row));
}

const { forward, trainStep } = modelSteps(model, config, backend, gen);

console.log(`preset ${preset}, size classes: ${oldClasses ? 'old (2^k, 1.5·2^k)' : 'quarter octaves'}; parameters ${JSON.stringify(model.count())}`);
await measure('forward b1', forward(1));
await measure('train step b2, no checkpointing', trainStep(2, false));
await measure('train step b2, checkpointing', trainStep(2, true));
await measure('denoising step b8 (forward)', forward(8));
await measure('train step b16, checkpointing', trainStep(16, true));
writeResult(`memory-xl${preset === 'XL' ? '' : `-${preset}`}${oldClasses ? '-old-classes' : ''}${q === null ? '' : `-quarantine-${q}`}`, { preset, oldClasses, quarantine: q, rows });
