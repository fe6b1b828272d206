/**
 * AV-DiT end to end on the GPU: XL forward at batch 1 (16 frames), training steps (forward +
 * backward + AdamW on the trainable parameters) at batch 2 with and without activation
 * checkpointing and at batch 16 with it (and with as few blocks checkpointed as fit the card's memory,
 * `--checkpoint-blocks auto`), and one denoising step at batch 8 (→ samples/s for 250
 * DDPM steps; with the LoRAs merged, as sampling runs it, and once without). Time (median of the
 * timed runs, wall clock around read-back) and the backend's allocated bytes (the pool never
 * shrinks, so this is the peak).
 *
 *   node --import tsx bench/gpu-xl.ts [--quick] [--preset XL] [--budget SECONDS] [--mixed] [--profile] [--backend cpu]
 * --ab: only the denoising step, with each option the GPU script weighs for the precision on and off (see AB_OPTIONS).
 * --profile: first, one batch-2 training step with checkpointing and one denoising step at batch 8
 * under the kernel profiler (engine/webgpu/profiler.ts): GPU time per kernel, printed and kept in the JSON.
 * Writes $OUT/gpu-xl.json (or bench/results/).
 */
import { useBackend, closeBackends } from '../engine/registry.ts';
import { Generator } from '../engine/rng.ts';
import { AVDiT } from '../model/avdit.ts';
import { makeConfig } from '../model/config.ts';
import { formatProfile, type KernelTime } from '../engine/webgpu/profiler.ts';
import { checkpointBlocksThatFit } from '../cli/memory-fits.ts';
import { writeResult } from './results.ts';
import { modelSteps } from './step-inputs.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const preset = argv.includes('--preset') ? argv[argv.indexOf('--preset') + 1]! : quick ? 'tiny' : 'XL';
const budget = Number(argv.includes('--budget') ? argv[argv.indexOf('--budget') + 1] : 240) * 1000;
const t0 = performance.now();
const rows: Record<string, unknown>[] = [];
const log = (r: Record<string, unknown>) => {
  rows.push(r);
  console.log(JSON.stringify(r));
};

const backendName = argv.includes('--backend') ? argv[argv.indexOf('--backend') + 1]! : 'webgpu';
const backend = await useBackend(backendName as 'webgpu' | 'cpu' | 'auto', (m) => console.log(m));
const precision = argv.includes('--mixed') ? 'mixed' : 'f32';
if (precision === 'mixed') backend.setPrecision('mixed');
const config = makeConfig(preset);
const gen = new Generator(0);
let t = performance.now();
const model = new AVDiT({ backend, gen }, config);
await backend.sync();
log({ what: 'build', preset, precision, seconds: (performance.now() - t) / 1000, params: model.count() });
const pool = (backend as unknown as { ctx?: { pool: { trim(): number; resetPeak(): void; peakInUseBytes: number } } }).ctx?.pool;
const gib = () => backend.memory().pooledBytes / 2 ** 30;
const peakGiB = () => (pool ? pool.peakInUseBytes / 2 ** 30 : NaN);


async function timed(label: string, reps: number, fn: () => Promise<void>, extra: Record<string, unknown> = {}): Promise<void> {
  if (performance.now() - t0 > budget) {
    log({ what: label, skipped: 'time budget spent' });
    return;
  }
  try {
    // Each measurement starts from an empty pool, so its peak is its own.
    await backend.sync();
    pool?.trim();
    pool?.resetPeak();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const s = performance.now();
      await fn();
      times.push((performance.now() - s) / 1000);
      if (performance.now() - t0 > budget) break;
    }
    // The first run of a shape compiles pipelines and grows the pool: leave it out when there are more.
    const warm = times.length > 1 ? times.slice(1) : times;
    const sorted = [...warm].sort((a, b) => a - b);
    log({ what: label, seconds: sorted[Math.floor((sorted.length - 1) / 2)], all: times, peakInUseGiB: peakGiB(), allocatedGiB: gib(), ...extra });
  } catch (e) {
    log({ what: label, error: String((e as Error).message).slice(0, 400) });
  }
}

const { forward, trainStep } = modelSteps(model, config, backend, gen);

/** GPU time per kernel of one run of `fn` (after one unprofiled run that compiles and grows the pool). */
async function profile(label: string, fn: () => Promise<void>): Promise<void> {
  const ctx = (backend as unknown as { ctx?: { startProfile(): void; stopProfile(): Promise<KernelTime[]> } }).ctx;
  try {
    if (!ctx) throw new Error(`the ${backend.name} backend has no kernel profiler`);
    await fn();
    ctx.startProfile();
    const s = performance.now();
    await fn();
    const kernels = await ctx.stopProfile();
    console.log(`profile of one ${label} (${((performance.now() - s) / 1000).toFixed(2)} s with a pass per dispatch):`);
    console.log(formatProfile(kernels, 40));
    log({ what: `profile: ${label}`, kernels: kernels.map((k) => ({ ...k, ms: Number(k.ms.toFixed(3)) })) });
  } catch (e) {
    log({ what: `profile: ${label}`, error: String((e as Error).message).slice(0, 400) });
  }
}

/**
 * --ab: only the denoising step at batch 8 (LoRA merged), timed with each of the options a GPU
 * session weighs for this precision turned on and off in turn, the others as the environment has
 * them (the options are read at each dispatch or layer call; each form compiles its own pipelines
 * in its untimed first run): what each is worth inside a model step, not only in a kernel
 * benchmark. Both precisions weigh the composed attention (matmul + softmax + matmul) for the
 * spatial and fusion attention (`composed:64`; the temporal adapter's 16 frames stay fused), which
 * with the x3 matmul outran the fused f32 kernels at those shapes in run 11.
 */
const AB_OPTIONS: Record<string, [on: string, off: string]> = precision === 'mixed'
  ? { AVDIT_ATTENTION: ['composed:64', 'fused'], AVDIT_MIXED_DB: ['1', '0'], AVDIT_MATMUL_DIRECT: ['v4:128x128x64:2x4:s1:gb:fs', 'off'] }
  : {
    AVDIT_MATMUL_V2_ALT: ['256x128x16:8x8', 'off'], AVDIT_MATMUL_WEIGHT_T: ['1', '0'], AVDIT_ATTENTION_WHOLE_TILES: ['1', '0'],
    AVDIT_MATMUL_F32X3: ['1', '0'], AVDIT_ATTENTION_F32X3: ['1', '0'], AVDIT_ATTENTION: ['composed:64', 'fused'],
  };
if (argv.includes('--ab')) {
  const unmergeAb = model.mergeLoRA();
  await timed('denoising step b8, as the environment has it', 3, forward(8));
  for (const [name, values] of Object.entries(AB_OPTIONS)) {
    const had = process.env[name];
    for (const [i, value] of values.entries()) {
      process.env[name] = value;
      await timed(`denoising step b8, ${name}=${value}`, 3, forward(8), { option: name, on: i === 0 });
    }
    if (had === undefined) delete process.env[name];
    else process.env[name] = had;
  }
  unmergeAb();
  writeResult(`gpu-xl-ab${precision === 'mixed' ? '-mixed' : ''}${quick ? '-quick' : ''}`, { device: backend.device, preset, precision, rows });
  await closeBackends();
  process.exit(0);
}

if (argv.includes('--profile')) {
  await profile('training step, batch 2, checkpointing', trainStep(2, true));
  // The LoRAs folded in once before, as sampling does (so the merge's own products are not profiled).
  const unmergeProfiled = model.mergeLoRA();
  await profile('denoising step, batch 8 (LoRA merged)', forward(8));
  unmergeProfiled();
}
await timed('forward b1 (warm-up)', 1, forward(1));
await timed('forward b1', 3, forward(1));
await timed('train step b2 (warm-up)', 1, trainStep(2, false));
await timed('train step b2, no checkpointing', 3, trainStep(2, false));
await timed('train step b2, checkpointing', 3, trainStep(2, true));
// As sampling runs it: the LoRAs folded in once (not timed), then every step.
const unmerge = model.mergeLoRA();
await timed('denoising step b8 (forward)', 3, forward(8), { note: 'LoRA merged, as sampling runs it; samples/s for 250 DDPM steps = 8 / (250 × seconds)' });
unmerge();
await timed('train step b16, checkpointing', 2, trainStep(16, true));
// As `avdit train --checkpoint-blocks auto` would run it on this card: the fewest blocks checkpointed
// that let the step fit the memory budget, the others keeping their activations.
const fewest = await checkpointBlocksThatFit(backend, 'avdit', config, 16);
if (fewest < config.depth) await timed(`train step b16, first ${fewest} of ${config.depth} blocks checkpointed`, 2, trainStep(16, fewest), { checkpointedBlocks: fewest });
await timed('denoising step b8, LoRA unmerged', 2, forward(8)); // last: the figures above matter more within the budget
const sampleRow = rows.find((r) => r.what === 'denoising step b8 (forward)' && typeof r.seconds === 'number');
if (sampleRow) log({ what: 'sampling throughput (250 DDPM steps, batch 8)', samplesPerSecond: 8 / (250 * (sampleRow.seconds as number)) });
const direct = precision === 'mixed' ? process.env.AVDIT_MATMUL_DIRECT || null : null; // weights' f16 copies read directly (kernels/matmul.ts directVariant)
writeResult(`gpu-xl${backendName === 'cpu' ? '-cpu' : ''}${precision === 'mixed' ? '-mixed' : ''}${direct ? '-direct' : ''}${quick ? '-quick' : ''}`, { device: backend.device, preset, precision, direct, rows });
await closeBackends();
