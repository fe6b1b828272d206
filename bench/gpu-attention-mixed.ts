/**
 * The mixed-precision attention kernels alone (kernels/attention-sgmat.ts), for tuning them: at
 * each AV-DiT-XL shape (video spatial 256 tokens, audio spatial 160, temporal 16 with q/k dim 9,
 * fusion 416) and for each kernel (forward, dQ, dK/dV), every tile config that fits, with
 * the operands staged as vec4 (the default where the head dim allows), and for the preferred config
 * also staged one f32 at a time and with the next tile prefetched (mixedAttentionTuning), and every
 * forward config also in its one-pass form (lazy rescaling, `onePass`: its time and its difference
 * from the default), and every config of every kernel, where it fits, with double-buffered tiles
 * (`doubleBuffer`); then two
 * ablations of the default spatial kernels that say where the time goes: the MMAs removed (fragment loads and products), and the global loads removed (staging writes
 * constants). Ablated kernels compute garbage: only their times mean anything.
 *
 *   node --import tsx bench/gpu-attention-mixed.ts [--quick] [--iters N]
 * --quick: tiny shapes with the subgroup-matrix builtins emulated (lavapipe; checks the script).
 * GPU time from timestamp queries, median of the iterations; writes gpu-attention-mixed.json and the
 * fastest tiles per kernel and shape as mixed-tiles.json (the AVDIT_MIXED_TILES format, which
 * pickMixedTiles reads) to $OUT, else bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttentionShape } from '../kernels/attention.ts';
import { encodeRowDot } from '../kernels/attention-bwd.ts';
import { mixedAttentionOptions, mixedAttentionTuning, mixedDispatch, mixedTileBytes, mixedTileCandidates, tunedKey, type MixedKernel } from '../kernels/attention-sgmat.ts';
import type { Dispatch } from '../kernels/context.ts';
import { ablated, ATTENTION_ABLATIONS } from './ablations.ts';
import { GpuHarness } from './gpu-harness.ts';
import { type AttentionCase, XL_ATTENTION } from './attention-cases.ts';
import { writeResult } from './results.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const iters = Number(args[args.indexOf('--iters') + 1]) || (quick ? 2 : 7);
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const CASES: AttentionCase[] = quick ? [{ name: 'spatial', n: 2, l: 48, s: 48, dqk: 72, dv: 72 }] : Object.values(XL_ATTENTION);

const h = await GpuHarness.open();
if (quick) mixedAttentionTuning.emulate = true;
const opt = mixedAttentionOptions(h);
if (!opt) {
  console.error('gpu-attention-mixed: this device has no f16×f16→f32 16×16×16 subgroup matrices (try --quick for the emulation)');
  process.exit(1);
}
console.log(`device: ${h.adapterInfo.vendor} ${h.adapterInfo.architecture} ${h.adapterInfo.description}, iters ${iters}`);
const limit = h.limits.maxComputeWorkgroupStorageSize;

function randomBuffer(count: number, seed: number): GPUBuffer {
  const a = new Float32Array(count);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < count; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    a[i] = x / 2 ** 31 - 1;
  }
  return h.upload(a);
}

/**
 * Median ms per dispatch. Each timing covers REPS back-to-back dispatches in one pass: timed one
 * at a time with the GPU idle in between, the same kernel read 2–8× slower and swung from run to
 * run on the H200 (clocks dropping while idle, presumably).
 */
const REPS = quick ? 1 : 10;
async function median(d: Dispatch): Promise<number> {
  const batch = () => {
    for (let r = 0; r < REPS; r++) h.dispatch(d);
  };
  // Warm up for 100 ms: the first config timed after the inputs were made on the CPU (GPU idle
  // for seconds) read up to 4× slow with a single warm-up batch (run 8).
  const w0 = performance.now();
  do await h.time(batch);
  while (performance.now() - w0 < (quick ? 0 : 100));
  await h.checkErrors();
  const ms: number[] = [];
  for (let i = 0; i < iters; i++) ms.push((await h.time(batch)).ns / 1e6 / REPS);
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
}

/** Nominal FLOPs of each kernel's products (2 per multiply-add, the forward's second pass only). */
function flops(kind: MixedKernel, c: AttentionCase): number {
  const base = 2 * c.n * c.l * c.s;
  return kind === 'fwd' ? base * (c.dqk + c.dv) : kind === 'dq' ? base * (2 * c.dqk + c.dv) : base * (2 * c.dqk + 2 * c.dv);
}


const rows: Record<string, unknown>[] = [];
/** The fastest tiles per kernel and shape (AVDIT_MIXED_TILES format). */
const best: Record<string, string> = {};
/**
 * Per kernel, summed over cases, its fastest time over tile configs in each form: the default
 * (`single`: single-buffered, and for the forward two passes), one-pass (forward only), double-buffered.
 * A form that no config of some case ran sums to Infinity (then it cannot win).
 */
type Forms = { single: number; onePass: number; db: number };
const fastestForms: Record<MixedKernel, Forms> = {
  fwd: { single: 0, onePass: 0, db: 0 }, dq: { single: 0, onePass: Infinity, db: 0 }, dkdv: { single: 0, onePass: Infinity, db: 0 },
};
/** Whether a kernel's tile config fits the device with double-buffered tiles. */
const dbFits = (kind: MixedKernel, t: { bo: number; bt: number }, c: AttentionCase): boolean => {
  mixedAttentionTuning.doubleBuffer = { [kind]: true };
  try {
    return mixedTileBytes(kind, t, c.dqk, c.dv) <= limit;
  } finally {
    mixedAttentionTuning.doubleBuffer = {};
  }
};
for (const c of CASES) {
  const d: AttentionShape = { n: c.n, l: c.l, s: c.s, dqk: c.dqk, dv: c.dv, scale: 1 / Math.sqrt(c.dqk) };
  const q = randomBuffer(c.n * c.l * c.dqk, 1), k = randomBuffer(c.n * c.s * c.dqk, 2), v = randomBuffer(c.n * c.s * c.dv, 3);
  const dO = randomBuffer(c.n * c.l * c.dv, 4);
  const o = h.buffer(c.n * c.l * c.dv * 4), lse = h.buffer(c.n * c.l * 4), D = h.buffer(c.n * c.l * 4);
  const dq = h.buffer(c.n * c.l * c.dqk * 4), dk = h.buffer(c.n * c.s * c.dqk * 4), dv = h.buffer(c.n * c.s * c.dv * 4);
  const buffers: Record<MixedKernel, GPUBuffer[]> = { fwd: [q, k, v, o, lse], dq: [q, k, v, dO, lse, D, dq], dkdv: [q, k, v, dO, lse, D, dk, dv] };
  const outputs: Record<MixedKernel, GPUBuffer[]> = { fwd: [o], dq: [dq], dkdv: [dk, dv] };
  // The backward kernels read the forward's lse and D = rowsum(dO∘O).
  mixedAttentionTuning.tiles = {};
  h.dispatch(mixedDispatch(h, 'fwd', d, buffers.fwd, opt.emulate, opt.syntax));
  encodeRowDot(h, dO, o, D, d);
  await h.read(D, 1);

  for (const kind of ['fwd', 'dq', 'dkdv'] as MixedKernel[]) {
    const line: string[] = [];
    let fastest = Infinity;
    // This kernel's fastest time over its configs in each form.
    const kernelMin: Forms = { single: Infinity, onePass: Infinity, db: Infinity };
    // --quick (emulated, slow to compile) checks the script with one config per kernel.
    const cands = mixedTileCandidates(kind, kind === 'dkdv' ? c.s : c.l, c.dqk, c.dv, limit).slice(0, quick ? 1 : undefined);
    // Every config's dispatch first, then one pass that compiles them all, so that the timings
    // below follow each other with the GPU busy (a compile between two timings idles it).
    // 'onepass' (the forward's lazy-rescaling form, every tile config) computes the same o up to
    // rounding, not bit for bit: it is compared with the default separately.
    // 'db' (double-buffered tiles, where they fit) likewise.
    type Staging = 'vec4' | 'scalar' | 'prefetch' | 'onepass' | 'db';
    const configs = cands.map((t) => ({
      t,
      disp: Object.fromEntries(([
        ...(t === cands[0] ? ['vec4', 'scalar', 'prefetch'] : ['vec4']),
        ...(kind === 'fwd' ? ['onepass'] : []),
        ...(dbFits(kind, t, c) ? ['db'] : []),
      ] as Staging[]).map((staging) => {
        mixedAttentionTuning.tiles = { [kind]: t };
        mixedAttentionTuning.scalarStaging = staging === 'scalar';
        mixedAttentionTuning.prefetch = staging === 'prefetch';
        mixedAttentionTuning.onePass = staging === 'onepass';
        mixedAttentionTuning.doubleBuffer = staging === 'db' ? { [kind]: true } : {};
        return [staging, mixedDispatch(h, kind, d, buffers[kind], opt.emulate, opt.syntax)];
      })) as Partial<Record<Staging, Dispatch>>,
    }));
    mixedAttentionTuning.tiles = {};
    mixedAttentionTuning.scalarStaging = false;
    mixedAttentionTuning.prefetch = false;
    mixedAttentionTuning.onePass = false;
    mixedAttentionTuning.doubleBuffer = {};
    for (const { disp } of configs) for (const x of Object.values(disp)) h.dispatch(x!);
    await h.read(outputs[kind][0]!, 1);
    for (const { t, disp } of configs) {
      const got: Partial<Record<Staging, number>> = {};
      const results: Float32Array[][] = [];
      const variants: Partial<Record<'onepass' | 'db', Float32Array[]>> = {};
      for (const [staging, x] of Object.entries(disp) as [Staging, Dispatch][]) {
        got[staging] = await median(x);
        const out = await Promise.all(outputs[kind].map((b) => h.read(b)));
        if (staging === 'onepass' || staging === 'db') variants[staging] = out;
        else results.push(out);
      }
      // Staging changes how operands are read, not the arithmetic: the outputs must be identical.
      let diff = 0;
      for (const other of results.slice(1)) results[0]!.forEach((a, i) => a.forEach((x, j) => (diff = Math.max(diff, Math.abs(x - other[i]![j]!)))));
      // The one-pass and double-buffered forwards against the default, relative to o's scale.
      const relDiff = (alt: Float32Array[] | undefined): number | undefined => {
        if (!alt) return undefined;
        const ref = results[0]![0]!, got1 = alt[0]!;
        let worst = 0, scale = 1e-30;
        ref.forEach((x, j) => { worst = Math.max(worst, Math.abs(x - got1[j]!)); scale = Math.max(scale, Math.abs(x)); });
        return worst / scale;
      };
      const onePassDiff = relDiff(variants.onepass), dbDiff = relDiff(variants.db);
      const row = {
        case: c.name, kind, tiles: `o${t.bo}t${t.bt}`, vec4Ms: got.vec4, scalarMs: got.scalar, prefetchMs: got.prefetch, onePassMs: got.onepass, onePassRelDiff: onePassDiff,
        dbMs: got.db, dbRelDiff: dbDiff, tflops: flops(kind, c) / (got.vec4! * 1e9), stagingsMaxDiff: diff,
      };
      rows.push(row);
      kernelMin.single = Math.min(kernelMin.single, got.vec4!);
      // (A one-pass form that disagrees with the default beyond rounding cannot win: its first version was wrong on the H200.)
      if (got.onepass !== undefined && onePassDiff! < 1e-2) kernelMin.onePass = Math.min(kernelMin.onePass, got.onepass);
      if (got.db !== undefined) kernelMin.db = Math.min(kernelMin.db, got.db);
      if (got.vec4! < fastest) {
        fastest = got.vec4!;
        best[tunedKey(kind, c.dqk, c.dv, kind === 'dkdv' ? c.s : c.l)] = `${t.bo}x${t.bt}`;
      }
      const alt = got.scalar === undefined ? '' : ` (scalar ${got.scalar.toFixed(3)}, prefetch ${got.prefetch!.toFixed(3)})`;
      const one = got.onepass === undefined ? '' : ` [1-pass ${got.onepass.toFixed(3)}, Δ ${onePassDiff!.toExponential(1)}]`;
      const dbl = got.db === undefined ? '' : ` [db ${got.db.toFixed(3)}, Δ ${dbDiff!.toExponential(1)}]`;
      line.push(`o${t.bo}t${t.bt} ${got.vec4!.toFixed(3)}${alt}${one}${dbl}${diff === 0 ? '' : ` (DIFF ${diff.toExponential(1)})`}`);
    }
    console.log(`${c.name.padEnd(9)} ${kind.padEnd(5)} ms: ${line.join('  ')}`);
    for (const form of ['single', 'onePass', 'db'] as const) fastestForms[kind][form] += kernelMin[form];
  }
  mixedAttentionTuning.tiles = {};
  if (c.name === 'spatial') {
    for (const kind of ['fwd', 'dq'] as MixedKernel[]) {
      const base = mixedDispatch(h, kind, d, buffers[kind], opt.emulate, opt.syntax);
      const line = [`default ${(await median(base)).toFixed(2)}`];
      for (const [what, edit] of Object.entries(ATTENTION_ABLATIONS)) {
        const ms = await median(ablated(base, what, edit));
        rows.push({ case: c.name, kind, ablation: what, ms });
        line.push(`${what} ${ms.toFixed(2)}`);
      }
      console.log(`${c.name.padEnd(9)} ${kind.padEnd(5)} ablations (ms): ${line.join('  ')}`);
    }
  }
  for (const b of [q, k, v, dO, o, lse, D, dq, dk, dv]) b.destroy();
}
console.log(`fastest tiles: AVDIT_MIXED_TILES='${JSON.stringify(best)}'`);
const outDir = process.env.OUT ?? join(import.meta.dirname, 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `mixed-tiles${quick ? '-quick' : ''}.json`), JSON.stringify(best));
// Which forms won over all cases (each at its fastest tiles): gpu-run.sh's TUNE=1 then sets
// AVDIT_MIXED_ONEPASS and AVDIT_MIXED_DB (the kernels whose double-buffered form won) for the later parts.
const fw = fastestForms.fwd;
const onePassWins = fw.onePass < Math.min(fw.single, fw.db);
const dbKernels = (['fwd', 'dq', 'dkdv'] as const).filter((k) => fastestForms[k].db < Math.min(fastestForms[k].single, fastestForms[k].onePass));
for (const [k, f] of Object.entries(fastestForms)) {
  console.log(`${k}, sum over cases at the fastest tiles: default ${f.single.toFixed(3)} ms${k === 'fwd' ? `, one pass ${f.onePass.toFixed(3)} ms` : ''}, double-buffered ${f.db.toFixed(3)} ms`);
}
if (onePassWins) console.log('one-pass forward wins');
console.log(`double-buffered wins for: ${dbKernels.join(', ') || 'none'}`);
writeFileSync(join(outDir, `mixed-onepass${quick ? '-quick' : ''}.txt`), onePassWins ? '1' : '0');
writeFileSync(join(outDir, `mixed-db${quick ? '-quick' : ''}.txt`), dbKernels.join(','));
writeResult(quick ? 'gpu-attention-mixed-quick' : 'gpu-attention-mixed', { device: h.adapterInfo.description, iters, rows, best, fastestForms, dbKernels });
h.destroy();
