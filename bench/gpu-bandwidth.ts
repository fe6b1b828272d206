/**
 * Memory-bound kernels against the copy bandwidth measured in the same run: elementwise ops
 * (same shape, broadcast bias, unary), reductions (rows of 64 / 1152 / 65536, and over the first
 * axis), softmax and layerNorm rows, against the faster of two plain copies (copyBufferToBuffer,
 * and a WGSL kernel: bench/copy-kernel.ts) as the baseline; plus dispatches per op and µs per
 * dispatch for tiny ops (the launch cost).
 *
 *   node --import tsx bench/gpu-bandwidth.ts [--quick]       → $OUT/gpu-bandwidth.json
 * Times are wall clock from the first dispatch to the end of onSubmittedWorkDone, over `reps`
 * back-to-back ops, median of 5; bytes are the minimum each op must read and write.
 */
import * as raw from '../engine/ops.ts';
import { randn } from '../engine/creation.ts';
import { closeBackends, useBackend } from '../engine/registry.ts';
import { Generator } from '../engine/rng.ts';
import { scope } from '../engine/scope.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { WebGpuBackend } from '../engine/webgpu/backend.ts';
import { writeResult } from './results.ts';
import { encodeCopyKernel } from './copy-kernel.ts';
import { rowTuning } from '../kernels/row.ts';

const quick = process.argv.includes('--quick');
const backend = (await useBackend('webgpu', (m) => console.log(m))) as WebGpuBackend;
const ctx = backend.ctx;
const N = quick ? 1 << 20 : 1 << 28; // elements (1 GiB of f32 on the GPU)
const reps = quick ? 3 : 10;
const gen = new Generator(0);
const rows: Record<string, unknown>[] = [];

async function time(fn: () => void): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < 6; i++) {
    await backend.sync();
    const s = performance.now();
    for (let r = 0; r < reps; r++) scope(fn);
    await backend.sync();
    if (i > 0) ts.push((performance.now() - s) / 1000 / reps);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

async function measure(name: string, bytes: number, fn: () => void): Promise<void> {
  const d0 = ctx.dispatches;
  scope(fn);
  await backend.sync();
  const perOp = ctx.dispatches - d0;
  const s = await time(fn);
  const row = { op: name, ms: s * 1000, GBps: bytes / s / 1e9, dispatchesPerOp: perOp };
  rows.push(row);
  console.log(`${name.padEnd(40)} ${(s * 1000).toFixed(3).padStart(9)} ms ${(bytes / s / 1e9).toFixed(0).padStart(6)} GB/s  ${perOp} dispatch(es)`);
}

// Baseline: a plain device copy of N floats (reads and writes 4N bytes each).
const src = randn([N], { backend, generator: gen }).keep();
{
  const s = src.storage() as unknown as { buffer: GPUBuffer };
  const dst = ctx.alloc(N * 4, 'copy-dst');
  const copy = () => ctx.flush((enc) => enc.copyBufferToBuffer(s.buffer, 0, dst, 0, N * 4));
  await measure('copy (copyBufferToBuffer)', 8 * N, copy);
  // The baseline: the best plain copy a shader can do (vec4 loads and stores, grid-stride free).
  await measure('copy (WGSL kernel, vec4)', 8 * N, () => encodeCopyKernel(ctx, s.buffer, dst, N * 4));
  ctx.pool.release(dst);
}
const a = randn([N / 1024, 1024], { backend, generator: gen }).keep();
const b = randn([N / 1024, 1024], { backend, generator: gen }).keep();
const bias = randn([1024], { backend, generator: gen }).keep();
await measure('elementwise add (same shape)', 12 * N, () => void raw.binary('add', a, b));
await measure('elementwise add (bias broadcast [1024])', 8 * N, () => void raw.binary('add', a, bias));
await measure('unary gelu', 8 * N, () => void raw.unary('gelu', a));
await measure('affine (a·x + b)', 8 * N, () => void raw.unary('affine', a, 2, 1));
/** A [⌊N/d⌋, d] tensor cut from `a` (a copy when d does not divide N). */
const rowsOf = (d: number): Tensor => {
  const r = Math.floor(N / d);
  return raw.reshape(r * d === N ? raw.reshape(a, [-1]) : raw.slice(raw.reshape(a, [-1]), [0], [r * d]), [r, d]).keep();
};
/**
 * Row sums and the row kernels (softmax, layerNorm, norm-modulate), whose per-row sums and maxima
 * use subgroup shuffles where the adapter has a fixed subgroup size (kernels/row.ts); `tag` names
 * the variant. With subgroups they run a second time on the workgroup tree, for the comparison.
 */
async function rowOps(tag: string): Promise<void> {
  for (const d of [64, 1152, 65536]) {
    const x = rowsOf(d);
    await measure(`sum over last axis (rows of ${d})${tag}`, 4 * x.size + (4 * x.size) / d, () => void raw.reduce('sum', x, 1));
    x.dispose();
  }
  {
    const x = rowsOf(1152);
    await measure('softmax (rows of 1152)' + tag, 8 * x.size, () => void raw.softmax(x));
    await measure('layerNorm (rows of 1152, no affine)' + tag, 8 * x.size, () => {
      const o = backend.layerNorm(x.storage(), x.shape, null, null, 1e-6);
      for (const st of [o.y, o.mean, o.rstd]) backend.free(st);
    });
    // DiT's fused adaLN input and gated residual, as XL runs them: x [N, L, 1152], per-sample
    // shift/scale/gate [N, 1152] (N = 16 samples).
    const rows = x.shape[0]!, d = { N: 16, L: Math.floor(rows / 16), D: 1152 };
    const used = d.N * d.L * d.D;
    const perSample = randn([d.N, d.D], { backend, generator: gen }).keep();
    await measure('norm-modulate (rows of 1152)' + tag, 8 * used, () => {
      const o = backend.normModulate(x.storage(), perSample.storage(), perSample.storage(), d, 1e-6);
      for (const st of [o.y, o.mean, o.rstd]) backend.free(st);
    });
    await measure('softmax backward (rows of 1152)' + tag, 12 * x.size, () => void backend.free(backend.softmaxBwd(x.storage(), x.storage(), x.shape)));
    // (no reduction in it: measured once)
    if (!tag) await measure('gated residual x + gate ⊙ y', 12 * used, () => void backend.free(backend.gatedAdd(x.storage(), perSample.storage(), x.storage(), d)));
    perSample.dispose();
    x.dispose();
  }
}
await rowOps('');
if (ctx.features.subgroupSize) {
  rowTuning.subgroups = false;
  await rowOps(' [tree]');
  rowTuning.subgroups = true;
}
await measure('sum over first axis ([N/1024, 1024] → [1024])', 4 * N + 4096, () => void raw.reduce('sum', a, 0));

// Launch cost: many tiny ops, each making a new tensor (every output a new buffer and bind group),
// then the same ops freeing as they go, as a repeated training step does (buffers and bind groups
// reused: engine/webgpu/bind-groups.ts). Wall time from the first record to completion.
const tiny = randn([4], { backend, generator: gen }).keep();
const K = quick ? 200 : 2000;
async function launchCost(reuse: boolean): Promise<Record<string, number>> {
  await backend.sync();
  const d0 = ctx.dispatches, s0 = ctx.submits, h0 = ctx.bindGroups.hits;
  const t0 = performance.now();
  scope(() => {
    let x = tiny;
    for (let i = 0; i < K; i++) {
      const y = raw.binary('add', x, tiny);
      if (reuse && x !== tiny) x.dispose();
      x = y;
    }
  });
  await backend.sync();
  const us = ((performance.now() - t0) * 1000) / K;
  return { ops: K, dispatches: ctx.dispatches - d0, submits: ctx.submits - s0, bindGroupHits: ctx.bindGroups.hits - h0, usPerOp: us };
}
await launchCost(true); // warm: pipelines, pool, bind groups
const launch = { fresh: await launchCost(false), reused: await launchCost(true) };
for (const [what, l] of Object.entries(launch)) {
  console.log(`tiny adds, ${what} outputs: ${l.ops} ops, ${l.dispatches} dispatches, ${l.submits} submits, ${l.bindGroupHits} bind groups reused, ${l.usPerOp!.toFixed(2)} µs per op (record + encode + GPU)`);
}
// Baseline: the faster of the two copies measured here.
const copyBw = Math.max(rows[0]!.GBps as number, rows[1]!.GBps as number);
for (const r of rows.slice(2)) r.fractionOfCopy = (r.GBps as number) / copyBw;
console.log(`copy bandwidth (baseline): ${copyBw.toFixed(0)} GB/s`);
console.log('fraction of copy bandwidth: ' + rows.slice(2).map((r) => `${r.op}: ${((r.fractionOfCopy as number) * 100).toFixed(0)}%`).join('; '));
writeResult(quick ? 'gpu-bandwidth-quick' : 'gpu-bandwidth', { device: backend.device, elements: N, rows, launch });
await closeBackends();
