/**
 * Flash attention, forward (Dao et al. 2022, "FlashAttention"; FA2, Dao 2023, Alg. 1), f32.
 * q [n,l,dqk], k [n,s,dqk], v [n,s,dv] → o [n,l,dv] and lse [n,l]; the l×s score matrix never
 * exists in memory.
 *
 * A workgroup owns BQ query rows of one head, one row per invocation (q·scale and the output
 * accumulator live in private arrays, as vec4 where the head dim allows). It walks the keys in tiles of BK: the K and V tile are
 * staged in workgroup memory, and each thread runs the online softmax (Milakov & Gimelshein
 * 2018) over the keys one by one, keeping the running max m, denominator ℓ and accumulator:
 *   for each score a = scale·q·k_j:  if a > m { ℓ ← ℓ·e^{m−a}; acc ← acc·e^{m−a}; m ← a }
 *                                    ℓ ← ℓ + e^{a−m};  acc ← acc + e^{a−m} v_j.
 * The rescale runs only when the max grows (O(log s) times per row for random scores), and no
 * per-tile score array is needed: q, acc stay in registers (constant-bound loops unroll).
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

/** Vector width of a head dim: vec4 loads (4 FMAs per workgroup-memory read) when it divides. */
const widthOf = (d: number): 1 | 4 => (d % 4 === 0 ? 4 : 1);

function fwdCode(dqk: number, dv: number, bq: number, bk: number): string {
  const wq = widthOf(dqk), wv = widthOf(dv);
  const TQ = wq === 4 ? 'vec4<f32>' : 'f32', TV = wv === 4 ? 'vec4<f32>' : 'f32';
  const NQ = dqk / wq, NV = dv / wv;
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<${TQ}>;
@group(0) @binding(1) var<storage, read> k: array<${TQ}>;
@group(0) @binding(2) var<storage, read> v: array<${TV}>;
@group(0) @binding(3) var<storage, read_write> o: array<${TV}>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
struct U { n: u32, l: u32, s: u32, qBlocks: u32, scale: f32 }
@group(0) @binding(5) var<uniform> u: U;
// Head dims in units of ${TQ} (q, k) and ${TV} (v, o).
const NQ = ${NQ}u;
const NV = ${NV}u;
const BQ = ${bq}u;
const BK = ${bk}u;
const NEG = -1e30;
var<workgroup> ks: array<${TQ}, ${bk * NQ}>;
var<workgroup> vs: array<${TV}, ${bk * NV}>;
fn dotq(a: ${TQ}, b: ${TQ}) -> f32 { return ${wq === 4 ? 'dot(a, b)' : 'a * b'}; }
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${bq})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let h = g / u.qBlocks;
  if (h >= u.n) { return; }
  let i = (g % u.qBlocks) * BQ + lid;
  let row = h * u.l + min(i, u.l - 1u);
  var qr: array<${TQ}, NQ>;
  for (var c = 0u; c < NQ; c++) { qr[c] = q[row * NQ + c] * u.scale; }
  var acc: array<${TV}, NV>;
  var m = NEG;
  var den = 0.0;
  for (var kb = 0u; kb < u.s; kb += BK) {
    let nk = min(BK, u.s - kb);
    let base = h * u.s + kb;
    workgroupBarrier();
    for (var e = lid; e < nk * NQ; e += BQ) { ks[e] = k[base * NQ + e]; }
    for (var e = lid; e < nk * NV; e += BQ) { vs[e] = v[base * NV + e]; }
    workgroupBarrier();
    for (var j = 0u; j < nk; j++) {
      var a = 0.0;
      for (var c = 0u; c < NQ; c++) { a += dotq(qr[c], ks[j * NQ + c]); }
      if (a > m) {
        let corr = exp(m - a);
        den *= corr;
        for (var c = 0u; c < NV; c++) { acc[c] *= corr; }
        m = a;
      }
      let p = exp(a - m);
      den += p;
      for (var c = 0u; c < NV; c++) { acc[c] += p * vs[j * NV + c]; }
    }
  }
  if (i < u.l) {
    let inv = 1.0 / den;
    for (var c = 0u; c < NV; c++) { o[row * NV + c] = acc[c] * inv; }
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
