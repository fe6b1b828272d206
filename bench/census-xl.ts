/**
 * What an AV-DiT step asks of the backend, computed without a GPU: the model runs on the
 * memory-accounting backend (engine/meta/memory-backend.ts) wrapped in a census that counts, per
 * backend op (and its variant: the unary/binary/reduce op, the matmul's transposes), the calls,
 * the bytes of the storages it reads and writes, and the matmul FLOPs. A call is about one
 * dispatch (attention's backward and a few others are two or three), so this says where a step's
 * dispatches and memory traffic go before a GPU is at hand, and what a fusion would save.
 *
 *   node --import tsx bench/census-xl.ts [--preset XL] [--top 25] [--paths gpu|cpu]
 *
 * --paths gpu (the default) takes the paths the model takes on a hardware GPU (Backend.hardwareGpu:
 * the composed attention for long sequences, model/layers/attention.ts attentionPath); cpu those of
 * the CPU backend and software adapters (the fused attention everywhere).
 *
 * Traffic is a lower bound of what the kernels move (each input read once, each output written
 * once); "ms at 3.6 TB/s" prices it at the element-wise kernels' measured H200 rate (run 8: 83–98%
 * of 4018 GB/s). Writes $OUT/census-xl.json (or bench/results/).
 */
import { addCensus, type Tally } from '../engine/meta/census.ts';
import { createMemoryBackend } from '../engine/meta/memory-backend.ts';
import { Generator } from '../engine/rng.ts';
import { AVDiT } from '../model/avdit.ts';
import { makeConfig } from '../model/config.ts';
import { writeResult } from './results.ts';
import { modelSteps } from './step-inputs.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : dflt);
const preset = opt('--preset', 'XL');
const top = Number(opt('--top', '25'));
const paths = opt('--paths', 'gpu');
if (paths !== 'gpu' && paths !== 'cpu') throw new Error(`--paths ${paths}: expected gpu or cpu`);

const tallies = new Map<string, Tally>();
const backend = addCensus(Object.assign(createMemoryBackend(), { hardwareGpu: paths === 'gpu' }), tallies);
const config = makeConfig(preset);
const gen = new Generator(0);
const model = new AVDiT({ backend, gen }, config);

const rows: Record<string, unknown>[] = [];
async function census(what: string, fn: () => Promise<void>): Promise<void> {
  await fn(); // once so the optimizer state exists, then counted
  tallies.clear();
  await fn();
  const list = [...tallies.entries()].map(([op, t]) => ({ op, ...t })).sort((a, b) => b.bytes - a.bytes);
  const calls = list.reduce((n, t) => n + t.calls, 0);
  const bytes = list.reduce((n, t) => n + t.bytes, 0);
  const flops = list.reduce((n, t) => n + t.flops, 0);
  console.log(`\n${what}: ${calls} backend calls, ${(bytes / 1e9).toFixed(1)} GB read + written, ${(flops / 1e12).toFixed(1)} TFLOP of matmul`);
  console.log(`${'op'.padEnd(34)} ${'calls'.padStart(6)} ${'GB'.padStart(8)} ${'ms at 3.6 TB/s'.padStart(15)} ${'TFLOP'.padStart(7)}`);
  for (const t of list.slice(0, top)) {
    console.log(`${t.op.padEnd(34)} ${String(t.calls).padStart(6)} ${(t.bytes / 1e9).toFixed(2).padStart(8)} ${(t.bytes / 3.6e9).toFixed(1).padStart(15)} ${t.flops ? (t.flops / 1e12).toFixed(2).padStart(7) : ''}`);
  }
  if (list.length > top) console.log(`(${list.length - top} more)`);
  rows.push({ what, calls, bytes, flops, ops: list });
}

const { forward, trainStep } = modelSteps(model, config, backend, gen);

await census('train step b2, checkpointing', trainStep(2, true));
await census('denoising step b8 (forward, LoRA unmerged)', forward(8));
const unmerge = model.mergeLoRA(); // as sampling runs the model (AVDiT.mergeLoRA)
await census('denoising step b8 (forward, LoRA merged as sampling runs it)', forward(8));
unmerge();
writeResult(`census-xl${preset === 'XL' ? '' : `-${preset}`}${paths === 'cpu' ? '-cpu-paths' : ''}`, { preset, paths, rows });
