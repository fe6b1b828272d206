/**
 * Flash attention, backward (FA2, Dao 2023, Alg. 2), f32, in three dispatches and no atomics:
 *   1. D_i = Σ_c dO_ic O_ic  (= Σ_j P_ij dP_ij, the softmax-Jacobian term), one thread per row.
 *   2. dQ: a workgroup owns a block of queries (q, dO staged; lse, D in registers) and streams
 *      the keys in tiles (K, V staged): S = Q Kᵀ, dP = dO Vᵀ for a 4 × bk/8 register block per
 *      invocation, dS = P∘(dP − D) with P = exp(scale·S − lse) written to workgroup memory, then
 *      dQ += dS K (4 rows × vec4 columns per invocation; × scale at the end).
 *   3. dK, dV: a workgroup owns a block of keys (k, v staged) and streams the queries in tiles
 *      (q, dO, lse, D staged): Sᵀ = K Qᵀ, dPᵀ = V dOᵀ, P and dS to workgroup memory, then
 *      dV += Pᵀ dO and dK += dSᵀ Q (× scale at the end).
 * Tiles and register blocking as in attention-tiles.ts. Every output row is written by exactly
 * one workgroup, so no atomics are needed; P and dS are recomputed in both passes instead of
 * being stored (l×s never in memory).
 */
import { uniforms, type GpuContext } from './context.ts';
import type { AttentionShape } from './attention.ts';
import {
  accumulateKey, accumulateRows, aliasedVec4s, attentionTuning, batchedStaging, colGuard, elemType, inputLoadersWgsl, layoutOf, oddStride, pickTiles, rep, scoreStride, stagedTile, stageNow, stageStreamed,
  stagingKey, storerWgsl, tilesName, vec4s, type Tiles,
} from './attention-tiles.ts';
import { headBasesWgsl, layoutUniforms, LAYOUT_FIELDS, rowAtWgsl, rowIO, rowIOKey, type RowIO } from './attention-layout.ts';
import { grid, gridFor, GROUP_INDEX_WGSL, WG } from './grid.ts';
import { tripCount, tripCountKey } from './loop-bound.ts';

/** D[r] = Σ_c dO[r, c]·o[r, c] over the rows of o's layout (one invocation per row). */
function rowDotCode(dv: number, io: RowIO): string {
  const T = elemType(io.vv), N = io.vv ? dv / 4 : dv, W = io.vv ? 4 : 1;
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> dO: array<${T}>;
@group(0) @binding(1) var<storage, read> o: array<${T}>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
struct U { rows: u32, l: u32, ${LAYOUT_FIELDS} }
@group(0) @binding(3) var<uniform> u: U;
${rowAtWgsl('dO', 'o', 'u.l', dv, W, io.strided)}
${rowAtWgsl('o', 'o', 'u.l', dv, W, io.strided)}
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = groupIndex(wid, nwg) * ${WG}u + lid;
  if (r >= u.rows) { return; }
  let bg = at_dO(r);
  let bo = at_o(r);
  var a = ${T}(0.0);
  for (var c = 0u; c < ${N}u; c++) { a += dO[bg + c] * o[bo + c]; }
  D[r] = ${io.vv ? 'dot(a, vec4<f32>(1.0))' : 'a'};
}`;
}

/** Bindings, row addressing and loaders shared by the dQ and dK/dV kernels. */
const HEADER = (dqk: number, dv: number, io: RowIO): string => /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<${elemType(io.vq)}>;
@group(0) @binding(1) var<storage, read> k: array<${elemType(io.vq)}>;
@group(0) @binding(2) var<storage, read> v: array<${elemType(io.vv)}>;
@group(0) @binding(3) var<storage, read> dO: array<${elemType(io.vv)}>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> D: array<f32>;
${inputLoadersWgsl(dqk, dv, io, true)}
${GROUP_INDEX_WGSL}`;

/**
 * Score phase shared by both passes: s_ij = A_i·B_j over `d4` vec4s, for the invocation's 4 block
 * rows (array `own`, stride d4) × its bk/8 tile rows (array `tile`, stride `ts`).
 */
function dots(out: string, own: string, tile: string, d4: number, ts: number, { TR, KG, RG }: ReturnType<typeof layoutOf>, KPT: number, sw: boolean): string {
  return `${rep(TR * KPT, (x) => `var ${out}${x} = 0.0;`)}
  for (var c = 0u; c < ${tripCount(d4, sw)}; c++) {
    ${rep(TR, (i) => `let x${i} = ${own}[(rg + ${RG * i}u) * ${d4}u + c];`, '\n    ')}
    ${rep(KPT, (j) => `{ let y = ${tile}[(kg + ${KG * j}u) * ${ts}u + c]; ${rep(TR, (i) => `${out}${i * KPT + j} += dot(x${i}, y);`, ' ')} }`, '\n    ')}
  }`;
}

/** Pass 2: dQ, bq queries per workgroup, key tiles of bk. */
function dqCode(dqk: number, dv: number, tiles: Tiles, io: RowIO, sw: boolean): string {
  const { bq, bk } = tiles;
  const lay = layoutOf(tiles), { TR, KG, RG, NT } = lay;
  const Q4 = vec4s(dqk), V4 = vec4s(dv), KS = oddStride(Q4), VS = oddStride(V4), PS = scoreStride(bq);
  const KPT = bk / KG, NC = Math.ceil(Q4 / KG);
  const bt = batchedStaging(sw);
  // dS element x of the [tile row][block row] score array: its own array, or (aliased) the V tile's
  // memory read as scalars, written once the score phase is done with V (a barrier before).
  const al = tiles.alias === true;
  const psAt = (x: string): string => (al ? `vs[(${x}) >> 2u][(${x}) & 3u]` : `ps[${x}]`);
  // Score x = i·KPT + j of the invocation's register block: block row rg + RG·i, tile row kg + KG·j.
  const dsAt = (x: number): string => `(kg + ${KG * (x % KPT)}u) * ${PS}u + rg + ${RG * Math.floor(x / KPT)}u`;
  const dsVal = (x: number): string => {
    const i = Math.floor(x / KPT);
    return `select(0.0, exp(s${x} * u.scale - l${i}) * (p${x} - d${i}), kg + ${KG * (x % KPT)}u < nk)`;
  };
  const dsStores = al
    ? `${rep(TR * KPT, (x) => `let w${x} = ${dsVal(x)};`, '\n    ')}
    workgroupBarrier();
    ${rep(TR * KPT, (x) => `${psAt(dsAt(x))} = w${x};`, '\n    ')}`
    : rep(TR * KPT, (x) => `${psAt(dsAt(x))} = ${dsVal(x)};`, '\n    ');
  return /* wgsl */ `${HEADER(dqk, dv, io)}
@group(0) @binding(6) var<storage, read_write> dq: array<${elemType(io.vq)}>;
struct U { n: u32, l: u32, s: u32, blocks: u32, scale: f32, zero: u32, ${LAYOUT_FIELDS} }
@group(0) @binding(7) var<uniform> u: U;
${rowAtWgsl('dq', 'q', 'u.l', dqk, io.vq ? 4 : 1, io.strided)}
var<workgroup> qs: array<vec4<f32>, ${bq * Q4}>;
var<workgroup> gs: array<vec4<f32>, ${bq * V4}>;
var<workgroup> ks: array<vec4<f32>, ${bk * KS}>;
var<workgroup> vs: array<vec4<f32>, ${al ? aliasedVec4s(tiles, dv) : bk * VS}>;
${al ? '' : `var<workgroup> ps: array<f32, ${bk * PS}>;`}
${storerWgsl('dq', dqk, io.vq)}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let h = g / u.blocks;
  if (h >= u.n) { return; }
  let q0 = (g % u.blocks) * ${bq}u;
  let kg = lid % ${KG}u;
  let rg = lid / ${KG}u;
  ${headBasesWgsl(['q', 'dO', 'k', 'v', 'dq'])}
  ${stageNow([stagedTile('qs', 'q', dqk, bq, Q4, NT, bt), stagedTile('gs', 'dO', dv, bq, V4, NT, bt)], 'q0', 'u.l - q0')}
  ${rep(TR, (i) => `let r${i} = h * u.l + min(q0 + rg + ${RG * i}u, u.l - 1u); let l${i} = lse[r${i}]; let d${i} = D[r${i}];`)}
  ${rep(TR * NC, (x) => `var a${x} = vec4<f32>(0.0);`)}
  for (var kb = 0u; kb < u.s; kb += ${bk}u) {
    let nk = min(${bk}u, u.s - kb);
    ${stageStreamed([stagedTile('ks', 'k', dqk, bk, KS, NT, bt), stagedTile('vs', 'v', dv, bk, VS, NT, bt)], 'kb', 'nk', bt)}
    ${dots('s', 'qs', 'ks', Q4, KS, lay, KPT, sw)}
    ${dots('p', 'gs', 'vs', V4, VS, lay, KPT, sw)}
    ${dsStores}
    workgroupBarrier();
    for (var t = 0u; t < ${accumulateRows('dq', bk, 'nk', sw)}; t++) {
      ${rep(TR, (i) => `let e${i} = ${psAt(`t * ${PS}u + rg + ${RG * i}u`)};`, '\n      ')}
      ${rep(NC, (jj) => `${colGuard(jj, Q4, KG)}{ let y = ks[t * ${KS}u + kg + ${KG * jj}u]; ${rep(TR, (i) => `a${i * NC + jj} += e${i} * y;`, ' ')} }`, '\n      ')}
    }
  }
  ${rep(TR, (i) => `if (q0 + rg + ${RG * i}u < u.l) {
    let at = row_dq(dqBase, q0 + rg + ${RG * i}u);
    ${rep(NC, (jj) => `${colGuard(jj, Q4, KG)}{ st_dq(at, kg + ${KG * jj}u, a${i * NC + jj} * u.scale); }`, '\n    ')}
  }`)}
}`;
}

/**
 * Pass 3: dK and dV, bq keys per workgroup, query tiles of bk. `packed`: dk and dv are columns of
 * one buffer (a packed dqkv), bound once as `dkv` (WebGPU forbids two writable bindings of it).
 */
function dkdvCode(dqk: number, dv: number, tiles: Tiles, io: RowIO, packed: boolean, sw: boolean): string {
  const { bq, bk } = tiles;
  const lay = layoutOf(tiles), { TR, KG, RG, NT } = lay;
  const Q4 = vec4s(dqk), V4 = vec4s(dv), QS = oddStride(Q4), GS = oddStride(V4), PS = scoreStride(bq);
  const KPT = bk / KG, NCK = Math.ceil(Q4 / KG), NCV = Math.ceil(V4 / KG);
  const LR = Math.ceil(bk / NT); // rounds of the tile's lse and D loads
  const bt = batchedStaging(sw);
  if (packed && io.vq !== io.vv) throw new Error('attention: packed q, k, v need one row layout for dk and dv (encodeAttentionBwd reads both as scalars then)');
  const outs = packed
    ? `@group(0) @binding(6) var<storage, read_write> dkv: array<${elemType(io.vq)}>;`
    : `@group(0) @binding(6) var<storage, read_write> dk: array<${elemType(io.vq)}>;
@group(0) @binding(7) var<storage, read_write> dvo: array<${elemType(io.vv)}>;`;
  return /* wgsl */ `${HEADER(dqk, dv, io)}
${outs}
struct U { n: u32, l: u32, s: u32, blocks: u32, scale: f32, zero: u32, ${LAYOUT_FIELDS} }
@group(0) @binding(${packed ? 7 : 8}) var<uniform> u: U;
${rowAtWgsl('dk', 'k', 'u.s', dqk, io.vq ? 4 : 1, io.strided)}
${rowAtWgsl('dvo', 'v', 'u.s', dv, io.vv ? 4 : 1, io.strided)}
var<workgroup> kso: array<vec4<f32>, ${bq * Q4}>;
var<workgroup> vso: array<vec4<f32>, ${bq * V4}>;
var<workgroup> qt: array<vec4<f32>, ${bk * QS}>;
var<workgroup> gt: array<vec4<f32>, ${bk * GS}>;
var<workgroup> lt: array<f32, ${bk}>;
var<workgroup> dt: array<f32, ${bk}>;
var<workgroup> ps: array<f32, ${bk * PS}>;
var<workgroup> dss: array<f32, ${bk * PS}>;
${storerWgsl('dk', dqk, io.vq, packed ? 'dkv' : 'dk')}
${storerWgsl('dvo', dv, io.vv, packed ? 'dkv' : 'dvo')}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let h = g / u.blocks;
  if (h >= u.n) { return; }
  let k0 = (g % u.blocks) * ${bq}u;
  let kg = lid % ${KG}u;
  let rg = lid / ${KG}u;
  ${headBasesWgsl(['q', 'dO', 'k', 'v', 'dk', 'dvo'])}
  ${stageNow([stagedTile('kso', 'k', dqk, bq, Q4, NT, bt), stagedTile('vso', 'v', dv, bq, V4, NT, bt)], 'k0', 'u.s - k0')}
  ${rep(TR * NCK, (x) => `var a${x} = vec4<f32>(0.0);`)}
  ${rep(TR * NCV, (x) => `var b${x} = vec4<f32>(0.0);`)}
  for (var qb = 0u; qb < u.l; qb += ${bk}u) {
    let nq = min(${bk}u, u.l - qb);
    ${stageStreamed([stagedTile('qt', 'q', dqk, bk, QS, NT, bt), stagedTile('gt', 'dO', dv, bk, GS, NT, bt), {
      load: () => rep(LR, (i) => `let le${i} = lid + ${i * NT}u; let lr${i} = h * u.l + qb + min(le${i}, nq - 1u); let lv${i} = lse[lr${i}]; let dl${i} = D[lr${i}];`, '\n    '),
      store: rep(LR, (i) => `${(i + 1) * NT > bk ? `if (le${i} < ${bk}u) ` : ''}{ lt[le${i}] = lv${i}; dt[le${i}] = dl${i}; }`, '\n    '),
    }], 'qb', 'nq', bt)}
    ${dots('s', 'kso', 'qt', Q4, QS, lay, KPT, sw)}
    ${dots('p', 'vso', 'gt', V4, GS, lay, KPT, sw)}
    ${rep(KPT, (j) => `{
      let ok = kg + ${KG * j}u < nq;
      let lj = lt[kg + ${KG * j}u];
      let dj = dt[kg + ${KG * j}u];
      ${rep(TR, (i) => `{ let pp = select(0.0, exp(s${i * KPT + j} * u.scale - lj), ok); let at = (kg + ${KG * j}u) * ${PS}u + rg + ${RG * i}u; ps[at] = pp; dss[at] = pp * (p${i * KPT + j} - dj); }`, '\n      ')}
    }`)}
    workgroupBarrier();
    for (var t = 0u; t < ${accumulateRows('dkdv', bk, 'nq', sw)}; t++) {
      ${rep(TR, (i) => `let e${i} = ps[t * ${PS}u + rg + ${RG * i}u]; let f${i} = dss[t * ${PS}u + rg + ${RG * i}u];`, '\n      ')}
      ${rep(NCV, (jj) => `${colGuard(jj, V4, KG)}{ let y = gt[t * ${GS}u + kg + ${KG * jj}u]; ${rep(TR, (i) => `b${i * NCV + jj} += e${i} * y;`, ' ')} }`, '\n      ')}
      ${rep(NCK, (jj) => `${colGuard(jj, Q4, KG)}{ let y = qt[t * ${QS}u + kg + ${KG * jj}u]; ${rep(TR, (i) => `a${i * NCK + jj} += f${i} * y;`, ' ')} }`, '\n      ')}
    }
  }
  ${rep(TR, (i) => `if (k0 + rg + ${RG * i}u < u.s) {
    let r = k0 + rg + ${RG * i}u;
    let ak = row_dk(dkBase, r);
    let av = row_dvo(dvoBase, r);
    ${rep(NCK, (jj) => `${colGuard(jj, Q4, KG)}{ st_dk(ak, kg + ${KG * jj}u, a${i * NCK + jj} * u.scale); }`, '\n    ')}
    ${rep(NCV, (jj) => `${colGuard(jj, V4, KG)}{ st_dvo(av, kg + ${KG * jj}u, b${i * NCV + jj}); }`, '\n    ')}
  }`)}
}`;
}

/** Pass 1 alone: D[r] = Σ_c dO[r,c]·o[r,c] over the n·l rows of o (shared with the mixed kernels). */
export function encodeRowDot(ctx: GpuContext, dO: GPUBuffer, o: GPUBuffer, D: GPUBuffer, d: AttentionShape): void {
  const rows = d.n * d.l;
  const io = rowIO(d);
  ctx.dispatch({
    key: `attention/bwd-rowdot/${d.dv}${rowIOKey(io)}`,
    code: () => rowDotCode(d.dv, io),
    buffers: [dO, o, D],
    uniforms: uniforms([['u32', rows], ['u32', d.l], ...layoutUniforms(d)]),
    workgroups: gridFor(ctx, rows),
  });
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
  const passes = attentionTuning.bwdPasses ?? ['rowdot', 'dq', 'dkdv'];
  const D = ctx.scratch(n * l * 4);
  if (passes.includes('rowdot')) encodeRowDot(ctx, dO, o, D, d);
  const ins = [q, k, v, dO, lse, D];
  const io = rowIO(d);
  const packed = d.layout?.packed ?? false;
  const sw = ctx.features.software;
  const u = (blocks: number): ArrayBuffer => uniforms([['u32', n], ['u32', l], ['u32', s], ['u32', blocks], ['f32', d.scale], ['u32', 0], ...layoutUniforms(d)]);
  if (passes.includes('dq')) {
    const t = pickTiles('dq', l, s, dqk, dv, limit, sw);
    const blocks = Math.ceil(l / t.bq);
    ctx.dispatch({
      key: `attention/bwd-dq/${dqk}x${dv}/${tilesName(t)}${rowIOKey(io)}${tripCountKey(sw)}${stagingKey(sw)}${accumulateKey('dq')}`,
      code: () => dqCode(dqk, dv, t, io, sw),
      buffers: [...ins, out.dq],
      uniforms: u(blocks),
      workgroups: grid(ctx, n * blocks),
    });
  }
  if (passes.includes('dkdv')) {
    const t = pickTiles('dkdv', s, l, dqk, dv, limit, sw);
    const blocks = Math.ceil(s / t.bq);
    // dk and dv of a packed gradient go through one binding, one element type: when only one of
    // them has vec4 rows (a narrow q/k beside v), both are read and written as scalars.
    const kvIO = packed && io.vq !== io.vv ? { ...io, vq: false, vv: false } : io;
    ctx.dispatch({
      key: `attention/bwd-dkdv/${dqk}x${dv}/${tilesName(t)}${rowIOKey(kvIO)}${packed ? '/packed' : ''}${tripCountKey(sw)}${stagingKey(sw)}${accumulateKey('dkdv')}`,
      code: () => dkdvCode(dqk, dv, t, kvIO, packed, sw),
      buffers: packed ? [...ins, out.dk] : [...ins, out.dk, out.dv],
      uniforms: u(blocks),
      workgroups: grid(ctx, n * blocks),
    });
  }
}
