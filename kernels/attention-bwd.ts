/**
 * Flash attention, backward (FA2, Dao 2023, Alg. 2), f32, in three dispatches and no atomics:
 *   1. D_i = Σ_c dO_ic O_ic  (= Σ_j P_ij dP_ij, the softmax-Jacobian term), one thread per row.
 *   2. dK, dV: a workgroup owns a block of keys (one per thread, k_j and v_j kept in workgroup
 *      memory) and streams the queries in tiles (q, dO, lse, D staged); for each query i it
 *      recomputes P_ij = exp(scale·q_i·k_j − lse_i), dP_ij = dO_i·v_j, dS_ij = P_ij (dP_ij − D_i)
 *      and accumulates dV_j += P_ij dO_i, dK_j += dS_ij q_i (× scale at the end).
 *   3. dQ: a workgroup owns a block of queries (q_i, dO_i in workgroup memory) and streams the
 *      keys in tiles: dQ_i += dS_ij k_j (× scale at the end).
 * Every output row is written by exactly one invocation, so no atomics are needed; P and dS are
 * recomputed in both passes instead of being stored (l×s never in memory).
 */
import { uniforms, type GpuContext } from './context.ts';
import type { AttentionShape } from './attention.ts';
import { backwardTiles, padOdd } from './attention-tiles.ts';
import { grid, gridFor, GROUP_INDEX_WGSL, WG } from './grid.ts';

function rowDotCode(dv: number): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> dO: array<f32>;
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
struct U { rows: u32 }
@group(0) @binding(3) var<uniform> u: U;
const DV = ${dv}u;
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = groupIndex(wid, nwg) * ${WG}u + lid;
  if (r >= u.rows) { return; }
  var a = 0.0;
  for (var c = 0u; c < DV; c++) { a += dO[r * DV + c] * o[r * DV + c]; }
  D[r] = a;
}`;
}

const HEADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> dO: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> D: array<f32>;`;

/** Pass 2: dK and dV, `own` keys per workgroup, query tiles of `tile`. */
function dkdvCode(dqk: number, dv: number, own: number, tile: number): string {
  const KP = padOdd(dqk), VP = padOdd(dv);
  return /* wgsl */ `${HEADER}
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dvo: array<f32>;
struct U { n: u32, l: u32, s: u32, blocks: u32, scale: f32 }
@group(0) @binding(8) var<uniform> u: U;
const DQK = ${dqk}u;
const DV = ${dv}u;
const KP = ${KP}u;
const VP = ${VP}u;
const OWN = ${own}u;
const TILE = ${tile}u;
var<workgroup> kself: array<f32, ${own * KP}>;
var<workgroup> vself: array<f32, ${own * VP}>;
var<workgroup> qt: array<f32, ${tile * dqk}>;
var<workgroup> gt: array<f32, ${tile * dv}>;
var<workgroup> lt: array<f32, ${tile}>;
var<workgroup> dt: array<f32, ${tile}>;
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${own})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let h = g / u.blocks;
  if (h >= u.n) { return; }
  let j = (g % u.blocks) * OWN + lid;
  let key = h * u.s + min(j, u.s - 1u);
  for (var c = 0u; c < DQK; c++) { kself[lid * KP + c] = k[key * DQK + c]; }
  for (var c = 0u; c < DV; c++) { vself[lid * VP + c] = v[key * DV + c]; }
  var adk: array<f32, DQK>;
  var adv: array<f32, DV>;
  for (var qb = 0u; qb < u.l; qb += TILE) {
    let nq = min(TILE, u.l - qb);
    let base = h * u.l + qb;
    workgroupBarrier();
    for (var e = lid; e < nq * DQK; e += OWN) { qt[e] = q[base * DQK + e]; }
    for (var e = lid; e < nq * DV; e += OWN) { gt[e] = dO[base * DV + e]; }
    for (var e = lid; e < nq; e += OWN) { lt[e] = lse[base + e]; dt[e] = D[base + e]; }
    workgroupBarrier();
    for (var i = 0u; i < nq; i++) {
      var s = 0.0;
      for (var c = 0u; c < DQK; c++) { s += qt[i * DQK + c] * kself[lid * KP + c]; }
      let p = exp(s * u.scale - lt[i]);
      var dp = 0.0;
      for (var c = 0u; c < DV; c++) {
        let go = gt[i * DV + c];
        dp += go * vself[lid * VP + c];
        adv[c] += p * go;
      }
      let ds = p * (dp - dt[i]);
      for (var c = 0u; c < DQK; c++) { adk[c] += ds * qt[i * DQK + c]; }
    }
  }
  if (j < u.s) {
    for (var c = 0u; c < DQK; c++) { dk[key * DQK + c] = adk[c] * u.scale; }
    for (var c = 0u; c < DV; c++) { dvo[key * DV + c] = adv[c]; }
  }
}`;
}

/** Pass 3: dQ, `own` queries per workgroup, key tiles of `tile`. */
function dqCode(dqk: number, dv: number, own: number, tile: number): string {
  const KP = padOdd(dqk), VP = padOdd(dv);
  return /* wgsl */ `${HEADER}
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
struct U { n: u32, l: u32, s: u32, blocks: u32, scale: f32 }
@group(0) @binding(7) var<uniform> u: U;
const DQK = ${dqk}u;
const DV = ${dv}u;
const KP = ${KP}u;
const VP = ${VP}u;
const OWN = ${own}u;
const TILE = ${tile}u;
var<workgroup> qself: array<f32, ${own * KP}>;
var<workgroup> gself: array<f32, ${own * VP}>;
var<workgroup> kt: array<f32, ${tile * dqk}>;
var<workgroup> vt: array<f32, ${tile * dv}>;
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${own})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let h = g / u.blocks;
  if (h >= u.n) { return; }
  let i = (g % u.blocks) * OWN + lid;
  let row = h * u.l + min(i, u.l - 1u);
  for (var c = 0u; c < DQK; c++) { qself[lid * KP + c] = q[row * DQK + c]; }
  for (var c = 0u; c < DV; c++) { gself[lid * VP + c] = dO[row * DV + c]; }
  let li = lse[row];
  let di = D[row];
  var adq: array<f32, DQK>;
  for (var kb = 0u; kb < u.s; kb += TILE) {
    let nk = min(TILE, u.s - kb);
    let base = h * u.s + kb;
    workgroupBarrier();
    for (var e = lid; e < nk * DQK; e += OWN) { kt[e] = k[base * DQK + e]; }
    for (var e = lid; e < nk * DV; e += OWN) { vt[e] = v[base * DV + e]; }
    workgroupBarrier();
    for (var j = 0u; j < nk; j++) {
      var s = 0.0;
      for (var c = 0u; c < DQK; c++) { s += qself[lid * KP + c] * kt[j * DQK + c]; }
      let p = exp(s * u.scale - li);
      var dp = 0.0;
      for (var c = 0u; c < DV; c++) { dp += gself[lid * VP + c] * vt[j * DV + c]; }
      let ds = p * (dp - di);
      for (var c = 0u; c < DQK; c++) { adq[c] += ds * kt[j * DQK + c]; }
    }
  }
  if (i < u.l) {
    for (var c = 0u; c < DQK; c++) { dq[row * DQK + c] = adq[c] * u.scale; }
  }
}`;
}

export interface AttentionBwdBuffers {
  dq: GPUBuffer;
  dk: GPUBuffer;
  dv: GPUBuffer;
}

export function encodeAttentionBwd(
  ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, dO: GPUBuffer,
  out: AttentionBwdBuffers, d: AttentionShape,
): void {
  const { n, l, s, dqk, dv } = d;
  if (n === 0 || l === 0 || s === 0) return;
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const D = ctx.scratch(n * l * 4);
  ctx.dispatch({
    key: `attention/bwd-rowdot/${dv}`,
    code: rowDotCode(dv),
    buffers: [dO, o, D],
    uniforms: uniforms([['u32', n * l]]),
    workgroups: gridFor(ctx, n * l),
  });
  const ins = [q, k, v, dO, lse, D];
  const kv = backwardTiles(s, dqk, dv, limit);
  const kBlocks = Math.ceil(s / kv.own);
  ctx.dispatch({
    key: `attention/bwd-dkdv/${dqk}x${dv}/o${kv.own}t${kv.tile}`,
    code: dkdvCode(dqk, dv, kv.own, kv.tile),
    buffers: [...ins, out.dk, out.dv],
    uniforms: uniforms([['u32', n], ['u32', l], ['u32', s], ['u32', kBlocks], ['f32', d.scale]]),
    workgroups: grid(ctx, n * kBlocks),
  });
  const qt = backwardTiles(l, dqk, dv, limit);
  const qBlocks = Math.ceil(l / qt.own);
  ctx.dispatch({
    key: `attention/bwd-dq/${dqk}x${dv}/o${qt.own}t${qt.tile}`,
    code: dqCode(dqk, dv, qt.own, qt.tile),
    buffers: [...ins, out.dq],
    uniforms: uniforms([['u32', n], ['u32', l], ['u32', s], ['u32', qBlocks], ['f32', d.scale]]),
    workgroups: grid(ctx, n * qBlocks),
  });
}
