/**
 * Fused-kernel benchmark (issue 4), on the WebGPU backend:
 *   1. attention forward+backward, flash kernels (kernels/attention*.ts) vs the unfused
 *      composition through the same backend (batched matmul → scale → softmax → matmul, and its
 *      backward: 4 matmuls + softmaxBwd), vs PyTorch f32 (SDPA where it exists, TF32 off), at
 *      the AV-DiT XL shapes: spatial 256 seq × 16 heads × 256 tokens × 72, temporal 4096 × 16 ×
 *      16 × (q/k 9, v 72), fusion 16 × 16 × 416 × 72;
 *   2. AdamW over 160M parameters (40 tensors of 4M), and over AV-DiT-XL's trainable tensors as
 *      they are (158.7M in hundreds of tensors), vs the measured copyBufferToBuffer bandwidth
 *      (AdamW moves 28 B/param: p, m, v read+written, g read).
 * The fused and unfused outputs are compared (max relative difference) as a sanity check. At the
 * spatial shape each f32 flash kernel is also timed with one kind of work cut out at a time
 * (bench/ablations.ts: dot products, accumulation, exp, global loads, barriers): where its time goes.
 * Each kernel is also timed staged by the loop form and with its accumulate loop over whole tiles
 * (kernels/attention-tiles.ts wholeTiles); the kernels where the latter was faster go to
 * attention-whole.txt (for AVDIT_ATTENTION_WHOLE_TILES). f32 attention through the x3 split on the
 * tensor cores (kernels/attention-sgmat.ts) is timed beside the f32 kernels, kernel by kernel (with
 * --variants per tile config); whether it won at every shape it would run at (l, s ≥ ATTENTION_X3.minLen)
 * goes to attention-x3.txt and its fastest tiles to attention-x3-tiles.json (AVDIT_ATTENTION_F32X3 and
 * AVDIT_MIXED_TILES for bench/gpu-run.sh's TUNE=1).
 *
 *   node --import tsx bench/gpu-fused.ts            # XL shapes (an NVIDIA GPU)
 *   node --import tsx bench/gpu-fused.ts --quick    # tiny shapes (lavapipe), checks the script
 *   node --import tsx bench/gpu-fused.ts --variants # + sweep the flash tile configs and thread layouts per kernel
 *                                                   (the fastest: attention-tiles.json, for AVDIT_ATTENTION_TILES)
 * Options: --iters N, --reps N (timed loops, median; default 3), --no-torch, --only-attention (skip AdamW). PyTorch: $PYTHON, else python3, else /usr/bin/python3.
 * Prints a table; writes gpu-fused.json (gpu-fused-quick.json) to $OUT, else bench/results/.
 * Timings: wall clock from submit to onSubmittedWorkDone, averaged over iters, median of reps loops, after a warm-up.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttentionDims, Backend, Storage } from '../engine/backend.ts';
import { metaBackend } from '../engine/meta/backend.ts';
import { Generator } from '../engine/rng.ts';
import { openWebGpuBackend, type WebGpuBackend } from '../engine/webgpu/backend.ts';
import { tensorsPerDispatch } from '../kernels/adamw.ts';
import { ATTENTION_X3, mixedAttentionOptions, mixedAttentionTuning, mixedTileCandidates, tunedKey, x3AttentionOptions, type MixedKernel } from '../kernels/attention-sgmat.ts';
import { attentionTilesKey, attentionTuning, LAYOUTS, nominalRows, tileCandidates, tilesName, type AttentionKernel, type Tiles } from '../kernels/attention-tiles.ts';
import { F32_ATTENTION_ABLATIONS, withAblation } from './ablations.ts';
import { encodeCopyKernel } from './copy-kernel.ts';
import { type AttentionCase, XL_ATTENTION } from './attention-cases.ts';
import { writeResult } from './results.ts';
import { AVDiT } from '../model/avdit.ts';
import { makeConfig } from '../model/config.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const iters = Number(args[args.indexOf('--iters') + 1]) || (quick ? 2 : 10);
const reps = Number(args[args.indexOf('--reps') + 1]) || (quick ? 1 : 3);
const withTorch = !args.includes('--no-torch');
const sweep = args.includes('--variants');
const onlyAttention = args.includes('--only-attention');
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const CASES: AttentionCase[] = quick
  ? [
      { name: 'spatial', n: 2, l: 64, s: 64, dqk: 72, dv: 72 },
      { name: 'temporal', n: 64, l: 16, s: 16, dqk: 9, dv: 72 },
      { name: 'fusion', n: 2, l: 52, s: 52, dqk: 72, dv: 72 },
    ]
  : [XL_ATTENTION.spatial, XL_ATTENTION.temporal, XL_ATTENTION.fusion];
const ADAMW_PARAMS = quick ? 1_000_000 : 160_000_000;
const ADAMW_PER_TENSOR = quick ? 25_000 : 4_000_000;

const be = (await openWebGpuBackend()) as WebGpuBackend;
console.log(`device: ${be.device}${quick ? ' (quick)' : ''}, iters ${iters}, median of ${reps}`);
// --quick on a device without subgroup matrices (lavapipe) checks the mixed rows with the emulation.
if (quick) mixedAttentionTuning.emulate = true;

/**
 * Median over `reps` timed loops of the mean ms of `fn` (which returns storages to free) over
 * `iters` back-to-back runs. First one loop alone (it compiles the pipelines: on a cold cache the
 * GPU idles meanwhile, and in run 10 a loop timed right after ran at 2–6× the time of the same
 * kernels timed later), then warm-up with the same loop for at least 200 ms. The warm-up must be
 * the same loop: its frees wait in the pool's quarantine until the next submit, so `iters` runs
 * without a submit hold `iters` sets of outputs, and a pool holding fewer makes new buffers inside
 * the timed loop (a 302 MB attention output at the spatial shape: creation and Dawn's zero-fill
 * were timed with the kernel up to run 8, which read 2–4× slower than the same kernels inside a
 * training step's profile). The median drops a loop that a clock change or the host disturbed.
 */
async function time(fn: () => Storage[]): Promise<number> {
  const loop = async () => {
    for (let i = 0; i < iters; i++) for (const s of fn()) be.free(s);
    await be.sync();
  };
  await loop();
  const w0 = performance.now();
  do await loop();
  while (performance.now() - w0 < 200);
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await loop();
    samples.push((performance.now() - t0) / iters);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

const randn = (size: number, seed: number): Storage => be.random('normal', size, 'f32', seed, 0);

/** The unfused forward (S, P kept for the backward as autograd would) and backward. */
function unfusedFwd(b: Backend, q: Storage, k: Storage, v: Storage, d: AttentionDims): { o: Storage; p: Storage } {
  // (As the model's composed path, model/layers/attention.ts sdpaComposed: the scale inside the softmax.)
  const Ss = b.matmul(q, [d.n, d.l, d.dqk], k, [d.n, d.s, d.dqk], false, true, [d.n, d.l, d.s]);
  const p = b.softmax(Ss, [d.n, d.l, d.s], d.scale);
  b.free(Ss);
  return { o: b.matmul(p, [d.n, d.l, d.s], v, [d.n, d.s, d.dv], false, false, [d.n, d.l, d.dv]), p };
}

function unfusedBwd(b: Backend, q: Storage, k: Storage, v: Storage, p: Storage, dO: Storage, d: AttentionDims): Storage[] {
  const dv = b.matmul(p, [d.n, d.l, d.s], dO, [d.n, d.l, d.dv], true, false, [d.n, d.s, d.dv]);
  const dP = b.matmul(dO, [d.n, d.l, d.dv], v, [d.n, d.s, d.dv], false, true, [d.n, d.l, d.s]);
  const dS = b.softmaxBwd(p, dP, [d.n, d.l, d.s], d.scale); // (the gradient of the unscaled scores: dq = dS·K, dk = dSᵀ·q)
  b.free(dP);
  const dq = b.matmul(dS, [d.n, d.l, d.s], k, [d.n, d.s, d.dqk], false, false, [d.n, d.l, d.dqk]);
  const dk = b.matmul(dS, [d.n, d.l, d.s], q, [d.n, d.l, d.dqk], true, false, [d.n, d.s, d.dqk]);
  b.free(dS);
  return [dq, dk, dv];
}

/**
 * The unfused (composed) attention op by op, in the backend's precision: ms of each of its four
 * L×L passes and six products, each timed alone on inputs made once (what the model's composed
 * path spends where; its permutes of the heads are not here).
 */
async function composedOps(q: Storage, k: Storage, v: Storage, dO: Storage, d: AttentionDims): Promise<Record<string, number>> {
  const LL = [d.n, d.l, d.s], Q = [d.n, d.l, d.dqk], K = [d.n, d.s, d.dqk], V = [d.n, d.s, d.dv], O = [d.n, d.l, d.dv];
  const S = be.matmul(q, Q, k, K, false, true, LL);
  const P = be.softmax(S, LL, d.scale);
  const dP = be.matmul(dO, O, v, V, false, true, LL);
  const dS = be.softmaxBwd(P, dP, LL, d.scale);
  const ops: Record<string, () => Storage[]> = {
    'Q·Kᵀ': () => [be.matmul(q, Q, k, K, false, true, LL)],
    softmax: () => [be.softmax(S, LL, d.scale)],
    'P·V': () => [be.matmul(P, LL, v, V, false, false, O)],
    'Pᵀ·dO': () => [be.matmul(P, LL, dO, O, true, false, V)],
    'dO·Vᵀ': () => [be.matmul(dO, O, v, V, false, true, LL)],
    'softmax bwd': () => [be.softmaxBwd(P, dP, LL, d.scale)],
    'dS·K': () => [be.matmul(dS, LL, k, K, false, false, Q)],
    'dSᵀ·Q': () => [be.matmul(dS, LL, q, Q, true, false, K)],
  };
  const out: Record<string, number> = {};
  try {
    for (const [name, fn] of Object.entries(ops)) out[name] = await time(fn);
  } finally {
    for (const s of [S, P, dP, dS]) be.free(s);
  }
  return out;
}

/** One attention forward (its outputs o, lse), as the backend's precision and options have it. */
const forwardOf = (q: Storage, k: Storage, v: Storage, d: AttentionDims) => (): Storage[] => {
  const r = be.attention(q, k, v, d);
  return [r.o, r.lse];
};
/** Forward and backward (o, lse, dq, dk, dv). */
const forwardBackwardOf = (q: Storage, k: Storage, v: Storage, dO: Storage, d: AttentionDims) => (): Storage[] => {
  const r = be.attention(q, k, v, d);
  const g = be.attentionBwd(q, k, v, r.o, r.lse, dO, d);
  return [r.o, r.lse, g.dq, g.dk, g.dv];
};

/** maxRelDiff of each of forwardBackwardOf's outputs against a reference run's, by name. */
async function outputDiffs(got: Storage[], want: Storage[]): Promise<Record<string, number>> {
  return Object.fromEntries(await Promise.all(['o', 'lse', 'dq', 'dk', 'dv'].map(async (name, i) => [name, await maxRelDiff(got[i]!, want[i]!)])));
}

async function maxRelDiff(a: Storage, b: Storage): Promise<number> {
  const [x, y] = [await be.read(a), await be.read(b)];
  let worst = 0, scale = 1e-30;
  for (let i = 0; i < x.length; i++) {
    worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return worst / scale;
}

/**
 * Mixed precision (kernels/attention-sgmat.ts, tensor cores): forward, forward+backward, the
 * difference from the f32 kernels (relative to each output's scale), and with --variants each
 * kernel's tile configs (fwd timed alone; dq / dkdv as the whole backward with that kernel's tiles).
 */
async function mixedAttention(q: Storage, k: Storage, v: Storage, dO: Storage, d: AttentionDims): Promise<Record<string, unknown>> {
  if (!mixedAttentionOptions(be.ctx)) return { mixedError: 'no f16×f16→f32 16×16×16 subgroup matrices on this device' };
  const fwd = forwardOf(q, k, v, d), fwdBwd = forwardBackwardOf(q, k, v, dO, d);
  const out: Record<string, unknown> = {};
  be.setPrecision('mixed');
  try {
    out.mixedFwdMs = await time(fwd);
    out.mixedFwdBwdMs = await time(fwdBwd);
    // The unfused version in mixed precision too (its products on v4; the L×L scores in f32).
    try {
      out.mixedUnfusedFwdBwdMs = await time(() => {
        const r = unfusedFwd(be, q, k, v, d);
        return [r.o, r.p, ...unfusedBwd(be, q, k, v, r.p, dO, d)];
      });
    } catch (e) {
      out.mixedUnfusedError = (e as Error).message.slice(0, 300);
    }
    const m = fwdBwd();
    be.setPrecision('f32');
    const f = fwdBwd();
    out.mixedRelDiff = await outputDiffs(m, f);
    for (const s of [...m, ...f]) be.free(s);
    if (sweep) {
      be.setPrecision('mixed');
      const limit = be.ctx.limits.maxComputeWorkgroupStorageSize;
      const variants: Record<string, Record<string, number>> = {};
      for (const kind of ['fwd', 'dq', 'dkdv'] as MixedKernel[]) {
        variants[kind] = {};
        for (const t of mixedTileCandidates(kind, kind === 'dkdv' ? d.s : d.l, d.dqk, d.dv, limit)) {
          mixedAttentionTuning.tiles = { [kind]: t };
          try {
            variants[kind]![`o${t.bo}t${t.bt}`] = await time(kind === 'fwd' ? fwd : fwdBwd);
          } finally {
            mixedAttentionTuning.tiles = {};
          }
        }
      }
      out.mixedVariants = variants;
    }
  } catch (e) {
    out.mixedError = (e as Error).message.slice(0, 300);
  } finally {
    be.setPrecision('f32');
  }
  return out;
}

/**
 * f32 attention through the x3 split (kernels/attention-sgmat.ts): forward, forward + backward, its
 * difference from the f32 kernels (relative to each output's scale), and with --variants each
 * kernel's tile configs (the fastest per kernel among those that agree with the f32 kernels: x3Tiles).
 */
async function x3Attention(q: Storage, k: Storage, v: Storage, dO: Storage, d: AttentionDims): Promise<Record<string, unknown>> {
  mixedAttentionTuning.x3 = true;
  const out: Record<string, unknown> = {};
  try {
    if (!x3AttentionOptions(be.ctx, d)) return { x3Error: 'no f16×f16→f32 16×16×16 subgroup matrices on this device' };
    const fwd = forwardOf(q, k, v, d), fwdBwd = forwardBackwardOf(q, k, v, dO, d);
    out.x3FwdMs = await time(fwd);
    out.x3FwdBwdMs = await time(fwdBwd);
    mixedAttentionTuning.x3 = false;
    const f = fwdBwd();  // the f32 kernels' outputs, the reference
    mixedAttentionTuning.x3 = true;
    /** The largest difference of the x3 outputs (as configured now) from the f32 kernels', per output. */
    const relDiff = async (): Promise<Record<string, number>> => {
      const m = fwdBwd();
      const r = await outputDiffs(m, f);
      for (const s of m) be.free(s);
      return r;
    };
    out.x3RelDiff = await relDiff();
    if (sweep) {
      const limit = be.ctx.limits.maxComputeWorkgroupStorageSize;
      const variants: Record<string, Record<string, number>> = {};
      const best: Record<string, string> = {};
      for (const kind of ['fwd', 'dq', 'dkdv'] as MixedKernel[]) {
        variants[kind] = {};
        let fastest: [string, number] | null = null;
        const own = kind === 'dkdv' ? d.s : d.l;
        for (const t of mixedTileCandidates(kind, own, d.dqk, d.dv, limit, true)) {
          mixedAttentionTuning.x3Tiles = { [kind]: t };
          try {
            // (dQ and dK/dV: the whole backward with that kernel's tiles.)
            const ms = await time(kind === 'fwd' ? fwd : fwdBwd);
            // Only a config whose outputs agree with the f32 kernels' may win (its tiles run in the XL parts).
            const worst = Math.max(...Object.values(await relDiff()));
            variants[kind]![`o${t.bo}t${t.bt}${worst < 1e-5 ? '' : ` (off by ${worst.toExponential(1)})`}`] = ms;
            if (worst < 1e-5 && (!fastest || ms < fastest[1])) fastest = [`${t.bo}x${t.bt}`, ms];
          } finally {
            mixedAttentionTuning.x3Tiles = {};
          }
        }
        if (fastest) best[tunedKey(kind, d.dqk, d.dv, own, true)] = fastest[0];
      }
      out.x3Variants = variants;
      out.x3Tiles = best;
    }
    for (const s of f) be.free(s);
  } catch (e) {
    out.x3Error = (e as Error).message.slice(0, 300);
  } finally {
    mixedAttentionTuning.x3 = false;
  }
  return out;
}

const attention: Record<string, unknown>[] = [];
/** --variants: the fastest f32 tiles per kernel and shape (the AVDIT_ATTENTION_TILES format). */
const fastestTiles: Record<string, string> = {};
for (const c of CASES) {
  const d: AttentionDims = { ...c, scale: 1 / Math.sqrt(c.dqk) };
  const q = randn(d.n * d.l * d.dqk, 1), k = randn(d.n * d.s * d.dqk, 2), v = randn(d.n * d.s * d.dv, 3), dO = randn(d.n * d.l * d.dv, 4);
  const fwdFlops = 2 * d.n * d.l * d.s * (d.dqk + d.dv);
  const allFlops = 2 * d.n * d.l * d.s * (4 * d.dqk + 3 * d.dv); // fwd + recompute S, dP, dV, dQ, dK
  const fusedFwd = await time(forwardOf(q, k, v, d));
  const fusedAll = await time(forwardBackwardOf(q, k, v, dO, d));
  // Per kernel: the backward alone (from one forward), and each backward pass alone.
  const fo = be.attention(q, k, v, d);
  const bwdOnly = async (passes?: ('rowdot' | 'dq' | 'dkdv')[]): Promise<number> => {
    attentionTuning.bwdPasses = passes;
    try {
      return await time(() => { const g = be.attentionBwd(q, k, v, fo.o, fo.lse, dO, d); return [g.dq, g.dk, g.dv]; });
    } finally {
      attentionTuning.bwdPasses = undefined;
    }
  };
  const fusedBwd = await bwdOnly();
  const perPass = { rowdot: await bwdOnly(['rowdot']), dq: await bwdOnly(['dq']), dkdv: await bwdOnly(['dkdv']) };
  // Where each f32 kernel's time goes at the spatial shape: the kernel timed alone with one kind
  // of work cut out of its WGSL at a time (bench/ablations.ts F32_ATTENTION_ABLATIONS).
  const ablations: Record<string, Record<string, number | string>> = {};
  if (c.name === 'spatial') {
    const alone: Record<AttentionKernel, () => Promise<number>> = {
      fwd: () => time(forwardOf(q, k, v, d)),
      dq: () => bwdOnly(['dq']),
      dkdv: () => bwdOnly(['dkdv']),
    };
    const prefix: Record<AttentionKernel, string> = { fwd: 'attention/fwd/', dq: 'attention/bwd-dq/', dkdv: 'attention/bwd-dkdv/' };
    for (const kind of ['fwd', 'dq', 'dkdv'] as AttentionKernel[]) {
      ablations[kind] = { whole: kind === 'fwd' ? fusedFwd : perPass[kind] };
      for (const [what, edit] of Object.entries(F32_ATTENTION_ABLATIONS)) {
        try {
          ablations[kind]![what] = await withAblation(be.ctx, prefix[kind], what, edit, alone[kind]);
        } catch (e) {
          ablations[kind]![what] = `failed: ${(e as Error).message.slice(0, 160)}`;
          await be.sync().catch(() => undefined);
        }
      }
      const fmt = (x: number | string) => (typeof x === 'number' ? x.toFixed(3) : x);
      console.log(`${c.name} f32 ${kind.padEnd(4)} ablations (ms): ${Object.entries(ablations[kind]!).map(([w, x]) => `${w} ${fmt(x)}`).join('  ')}`);
    }
  }
  /** Each kernel timed alone (the forward; the dQ and dK/dV passes) while a tuning hook is set. */
  const kernelsAloneWith = async (set: () => void, unset: () => void): Promise<Record<AttentionKernel, number>> => {
    set();
    try {
      return { fwd: await time(forwardOf(q, k, v, d)), dq: await bwdOnly(['dq']), dkdv: await bwdOnly(['dkdv']) };
    } finally {
      unset();
    }
  };
  // Their tiles staged by the loop form (one vec4 loaded and stored per iteration, the form before
  // the fifteenth session) instead of batched loads.
  const loopStaging = await kernelsAloneWith(() => (attentionTuning.batchedStaging = false), () => (attentionTuning.batchedStaging = undefined));
  // Their accumulate loops over whole tiles (a constant count the compiler can unroll) against
  // over the tile's valid rows (kernels/attention-tiles.ts wholeTiles; the default,
  // WHOLE_TILES_DEFAULT, mixes the two), every kernel each way.
  const wholeTileMs = await kernelsAloneWith(() => (attentionTuning.wholeTiles = ['fwd', 'dq', 'dkdv']), () => (attentionTuning.wholeTiles = undefined));
  const validRowsMs = await kernelsAloneWith(() => (attentionTuning.wholeTiles = []), () => (attentionTuning.wholeTiles = undefined));
  // The rows past a tile's valid ones add exact zeros: the outputs must be the same both ways
  // (checked here on the hardware; a form that differs cannot win below).
  const allOutputs = forwardBackwardOf(q, k, v, dO, d);
  attentionTuning.wholeTiles = [];
  const plainOut = allOutputs();
  attentionTuning.wholeTiles = ['fwd', 'dq', 'dkdv'];
  const wholeOut = allOutputs();
  attentionTuning.wholeTiles = undefined;
  let wholeTileDiff = 0;
  for (let i = 0; i < plainOut.length; i++) wholeTileDiff = Math.max(wholeTileDiff, await maxRelDiff(wholeOut[i]!, plainOut[i]!));
  for (const x of [...plainOut, ...wholeOut]) be.free(x);
  // --variants: per kernel, the first two tile sizes that fit in every thread layout (LAYOUTS, 6 sharers
  // only where they idle fewer columns, with 3/4 of the keys per tile: nominalRows; the
  // default is the first listed), each pass timed alone; the fastest go to attention-tiles.json.
  const variants: Record<string, Record<string, number>> = {};
  if (sweep) {
    const limit = be.ctx.limits.maxComputeWorkgroupStorageSize;
    const ext: Record<AttentionKernel, [number, number]> = { fwd: [d.l, d.s], dq: [d.l, d.s], dkdv: [d.s, d.l] };
    for (const kind of ['fwd', 'dq', 'dkdv'] as AttentionKernel[]) {
      variants[kind] = {};
      const all = tileCandidates(kind, ...ext[kind], d.dqk, d.dv, limit, LAYOUTS);
      // (dQ: also the first size that fits only with its scores aliased, in every layout.)
      const size = (t: Tiles): string => `${t.bq}x${nominalRows(t)}${t.alias ? ':a' : ''}`;
      const sizes = [...[...new Set(all.filter((t) => !t.alias).map(size))].slice(0, 2), ...all.filter((t) => t.alias).map(size).slice(0, 1)];
      let best: [string, number] | null = null;
      for (const t of all.filter((t) => sizes.includes(size(t)))) {
        attentionTuning.tiles = { [kind]: t };
        try {
          const ms = kind === 'fwd' ? await time(forwardOf(q, k, v, d)) : await bwdOnly([kind]);
          variants[kind]![tilesName(t)] = ms;
          if (!best || ms < best[1]) best = [tilesName(t), ms];
        } catch (e) {
          variants[kind]![`${tilesName(t)} failed: ${(e as Error).message.slice(0, 120)}`] = NaN;
        } finally {
          attentionTuning.tiles = {};
        }
      }
      if (best) fastestTiles[attentionTilesKey(kind, d.dqk, d.dv, ...ext[kind])] = best[0];
    }
  }
  be.free(fo.o);
  be.free(fo.lse);
  let row: Record<string, unknown> = {
    ...c, fusedFwdMs: fusedFwd, fusedBwdMs: fusedBwd, fusedBwdPassMs: perPass, loopStagingMs: loopStaging, wholeTileMs, validRowsMs, wholeTileDiff, fusedFwdBwdMs: fusedAll,
    fusedFwdTflops: fwdFlops / fusedFwd / 1e9, fusedFwdBwdTflops: allFlops / fusedAll / 1e9, ...(sweep ? { variants } : {}),
    ...(Object.keys(ablations).length ? { ablations } : {}),
  };
  try {
    const unfFwd = await time(() => { const r = unfusedFwd(be, q, k, v, d); return [r.o, r.p]; });
    const unfAll = await time(() => {
      const r = unfusedFwd(be, q, k, v, d);
      return [r.o, r.p, ...unfusedBwd(be, q, k, v, r.p, dO, d)];
    });
    // Sanity: fused vs unfused o and dq.
    const f = be.attention(q, k, v, d), fg = be.attentionBwd(q, k, v, f.o, f.lse, dO, d);
    const u = unfusedFwd(be, q, k, v, d), ug = unfusedBwd(be, q, k, v, u.p, dO, d);
    row = { ...row, unfusedFwdMs: unfFwd, unfusedFwdBwdMs: unfAll, maxRelDiffO: await maxRelDiff(f.o, u.o), maxRelDiffDq: await maxRelDiff(fg.dq, ug[0]!) };
    for (const s of [f.o, f.lse, fg.dq, fg.dk, fg.dv, u.o, u.p, ...ug]) be.free(s);
    row.composedOpsMs = await composedOps(q, k, v, dO, d);
    if (be.ctx.features.f16) {
      be.setPrecision('mixed');
      try {
        row.mixedComposedOpsMs = await composedOps(q, k, v, dO, d);
      } finally {
        be.setPrecision('f32');
      }
    }
  } catch (e) {
    row.unfusedError = (e as Error).message.slice(0, 300);
  }
  row = { ...row, ...(await mixedAttention(q, k, v, dO, d)), ...(await x3Attention(q, k, v, dO, d)) };
  for (const s of [q, k, v, dO]) be.free(s);
  attention.push(row);
}

// ---- AdamW over ADAMW_PARAMS vs copy bandwidth, and over AV-DiT-XL's trainable tensors ----
let sizes: number[] = [], adamMs = NaN, copyGBps = NaN, adamGBps = NaN;
let adamw: Record<string, number> = {};
let adamwXL: Record<string, number> = {};

/** Median ms of one AdamW step over tensors of these sizes (made, timed, freed). */
async function timeAdamW(tensorSizes: number[]): Promise<number> {
  const P = tensorSizes.map((n, i) => randn(n, 10 + i)), G = tensorSizes.map((n, i) => randn(n, 1000 + i));
  const M = tensorSizes.map((n) => be.fill(n, 'f32', 0)), V = tensorSizes.map((n) => be.fill(n, 'f32', 0));
  let step = 0;
  const ms = await time(() => {
    be.adamw(P, G, M, V, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: ++step });
    return [];
  });
  for (const s of [...P, ...G, ...M, ...V]) be.free(s);
  return ms;
}

if (!onlyAttention) {

sizes = [];
for (let left = ADAMW_PARAMS; left > 0; left -= ADAMW_PER_TENSOR) sizes.push(Math.min(ADAMW_PER_TENSOR, left));
adamMs = await timeAdamW(sizes);
// Same bytes as one parameter array, within maxBufferSize (pool sizes round up by ≤ 4/3).
const copyBytes = Math.min(ADAMW_PARAMS * 4, Math.floor((be.ctx.limits.maxBufferSize * 0.7) / 4) * 4);
const COPY_REPS = 5;
const src = be.ctx.alloc(copyBytes, 'bench-copy-src'), dst = be.ctx.alloc(copyBytes, 'bench-copy-dst');
// The faster of Dawn's copyBufferToBuffer and the WGSL copy (bench/copy-kernel.ts), as
// bench/gpu-bandwidth.ts: up to run 10 only the first, which ran at ~845 GB/s on the H200 (the
// kernel ~3900) and put AdamW at "440% of copy".
const copyMsOf = async (copy: () => void): Promise<number> => (await time(() => {
  for (let r = 0; r < COPY_REPS; r++) copy();
  return [];
})) / COPY_REPS;
const copyMs = Math.min(
  await copyMsOf(() => be.ctx.flush((enc) => enc.copyBufferToBuffer(src, 0, dst, 0, copyBytes))),
  await copyMsOf(() => encodeCopyKernel(be.ctx, src, dst, copyBytes)),
);
copyGBps = (2 * copyBytes) / (copyMs * 1e-3) / 1e9;
adamGBps = (28 * ADAMW_PARAMS) / (adamMs * 1e-3) / 1e9;
adamw = {
  params: ADAMW_PARAMS, tensors: sizes.length, tensorsPerDispatch: tensorsPerDispatch(be.ctx), ms: adamMs, GBps: adamGBps,
  copyBytes, copyMs, copyGBps, fractionOfCopy: adamGBps / copyGBps,
};

// The real layout: XL's 158.7M trainable parameters in their hundreds of tensors (many small
// biases), as a training step updates them (the model built on the shapes-only backend).
const xlSizes = new AVDiT({ backend: metaBackend, gen: new Generator(0) }, makeConfig(quick ? 'tiny' : 'XL')).parameters({ trainable: true }).map((t) => t.size);
const xlParams = xlSizes.reduce((a, b) => a + b, 0);
const xlMs = await timeAdamW(xlSizes);
const xlGBps = (28 * xlParams) / (xlMs * 1e-3) / 1e9;
adamwXL = { params: xlParams, tensors: xlSizes.length, ms: xlMs, GBps: xlGBps, fractionOfCopy: xlGBps / copyGBps };

}

// ---- PyTorch ----
let torch: Record<string, unknown> | null = null;
if (withTorch) {
  const cfg = JSON.stringify({ attention: CASES, adamw_params: ADAMW_PARAMS, iters });
  const script = join(import.meta.dirname, 'torch_fused.py');
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x)) {
    const r = spawnSync(py, [script, cfg], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout?.trim().split('\n').at(-1);
    if (r.status === 0 && line) {
      torch = { python: py, ...(JSON.parse(line) as Record<string, unknown>) };
      break;
    }
    torch = { python: py, error: (r.stderr || String(r.error ?? '')).trim().split('\n').at(-1) };
  }
}

// ---- report ----
const f = (x: unknown, digits = 2): string => (typeof x === 'number' ? x.toFixed(digits) : '—');
const torchAtt = (name: string): Record<string, unknown> =>
  ((torch?.attention as Record<string, unknown>[] | undefined) ?? []).find((r) => r.name === name) ?? {};
console.log('\nattention fwd+bwd (ms; TFLOP/s of the fused kernels)');
console.log('case       shape                          fused fwd  fused f+b  TFLOP/s  unfused f+b  torch f+b (sdpa|composed)  max rel diff o/dq');
for (const r of attention) {
  const t = torchAtt(r.name as string);
  const shape = `${r.n}×${r.l}×${r.s}×${r.dqk}/${r.dv}`;
  console.log(
    `${String(r.name).padEnd(10)} ${shape.padEnd(30)} ${f(r.fusedFwdMs).padStart(9)}  ${f(r.fusedFwdBwdMs).padStart(9)}  ${f(r.fusedFwdBwdTflops).padStart(7)}  ` +
      `${f(r.unfusedFwdMs === undefined ? r.unfusedError : r.unfusedFwdBwdMs).padStart(11)}  ${`${f(t.sdpa_fwdbwd_ms)} | ${f(t.composed_fwdbwd_ms)}`.padStart(25)}  ` +
      `${f(r.maxRelDiffO, 7)}/${f(r.maxRelDiffDq, 7)}`,
  );
}
console.log('\nthe unfused (composed) attention op by op (ms, each timed alone; f32 as the matmul defaults have it | mixed)');
for (const r of attention) {
  const a = r.composedOpsMs as Record<string, number> | undefined, m = (r.mixedComposedOpsMs ?? {}) as Record<string, number>;
  if (a) console.log(`${String(r.name).padEnd(10)} ${Object.entries(a).map(([k, t]) => `${k} ${f(t)}|${f(m[k])}`).join('  ')}`);
}
console.log('\nfused kernels alone (ms): fwd | bwd = rowdot + dq + dkdv (each pass timed alone)');
for (const r of attention) {
  const p = r.fusedBwdPassMs as Record<string, number>;
  console.log(`${String(r.name).padEnd(10)} fwd ${f(r.fusedFwdMs).padStart(7)} | bwd ${f(r.fusedBwdMs).padStart(7)} = ${f(p.rowdot)} + ${f(p.dq)} + ${f(p.dkdv)}`);
  const ls = r.loopStagingMs as Record<string, number>;
  console.log(`${''.padEnd(10)} staged by the loop form instead: fwd ${f(ls.fwd)}  dq ${f(ls.dq)}  dkdv ${f(ls.dkdv)}`);
  const wt = r.wholeTileMs as Record<string, number>;
  const vr = r.validRowsMs as Record<string, number>;
  console.log(`${''.padEnd(10)} accumulating over whole tiles: fwd ${f(wt.fwd)}  dq ${f(wt.dq)}  dkdv ${f(wt.dkdv)}; over valid rows: fwd ${f(vr.fwd)}  dq ${f(vr.dq)}  dkdv ${f(vr.dkdv)} (outputs apart by ${(r.wholeTileDiff as number).toExponential(1)})`);
  const vs = r.variants as Record<string, Record<string, number>> | undefined;
  if (vs) for (const [kind, m] of Object.entries(vs)) console.log(`  ${kind.padEnd(5)} ${Object.entries(m).map(([k, t]) => `${k} ${f(t)}`).join('  ')}`);
}
console.log('\nmixed precision (f16 operands on tensor cores, f32 statistics; ms) vs PyTorch SDPA in half precision');
console.log('case       mixed fwd  mixed f+b  unfused f+b  torch f16 f+b  torch bf16 f+b  rel. diff from f32 (o lse dq dk dv)');
for (const r of attention) {
  const t = torchAtt(r.name as string);
  const rd = r.mixedRelDiff as Record<string, number> | undefined;
  console.log(
    `${String(r.name).padEnd(10)} ${f(r.mixedFwdMs ?? r.mixedError).padStart(9)}  ${f(r.mixedFwdBwdMs).padStart(9)}  ${f(r.mixedUnfusedFwdBwdMs ?? 'error').padStart(11)}  ${f(t.sdpa_f16_fwdbwd_ms).padStart(13)}  ${f(t.sdpa_bf16_fwdbwd_ms).padStart(14)}  ` +
      (rd ? Object.values(rd).map((x) => x.toExponential(1)).join(' ') : ''),
  );
  const vs = r.mixedVariants as Record<string, Record<string, number>> | undefined;
  if (vs) for (const [kind, m] of Object.entries(vs)) console.log(`  ${kind.padEnd(5)} ${Object.entries(m).map(([k, t2]) => `${k} ${f(t2)}`).join('  ')}`);
}
console.log('\nf32 attention through the x3 split (f32 operands as two f16 halves on tensor cores; ms) vs the f32 kernels and PyTorch SDPA f32');
console.log('case       x3 fwd  x3 f+b  f32 fwd  f32 f+b  torch f32 f+b  ratio to torch  rel. diff from the f32 kernels (o lse dq dk dv)');
for (const r of attention) {
  const t = torchAtt(r.name as string);
  const rd = r.x3RelDiff as Record<string, number> | undefined;
  const ratio = typeof t.sdpa_fwdbwd_ms === 'number' && typeof r.x3FwdBwdMs === 'number' ? `${f(t.sdpa_fwdbwd_ms / r.x3FwdBwdMs)}×` : '—';
  console.log(
    `${String(r.name).padEnd(10)} ${f(r.x3FwdMs ?? r.x3Error).padStart(6)}  ${f(r.x3FwdBwdMs).padStart(6)}  ${f(r.fusedFwdMs).padStart(7)}  ${f(r.fusedFwdBwdMs).padStart(7)}  ` +
      `${f(t.sdpa_fwdbwd_ms).padStart(13)}  ${ratio.padStart(14)}  ${rd ? Object.values(rd).map((x) => x.toExponential(1)).join(' ') : ''}`,
  );
  const vs = r.x3Variants as Record<string, Record<string, number>> | undefined;
  if (vs) for (const [kind, m] of Object.entries(vs)) console.log(`  ${kind.padEnd(5)} ${Object.entries(m).map(([k, t2]) => `${k} ${f(t2)}`).join('  ')}`);
}
if (!onlyAttention) console.log(
  `\nadamw: ${ADAMW_PARAMS / 1e6}M params in ${sizes.length} tensors (${adamw.tensorsPerDispatch} per dispatch): ${f(adamMs, 3)} ms, ` +
    `${f(adamGBps, 1)} GB/s = ${f(100 * adamw.fractionOfCopy, 1)}% of copy bandwidth (${f(copyGBps, 1)} GB/s)` +
    (torch?.adamw ? `; torch ${JSON.stringify(torch.adamw)}` : '') +
    `\nadamw, ${quick ? 'tiny' : 'XL'}'s trainable tensors: ${f(adamwXL.params! / 1e6, 1)}M params in ${adamwXL.tensors} tensors: ${f(adamwXL.ms!, 3)} ms, ${f(adamwXL.GBps!, 1)} GB/s = ${f(100 * adamwXL.fractionOfCopy!, 1)}% of copy bandwidth`,
);
if (torch && 'error' in torch) console.log(`torch: ${String(torch.error)}`);
// The kernels whose whole-tile accumulate loops were faster over the three shapes together (for
// AVDIT_ATTENTION_WHOLE_TILES; bench/gpu-run.sh hands it on with TUNE=1).
const wholeRight = attention.every((r) => (r.wholeTileDiff as number) < 1e-5);
const wholeFaster = (['fwd', 'dq', 'dkdv'] as const).filter((kind) => {
  if (!wholeRight) return false;
  const sum = (get: (r: Record<string, unknown>) => number) => attention.reduce((a, r) => a + get(r), 0);
  const base = sum((r) => (r.validRowsMs as Record<string, number>)[kind]!);
  return sum((r) => (r.wholeTileMs as Record<string, number>)[kind]!) < base;
});
console.log(`accumulate loops over whole tiles faster in: ${wholeFaster.join(',') || 'none'}${wholeRight ? '' : ' (their outputs differ: not taken)'}`);
const outDir = process.env.OUT ?? join(import.meta.dirname, 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `attention-whole${quick ? '-quick' : ''}.txt`), wholeFaster.join(',') || '0');
// The x3 split wins where it runs (l, s ≥ ATTENTION_X3.minLen) if at each such shape its forward +
// backward beat the f32 kernels' and its outputs are within 1e-5 of theirs (bench/gpu-run.sh: TUNE=1
// sets AVDIT_ATTENTION_F32X3=1 then, if the goldens with it passed).
const x3Shapes = attention.filter((r) => Math.min(r.l as number, r.s as number) >= ATTENTION_X3.minLen);
const x3Wins = x3Shapes.length > 0 && x3Shapes.every((r) => {
  const rd = r.x3RelDiff as Record<string, number> | undefined;
  return typeof r.x3FwdBwdMs === 'number' && r.x3FwdBwdMs < (r.fusedFwdBwdMs as number) && !!rd && Object.values(rd).every((x) => x < 1e-5);
});
console.log(`f32 attention through the x3 split faster at ${x3Shapes.map((r) => r.name).join(', ')}: ${x3Wins ? 'yes' : 'no'}`);
writeFileSync(join(outDir, `attention-x3${quick ? '-quick' : ''}.txt`), x3Wins ? '1' : 'off');
if (sweep) writeFileSync(join(outDir, `attention-x3-tiles${quick ? '-quick' : ''}.json`), JSON.stringify(Object.assign({}, ...attention.map((r) => r.x3Tiles ?? {}))));
writeResult(quick ? 'gpu-fused-quick' : 'gpu-fused', { device: be.device, quick, iters, reps, attention, adamw, adamwXL, torch, ...(sweep ? { fastestTiles } : {}) });
if (sweep) {
  console.log(`fastest f32 attention tiles: AVDIT_ATTENTION_TILES='${JSON.stringify(fastestTiles)}'`);
  writeFileSync(join(process.env.OUT ?? join(import.meta.dirname, 'results'), `attention-tiles${quick ? '-quick' : ''}.json`), JSON.stringify(fastestTiles));
}
await be.destroy();
