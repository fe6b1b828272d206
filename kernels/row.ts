/**
 * Building blocks of row kernels (softmax, layernorm, norm-modulate): T invocations per row of the
 * last axis (T a power of two near D/8), 256/T rows per workgroup, invocations striding over
 * their row, and sum / max over a row's T invocations through workgroup memory. Short rows
 * (the tiny model's 64) share a workgroup instead of leaving most of it idle; long ones (1152)
 * get 128 invocations, 9 elements each.
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

/** Workgroups for `rows` rows of T invocations each. */
export function rowGrid(ctx: GpuContext, rows: number, T: number): [number, number] {
  return grid(ctx, Math.ceil(rows / (ROW_WG / T)));
}

/**
 * WGSL: `wgSum(v, lid)` and `wgMax(v, lid)` over the T invocations of the caller's row (`lid` is
 * the index within the row; call from uniform control flow: they contain barriers).
 */
export function rowHelpers(T: number): string {
  const tree = (op: (a: string, b: string) => string): string => `red[segBase + lid] = v;
  workgroupBarrier();
  for (var s = ${T / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[segBase + lid] = ${op('red[segBase + lid]', 'red[segBase + lid + s]')}; }
    workgroupBarrier();
  }
  let r = red[segBase];
  workgroupBarrier();
  return r;`;
  return /* wgsl */ `
${GROUP_INDEX_WGSL}
var<workgroup> red: array<f32, ${ROW_WG}>;
// First slot of this invocation's row in red.
var<private> segBase: u32;
fn wgSum(v: f32, lid: u32) -> f32 {
  ${tree((a, b) => `${a} + ${b}`)}
}
fn wgMax(v: f32, lid: u32) -> f32 {
  ${tree((a, b) => `max(${a}, ${b})`)}
}`;
}

/**
 * The entry point header of a row kernel: `row`, `lid` (index within the row, 0 … T−1), `o` (the
 * row's first element); rows past `u.rows` compute on the last row but must not write (`live`).
 */
export function rowEntry(T: number): string {
  return /* wgsl */ `
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lix: u32) {
  let lid = lix % ${T}u;
  segBase = lix - lid;
  let rowRaw = groupIndex(wid, nwg) * ${ROW_WG / T}u + lix / ${T}u;
  let row = min(rowRaw, u.rows - 1u);
  let live = rowRaw < u.rows;
  let o = row * u.D;`;
}

/**
 * Column sums, two at a time, for the weight/bias-style gradients (Σ over rows of a [rows, D]
 * product): a workgroup of COLS × LANES threads owns COLS columns; each thread sums every LANES-th
 * row of its column into (a, b), then `colPairSum` adds the LANES partials with a tree in
 * workgroup memory and returns the two totals (valid in every lane; lane 0 writes them).
 * Call it from uniform control flow (it has barriers).
 */
export const COL_COLS = 16;
export const COL_LANES = 16;
export const COL_PAIR_SUM_WGSL = /* wgsl */ `
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
 * WGSL lines (inside a row kernel, after rowEntry) that leave `mu` and `rs` = 1/√(var + eps) of
 * the row x[o … o + D): two passes over the row, as the CPU oracle, for accuracy.
 */
export function rowMeanRstdWgsl(wg: number): string {
  return `  var s = 0.0;
  for (var j = lid; j < u.D; j += ${wg}u) { s += x[o + j]; }
  let mu = wgSum(s, lid) / f32(u.D);
  var v = 0.0;
  for (var j = lid; j < u.D; j += ${wg}u) { let d = x[o + j] - mu; v += d * d; }
  let rs = 1.0 / sqrt(wgSum(v, lid) / f32(u.D) + u.eps);`;
}

/**
 * WGSL lines of the LayerNorm input gradient for one row, given the expression `g` of the
 * gradient arriving at x̂ for element j (dy·w for LayerNorm, dy·(1 + scale) for norm-modulate):
 *   dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),  x̂ = (x − μ)·r,  with μ = mean[row], r = rstd[row].
 */
export function rowLayerNormDxWgsl(wg: number, g: string): string {
  return `  let mu = mean[row];
  let rs = rstd[row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = lid; j < u.D; j += ${wg}u) {
    let g = ${g};
    sg += g;
    sgx += g * (x[o + j] - mu) * rs;
  }
  let mg = wgSum(sg, lid) / f32(u.D);
  let mgx = wgSum(sgx, lid) / f32(u.D);
  if (!live) { return; }
  for (var j = lid; j < u.D; j += ${wg}u) {
    let g = ${g};
    dx[o + j] = rs * (g - mg - (x[o + j] - mu) * rs * mgx);
  }`;
}
