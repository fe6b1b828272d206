/**
 * Flash attention, forward (Dao et al. 2022, "FlashAttention"; FA2, Dao 2023, Alg. 1), f32.
 * q [n,l,dqk], k [n,s,dqk], v [n,s,dv] → o [n,l,dv] and lse [n,l]; the l×s score matrix never
 * exists in memory.
 *
 * A workgroup owns BQ query rows of one head, one row per invocation (q·scale and the output
 * accumulator live in private arrays). It walks the keys in tiles of BK: the K and V tile are
 * staged in workgroup memory, each thread computes its BK scores s_j, and the online softmax
 * keeps the running max m and denominator ℓ:
 *   m' = max(m, max_j s_j),  ℓ' = ℓ·e^{m−m'} + Σ_j e^{s_j−m'},  acc' = acc·e^{m−m'} + Σ_j e^{s_j−m'} v_j.
 * At the end o = acc/ℓ and lse = m + log ℓ (what the backward recomputes P from).
 * Masked keys (past s in the last tile) are skipped; m starts at the finite sentinel −1e30
 * (WGSL may assume no infinities).
 */
import { uniforms, type GpuContext } from './context.ts';
import { forwardTiles } from './attention-tiles.ts';
import { grid, GROUP_INDEX_WGSL } from './grid.ts';

export interface AttentionShape {
  n: number;
  l: number;
  s: number;
  dqk: number;
  dv: number;
  scale: number;
}

function fwdCode(dqk: number, dv: number, bq: number, bk: number): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
struct U { n: u32, l: u32, s: u32, qBlocks: u32, scale: f32 }
@group(0) @binding(5) var<uniform> u: U;
const DQK = ${dqk}u;
const DV = ${dv}u;
const BQ = ${bq}u;
const BK = ${bk}u;
const NEG = -1e30;
var<workgroup> ks: array<f32, ${bk * dqk}>;
var<workgroup> vs: array<f32, ${bk * dv}>;
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${bq})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let h = g / u.qBlocks;
  if (h >= u.n) { return; }
  let i = (g % u.qBlocks) * BQ + lid;
  let row = h * u.l + min(i, u.l - 1u);
  var qr: array<f32, DQK>;
  for (var c = 0u; c < DQK; c++) { qr[c] = q[row * DQK + c] * u.scale; }
  var acc: array<f32, DV>;
  var sc: array<f32, BK>;
  var m = NEG;
  var den = 0.0;
  for (var kb = 0u; kb < u.s; kb += BK) {
    let nk = min(BK, u.s - kb);
    let base = h * u.s + kb;
    workgroupBarrier();
    for (var e = lid; e < nk * DQK; e += BQ) { ks[e] = k[base * DQK + e]; }
    for (var e = lid; e < nk * DV; e += BQ) { vs[e] = v[base * DV + e]; }
    workgroupBarrier();
    var tm = m;
    for (var j = 0u; j < nk; j++) {
      var a = 0.0;
      for (var c = 0u; c < DQK; c++) { a += qr[c] * ks[j * DQK + c]; }
      sc[j] = a;
      tm = max(tm, a);
    }
    let corr = exp(m - tm);
    den *= corr;
    for (var c = 0u; c < DV; c++) { acc[c] *= corr; }
    for (var j = 0u; j < nk; j++) {
      let p = exp(sc[j] - tm);
      den += p;
      for (var c = 0u; c < DV; c++) { acc[c] += p * vs[j * DV + c]; }
    }
    m = tm;
  }
  if (i < u.l) {
    let inv = 1.0 / den;
    for (var c = 0u; c < DV; c++) { o[row * DV + c] = acc[c] * inv; }
    lse[row] = m + log(den);
  }
}`;
}

export function encodeAttention(ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, d: AttentionShape): void {
  if (d.n === 0 || d.l === 0) return;
  const { bq, bk } = forwardTiles(d.l, d.dqk, d.dv, ctx.limits.maxComputeWorkgroupStorageSize);
  const qBlocks = Math.ceil(d.l / bq);
  ctx.dispatch({
    key: `attention/fwd/${d.dqk}x${d.dv}/q${bq}k${bk}`,
    code: fwdCode(d.dqk, d.dv, bq, bk),
    buffers: [q, k, v, o, lse],
    uniforms: uniforms([['u32', d.n], ['u32', d.l], ['u32', d.s], ['u32', qBlocks], ['f32', d.scale]]),
    workgroups: grid(ctx, d.n * qBlocks),
  });
}
