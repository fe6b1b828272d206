/**
 * Building blocks of row kernels (softmax, layernorm, norm-modulate): T invocations per row of the
 * last axis (T a power of two near D/8), 256/T rows per workgroup, invocations striding over
 * their row, and sum / max over a row's T invocations (rowCombineWgsl, below). Short rows
 * (the tiny model's 64) share a workgroup instead of leaving most of it idle; long ones (1152)
 * get 128 invocations, 9 elements each.
 *
 * Each invocation keeps its ⌈D/T⌉ elements in registers (rowElements): the row is read from
 * memory once however many passes the kernel makes over it (softmax: max, Σexp, write; layerNorm:
 * mean, variance, write), and the loads are issued back to back, so an invocation has several
 * reads in flight rather than one. Rows whose length divides by 4 are read and written as vec4
 * (`RV`, accumulators folded by hsum/hmax). Rows longer than ROW_CACHE_MAX·256 are read again in
 * every pass.
 *
 * Where the adapter has one fixed subgroup size SG (GpuFeatures.subgroupSize: 32 on NVIDIA, 8 on
 * lavapipe), a row's sum / max runs in registers: a butterfly of subgroupShuffleXor over the
 * min(T, SG) lanes of the row inside each subgroup, then, for rows wider than a subgroup, one
 * exchange of the T/SG subgroup totals through workgroup memory (two barriers, against the tree's
 * log2(T) + 2). Invocations are then placed by subgroup (position = subgroup_id·SG + lane, not
 * local_invocation_index), so a row's lanes are one aligned block of a subgroup whatever order the
 * driver gives them. `rowTuning.subgroups = false` (AVDIT_ROW_SUBGROUPS=0) keeps the tree.
 */
import type { GpuContext } from './context.ts';
import { grid, GROUP_INDEX_WGSL } from './grid.ts';

/** Invocations per workgroup of a row kernel. */
export const ROW_WG = 256;

/** Invocations per row: a power of two, about D/8, between `min` and 256 (also the rows layout of kernels/reduce.ts). */
export function threadsPerRow(D: number, min = 8): number {
  let t = min;
  while (t < ROW_WG && t * 2 <= D / 8) t *= 2;
  return t;
}

/** Most elements per invocation kept in registers (rows up to 16·256 = 4096 long). */
export const ROW_CACHE_MAX = 16;

/**
 * A row kernel's layout: T invocations per row, rows read W = 4 elements at a time (vec4, when D
 * is a multiple of 4) or one, each invocation keeping E such values in registers (E = 0: rows too
 * long, re-read each pass).
 */
export interface RowShape {
  T: number;
  E: number;
  W: 1 | 4;
  /** Subgroup size the reductions are built for (0: a tree through workgroup memory). */
  SG: number;
}

/** Whether row reductions use subgroup operations where the adapter allows (bench/gpu-bandwidth.ts times both). */
export const rowTuning = { subgroups: process.env.AVDIT_ROW_SUBGROUPS !== '0' };

/** The subgroup size row reductions are built for on this device (0: none, use the tree). */
export function rowSubgroup(ctx: GpuContext): number {
  return rowTuning.subgroups ? (ctx.features.subgroupSize ?? 0) : 0;
}

export function rowShape(ctx: GpuContext, D: number): RowShape {
  const T = threadsPerRow(D);
  const W = D % 4 === 0 ? 4 : 1;
  const E = Math.ceil(D / W / T);
  return { T, E: E * W <= ROW_CACHE_MAX ? E : 0, W, SG: rowSubgroup(ctx) };
}

/** The part of a pipeline key that the layout decides. */
export const rowKey = (s: RowShape): string => `t${s.T}e${s.E}${s.W === 4 ? 'v4' : ''}${s.SG ? `sg${s.SG}` : ''}`;

/** The directive a row kernel's WGSL must start with (enable lines precede every declaration). */
export const rowEnable = (SG: number): string => (SG ? 'enable subgroups;' : '');

/**
 * WGSL of `fn <name>(v: <type>) -> <type>`: v combined (`comb`) over the T invocations of the
 * caller's row, the result in every one of them. Rows are aligned blocks of T positions
 * (`rowPos`, a private the entry point sets: rowPosWgsl). SG = 0: a tree in the workgroup array
 * `arr` (ROW_WG slots); else shuffles within the subgroup and, when T > SG, one exchange through
 * `arr`. Call from uniform control flow (barriers, subgroup operations).
 */
export function rowCombineWgsl(name: string, type: string, T: number, SG: number, comb: (a: string, b: string) => string, arr: string): string {
  if (!SG) {
    return `fn ${name}(v: ${type}) -> ${type} {
  let lid = rowPos % ${T}u;
  let seg = rowPos - lid;
  ${arr}[rowPos] = v;
  workgroupBarrier();
  for (var s = ${T / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${arr}[rowPos] = ${comb(`${arr}[rowPos]`, `${arr}[rowPos + s]`)}; }
    workgroupBarrier();
  }
  let r = ${arr}[seg];
  workgroupBarrier();
  return r;
}`;
  }
  const lanes = Math.min(T, SG);
  const body: string[] = [`  var r = v;`];
  // Butterfly: after the step with mask m every lane holds the combination over its aligned block of 2m lanes.
  for (let m = lanes / 2; m >= 1; m /= 2) body.push(`  r = ${comb('r', `subgroupShuffleXor(r, ${m}u)`)};`);
  if (T > SG) {
    const G = T / SG; // subgroups per row
    body.push(
      `  if (rowPos % ${SG}u == 0u) { ${arr}[rowPos / ${SG}u] = r; }`,
      `  workgroupBarrier();`,
      `  let first = (rowPos / ${T}u) * ${G}u;`,
      `  r = ${arr}[first];`,
      `  for (var g = 1u; g < ${G}u; g++) { r = ${comb('r', `${arr}[first + g]`)}; }`,
      `  workgroupBarrier();`,
    );
  }
  return `fn ${name}(v: ${type}) -> ${type} {
${body.join('\n')}
  return r;
}`;
}

/**
 * Entry-point parameters and the first line of a row kernel: the invocation's position in the
 * workgroup, `rowPos` (local_invocation_index, or with SG subgroup_id·SG + lane), which the
 * caller uses to place rows. Declares the private `rowPos`.
 */
export function rowPosWgsl(SG: number): { decl: string; params: string; set: string } {
  return SG
    ? { decl: 'var<private> rowPos: u32;', params: '@builtin(subgroup_id) sgId: u32, @builtin(subgroup_invocation_id) sgLane: u32', set: `rowPos = sgId * ${SG}u + sgLane;` }
    : { decl: 'var<private> rowPos: u32;', params: '@builtin(local_invocation_index) lix: u32', set: 'rowPos = lix;' };
}

/**
 * WGSL for a row kernel's width W: `RV` the type a row is read as (f32 or vec4<f32>; row-shaped
 * bindings use it, accumulators too), `hsum` / `hmax` folding an RV to one f32.
 */
export function rowTypesWgsl(s: RowShape): string {
  return s.W === 4
    ? `alias RV = vec4<f32>;
fn hsum(v: RV) -> f32 { return dot(v, vec4<f32>(1.0)); }
fn hmax(v: RV) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }`
    : `alias RV = f32;
fn hsum(v: RV) -> f32 { return v; }
fn hmax(v: RV) -> f32 { return v; }`;
}

/**
 * An invocation's values j = lid, lid + T, … < DW of a row (DW = D/W, values of W elements, `o`
 * and `j` in those units). `loads` names WGSL expressions of `j` (e.g. { xv: 'x[o + j]' }). `read`
 * declares them: with E > 0 it loads all E of each into registers (name0 … name{E−1}; 0 past the
 * row's end); with E = 0 it is empty. `pass(body)` runs `body` once per value with `j` and every
 * name bound (with E = 0, read from memory again).
 */
export function rowElements(s: RowShape, loads: Record<string, string>): { read: string; pass(body: string): string } {
  const names = Object.keys(loads);
  if (s.E === 0) {
    const bind = names.map((n) => `let ${n} = ${loads[n]};`).join(' ');
    return { read: '', pass: (body) => `  for (var j = lid; j < DW; j += ${s.T}u) { ${bind} ${body} }` };
  }
  const idx = (e: number): string => `lid + ${e * s.T}u`;
  const each = (f: (e: number) => string): string => Array.from({ length: s.E }, (_, e) => f(e)).join('\n');
  const read = [
    ...names.map((n) => each((e) => `  var ${n}${e} = RV(0.0);`)),
    each((e) => `  if (${idx(e)} < DW) { let j = ${idx(e)}; ${names.map((n) => `${n}${e} = ${loads[n]};`).join(' ')} }`),
  ];
  const pass = (body: string): string =>
    each((e) => `  if (${idx(e)} < DW) { let j = ${idx(e)}; ${names.map((n) => `let ${n} = ${n}${e};`).join(' ')} ${body} }`);
  return { read: read.join('\n'), pass };
}

/** Workgroups for `rows` rows of T invocations each. */
export function rowGrid(ctx: GpuContext, rows: number, T: number): [number, number] {
  return grid(ctx, Math.ceil(rows / (ROW_WG / T)));
}

/**
 * WGSL: `rowSum(v)` and `rowMax(v)` over the T invocations of the caller's row (rowCombineWgsl;
 * call from uniform control flow), the row types and the workgroup-index helper.
 */
export function rowHelpers(shape: RowShape): string {
  return /* wgsl */ `
${rowTypesWgsl(shape)}
${GROUP_INDEX_WGSL}
var<workgroup> red: array<f32, ${ROW_WG}>;
${rowPosWgsl(shape.SG).decl}
${rowCombineWgsl('rowSum', 'f32', shape.T, shape.SG, (a, b) => `${a} + ${b}`, 'red')}
${rowCombineWgsl('rowMax', 'f32', shape.T, shape.SG, (a, b) => `max(${a}, ${b})`, 'red')}
`;
}

/**
 * The entry point header of a row kernel: `row`, `lid` (index within the row, 0 … T−1), `o` (the
 * row's first element); rows past `u.rows` compute on the last row but must not write (`live`).
 */
export function rowEntry(s: RowShape): string {
  const pos = rowPosWgsl(s.SG);
  return /* wgsl */ `
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${pos.params}) {
  ${pos.set}
  let lid = rowPos % ${s.T}u;
  let rowRaw = groupIndex(wid, nwg) * ${ROW_WG / s.T}u + rowPos / ${s.T}u;
  let row = min(rowRaw, u.rows - 1u);
  let live = rowRaw < u.rows;
  let DW = u.D / ${s.W}u;  // the row's length in values of W elements
  let o = row * DW;`;
}

/**
 * Column sums, two at a time, for the weight/bias-style gradients (Σ over rows of a [rows, D]
 * product): a workgroup of COLS × LANES threads owns COLS columns; each thread sums every LANES-th
 * row of its column into (a, b), then `colPairSum` adds the LANES partials with a tree in
 * workgroup memory and returns the two totals (valid in every lane; lane 0 writes them).
 * Call it from uniform control flow (it has barriers).
 */
const COL_COLS = 16;
const COL_LANES = 16;
const COL_PAIR_SUM_WGSL = /* wgsl */ `
var<workgroup> colA: array<f32, ${COL_COLS * COL_LANES}>;
var<workgroup> colB: array<f32, ${COL_COLS * COL_LANES}>;
fn colPairSum(a: f32, b: f32, l: vec3u) -> vec2f {
  let t = l.y * ${COL_COLS}u + l.x;
  colA[t] = a;
  colB[t] = b;
  workgroupBarrier();
  for (var s = ${COL_LANES / 2}u; s > 0u; s = s >> 1u) {
    if (l.y < s) { colA[t] = colA[t] + colA[t + s * ${COL_COLS}u]; colB[t] = colB[t] + colB[t + s * ${COL_COLS}u]; }
    workgroupBarrier();
  }
  return vec2f(colA[l.x], colB[l.x]);
}`;

/**
 * WGSL entry point of per-sample column sums over [N, L, D] tensors (adaLN's parameter gradients):
 * a workgroup takes sample b and COL_COLS columns j, its COL_LANES lanes stride over the L tokens
 * summing the expressions `a` and `b` (WGSL of r = b·L + t, the token's row, and e = r·D + j), then
 * `store` runs in lane 0 with the totals tot.x, tot.y for element b·D + j. Declares the uniforms
 * (N, D, L, colBlocks at @binding(uBinding)) and its helpers; dispatch `sampleColumnGrid` workgroups.
 */
export function sampleColumnSumsWgsl(uBinding: number, a: string, b: string, store: string): string {
  return /* wgsl */ `struct U { N: u32, D: u32, L: u32, colBlocks: u32 }
@group(0) @binding(${uBinding}) var<uniform> u: U;
${COL_PAIR_SUM_WGSL}
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${COL_COLS}, ${COL_LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let gi = groupIndex(wid, nwg);
  let b = gi / u.colBlocks;
  if (b >= u.N) { return; }
  let j = (gi % u.colBlocks) * ${COL_COLS}u + l.x;
  var sa = 0.0;
  var sb = 0.0;
  if (j < u.D) {
    for (var t = l.y; t < u.L; t += ${COL_LANES}u) {
      let r = b * u.L + t;
      let e = r * u.D + j;
      sa += ${a};
      sb += ${b};
    }
  }
  let tot = colPairSum(sa, sb, l);
  if (l.y == 0u && j < u.D) { ${store} }
}`;
}

/** The column blocks and workgroups of sampleColumnSumsWgsl for N samples of width D. */
export function sampleColumnGrid(ctx: GpuContext, N: number, D: number): { colBlocks: number; workgroups: [number, number] } {
  const colBlocks = Math.ceil(D / COL_COLS);
  return { colBlocks, workgroups: grid(ctx, N * colBlocks) };
}

/**
 * WGSL lines (inside a row kernel, after rowEntry) that leave `mu` and `rs` = 1/√(var + eps) of
 * the row, reading it through `el` (rowElements with `xv` = x[o + j], already `read`): two passes
 * over the row, as the CPU oracle, for accuracy (from registers when the row is cached).
 */
export function rowMeanRstdWgsl(el: ReturnType<typeof rowElements>): string {
  return `  var s = RV(0.0);
${el.pass('s += xv;')}
  let mu = rowSum(hsum(s)) / f32(u.D);
  var v = RV(0.0);
${el.pass('let d = xv - mu; v += d * d;')}
  let rs = 1.0 / sqrt(rowSum(hsum(v)) / f32(u.D) + u.eps);`;
}

/**
 * WGSL lines of the LayerNorm input gradient for one row, given the expression `g` of the
 * gradient arriving at x̂ for element j (dyv·w[j] for LayerNorm, dyv·(1 + scale) for norm-modulate),
 * with dy and x read once per element (rowElements with `dyv` and `xv`):
 *   dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),  x̂ = (x − μ)·r,  with μ = mean[row], r = rstd[row].
 */
export function rowLayerNormDxWgsl(s: RowShape, g: string): string {
  const el = rowElements(s, { dyv: 'dy[o + j]', xv: 'x[o + j]' });
  return `  let mu = mean[row];
  let rs = rstd[row];
${el.read}
  var sg = RV(0.0);
  var sgx = RV(0.0);
${el.pass(`let g = ${g}; sg += g; sgx += g * (xv - mu) * rs;`)}
  let mg = rowSum(hsum(sg)) / f32(u.D);
  let mgx = rowSum(hsum(sgx)) / f32(u.D);
  if (!live) { return; }
${el.pass(`let g = ${g}; dx[o + j] = rs * (g - mg - (xv - mu) * rs * mgx);`)}`;
}
