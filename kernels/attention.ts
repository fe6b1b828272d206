/**
 * Flash attention, forward (Dao et al. 2022, "FlashAttention"; FA2, Dao 2023, Alg. 1), f32.
 * q [n,l,dqk], k [n,s,dqk], v [n,s,dv] → o [n,l,dv] and lse [n,l]; the l×s score matrix never
 * exists in memory. Rows are found through attention-layout.ts (contiguous, or heads read in place).
 *
 * A workgroup owns bq query rows of one head (q·scale staged in workgroup memory) and walks the
 * keys in tiles of bk (K and V staged cooperatively, vec4). Layout and register blocking as in
 * attention-tiles.ts: invocation (rg, kg) computes the scores of its 4 rows × bk/8 keys, the row
 * maxima of the tile are combined through workgroup memory (8 partials per row), then the online
 * softmax (Milakov & Gimelshein 2018) rescales: m' = max(m, tile max), ℓ ← ℓ·e^{m−m'},
 * acc ← acc·e^{m−m'}, P = e^{S−m'} (written to workgroup memory), and acc += P·V for its 4 rows ×
 * vec4 columns kg, kg + 8, …. Each invocation keeps a partial ℓ over its own keys (all rescaled
 * alike); they are summed at the end: o = acc/ℓ, lse = m + log ℓ (what the backward recomputes
 * P from). Masked keys (past s in the last tile) get score −1e30 (m starts at that finite
 * sentinel: WGSL may assume no infinities), so e^{S−m'} = 0.
 */
import { uniforms, type GpuContext } from './context.ts';
import {
  accumulateKey, accumulateRows, batchedStaging, colGuard, elemType, inputLoadersWgsl, layoutOf, maxOf, oddStride, pickTiles, rep, scoreStride, stagedTile, stageNow, stageStreamed, stagingKey,
  storerWgsl, tilesName, vec4s, type Tiles,
} from './attention-tiles.ts';
import { headBasesWgsl, layoutUniforms, LAYOUT_FIELDS, rowAtWgsl, rowIO, rowIOKey, type AttentionLayout, type RowIO } from './attention-layout.ts';
import { grid, GROUP_INDEX_WGSL } from './grid.ts';
import { tripCount, tripCountKey } from './loop-bound.ts';

export interface AttentionShape {
  n: number;
  l: number;
  s: number;
  dqk: number;
  dv: number;
  scale: number;
  /** Where the operands' rows lie (attention-layout.ts); absent: contiguous [n, len, d]. */
  layout?: AttentionLayout;
}

function fwdCode(dqk: number, dv: number, tiles: Tiles, io: RowIO, sw: boolean): string {
  const { bq, bk } = tiles;
  const { TR, KG, RG, NT } = layoutOf(tiles);
  const Q4 = vec4s(dqk), V4 = vec4s(dv), KS = oddStride(Q4), PS = scoreStride(bq);
  const KPT = bk / KG, NCV = Math.ceil(V4 / KG);
  const S = (i: number, j: number): string => `s${i * KPT + j}`;
  const A = (i: number, jj: number): string => `a${i * NCV + jj}`;
  const bt = batchedStaging(sw);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<${elemType(io.vq)}>;
@group(0) @binding(1) var<storage, read> k: array<${elemType(io.vq)}>;
@group(0) @binding(2) var<storage, read> v: array<${elemType(io.vv)}>;
@group(0) @binding(3) var<storage, read_write> o: array<${elemType(io.vv)}>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
struct U { n: u32, l: u32, s: u32, qBlocks: u32, scale: f32, zero: u32, ${LAYOUT_FIELDS} }
@group(0) @binding(5) var<uniform> u: U;
const NEG = -1e30;
var<workgroup> qs: array<vec4<f32>, ${bq * Q4}>;
var<workgroup> ks: array<vec4<f32>, ${bk * KS}>;
var<workgroup> vs: array<vec4<f32>, ${bk * V4}>;
var<workgroup> ps: array<f32, ${bk * PS}>;
var<workgroup> red: array<f32, ${KG * PS}>;
${inputLoadersWgsl(dqk, dv, io, false)}
${rowAtWgsl('o', 'o', 'u.l', dv, io.vv ? 4 : 1, io.strided)}
${storerWgsl('o', dv, io.vv)}
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let h = g / u.qBlocks;
  if (h >= u.n) { return; }
  let q0 = (g % u.qBlocks) * ${bq}u;
  let kg = lid % ${KG}u;
  let rg = lid / ${KG}u;
  // Where this head's rows start (the strided layouts divide here once, not per load).
  ${headBasesWgsl(['q', 'k', 'v', 'o'])}
  ${stageNow([stagedTile('qs', 'q', dqk, bq, Q4, NT, bt, ' * u.scale')], 'q0', 'u.l - q0')}
  ${rep(TR, (i) => `var m${i} = NEG; var den${i} = 0.0;`)}
  ${rep(TR * NCV, (x) => `var a${x} = vec4<f32>(0.0);`)}
  for (var kb = 0u; kb < u.s; kb += ${bk}u) {
    let nk = min(${bk}u, u.s - kb);
    ${stageStreamed([stagedTile('ks', 'k', dqk, bk, KS, NT, bt), stagedTile('vs', 'v', dv, bk, V4, NT, bt)], 'kb', 'nk', bt)}
    ${rep(TR * KPT, (x) => `var s${x} = 0.0;`)}
    for (var c = 0u; c < ${tripCount(Q4, sw)}; c++) {
      ${rep(TR, (i) => `let x${i} = qs[(rg + ${RG * i}u) * ${Q4}u + c];`)}
      ${rep(KPT, (j) => `{ let y = ks[(kg + ${KG * j}u) * ${KS}u + c]; ${rep(TR, (i) => `${S(i, j)} += dot(x${i}, y);`, ' ')} }`)}
    }
    ${rep(KPT, (j) => `if (kg + ${KG * j}u >= nk) { ${rep(TR, (i) => `${S(i, j)} = NEG;`, ' ')} }`)}
    ${rep(TR, (i) => `red[kg * ${PS}u + rg + ${RG * i}u] = ${maxOf(rep(KPT, (j) => S(i, j), ',').split(','))};`)}
    workgroupBarrier();
    ${rep(TR, (i) => `{
      let row = rg + ${RG * i}u;
      var mn = m${i};
      for (var g2 = 0u; g2 < ${KG}u; g2++) { mn = max(mn, red[g2 * ${PS}u + row]); }
      let corr = exp(m${i} - mn);
      m${i} = mn;
      den${i} *= corr;
      ${rep(NCV, (jj) => `${A(i, jj)} *= corr;`, ' ')}
      ${rep(KPT, (j) => `{ let p = exp(${S(i, j)} - mn); den${i} += p; ps[(kg + ${KG * j}u) * ${PS}u + row] = p; }`, '\n      ')}
    }`)}
    workgroupBarrier();
    for (var t = 0u; t < ${accumulateRows('fwd', bk, 'nk', sw)}; t++) {
      ${rep(TR, (i) => `let p${i} = ps[t * ${PS}u + rg + ${RG * i}u];`)}
      ${rep(NCV, (jj) => `${colGuard(jj, V4, KG)}{ let y = vs[t * ${V4}u + kg + ${KG * jj}u]; ${rep(TR, (i) => `${A(i, jj)} += p${i} * y;`, ' ')} }`, '\n      ')}
    }
  }
  workgroupBarrier();
  ${rep(TR, (i) => `red[kg * ${PS}u + rg + ${RG * i}u] = den${i};`)}
  workgroupBarrier();
  ${rep(TR, (i) => `{
    let row = rg + ${RG * i}u;
    if (q0 + row < u.l) {
      var tot = 0.0;
      for (var g2 = 0u; g2 < ${KG}u; g2++) { tot += red[g2 * ${PS}u + row]; }
      let inv = 1.0 / tot;
      let orow = h * u.l + q0 + row;
      let oat = row_o(oBase, q0 + row);
      ${rep(NCV, (jj) => `${colGuard(jj, V4, KG)}{ st_o(oat, kg + ${KG * jj}u, ${A(i, jj)} * inv); }`, '\n      ')}
      if (kg == 0u) { lse[orow] = m${i} + log(tot); }
    }
  }`)}
}`;
}

export function encodeAttention(ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, d: AttentionShape): void {
  if (d.n === 0 || d.l === 0) return;
  const t = pickTiles('fwd', d.l, d.s, d.dqk, d.dv, ctx.limits.maxComputeWorkgroupStorageSize, ctx.features.software);
  const qBlocks = Math.ceil(d.l / t.bq);
  const io = rowIO(d);
  const sw = ctx.features.software;
  ctx.dispatch({
    key: `attention/fwd/${d.dqk}x${d.dv}/${tilesName(t)}${rowIOKey(io)}${tripCountKey(sw)}${stagingKey(sw)}${accumulateKey('fwd')}`,
    code: () => fwdCode(d.dqk, d.dv, t, io, sw),
    buffers: [q, k, v, o, lse],
    uniforms: uniforms([['u32', d.n], ['u32', d.l], ['u32', d.s], ['u32', qBlocks], ['f32', d.scale], ['u32', 0], ...layoutUniforms(d)]),
    workgroups: grid(ctx, d.n * qBlocks),
  });
}
