/**
 * Sum / max over any set of axes. After merging dims, the input is seen as kept dims × reduced
 * dims; output element o reads base(o) + off(r) for r over the R reduced elements. Four layouts:
 *  - columns: the reduced axes lie outside the last kept axis (bias gradients, Σ over rows of a
 *    [rows, C] matrix): 64 consecutive invocations read 64 consecutive columns of a row
 *    (coalesced), 4 such groups split the rows, and long reductions are cut into chunks of rows
 *    written as partial results that a second (smaller) reduction adds up, so the GPU has enough
 *    workgroups even when there are few columns.
 *  - rows: the reduced elements are one contiguous run (softmax-like rows): a row gets T
 *    invocations (a power of two near R/8) that read consecutive elements, 256/T rows per
 *    workgroup, then each row's T partials combined (kernels/row.ts: subgroup shuffles where
 *    the adapter has a fixed subgroup size, else a tree in workgroup memory).
 *  - serial (anything else with short R and many outputs): one invocation per output.
 *  - tree (anything else): one workgroup per output, threads stride over R, then one combine
 *    over the workgroup (as the rows layout's, with T = 256).
 * Max starts from the finite sentinel -3e38 (WGSL may assume no infinities).
 */
import { uniforms, type GpuContext } from './context.ts';
import { ROW_WG, rowCombineWgsl, rowEnable, rowPosWgsl, rowSubgroup, threadsPerRow } from './row.ts';
import { coalesce, contiguousStrides, entry, grid, GROUP_INDEX_WGSL, gridFor, WG } from './grid.ts';

export type ReduceKind = 'sum' | 'max';

const INIT: Record<ReduceKind, string> = { sum: '0.0', max: '-3.0e38' };
const COMBINE: Record<ReduceKind, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
};

/** WGSL computing `name` = Σ coord·stride over dims `prefix0..` of flat index `idx`. */
function offsetOf(name: string, idx: string, prefix: string, rank: number): string {
  if (rank === 0) return `let ${name} = 0u;`;
  if (rank === 1) return `let ${name} = ${idx} * u.${prefix}s0;`;
  const lines = [`var ${name} = 0u;`, `{ var rem = ${idx};`];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`  { let c = rem % u.${prefix}d${d}; rem = rem / u.${prefix}d${d}; ${name} = ${name} + c * u.${prefix}s${d}; }`);
  }
  lines.push('}');
  return lines.join('\n  ');
}

function fields(prefix: string, rank: number): string[] {
  const f: string[] = [];
  for (let d = 0; d < rank; d++) f.push(`${prefix}d${d}: u32`, `${prefix}s${d}: u32`);
  return f;
}

/**
 * Bindings x, out (of `xType`, `outType`: the element type or its vec4) and the uniform struct with
 * `f` (default: nOut, R and the kept / reduced dims).
 */
function header(
  type: string, keptRank: number, redRank: number, f = [`nOut: u32`, `R: u32`, ...fields('k', keptRank), ...fields('r', redRank)], xType = type, outType = type,
): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<${xType}>;
@group(0) @binding(1) var<storage, read_write> out: array<${outType}>;
struct U { ${f.join(', ')} }
@group(0) @binding(2) var<uniform> u: U;
${GROUP_INDEX_WGSL}`;
}

function serialCode(kind: ReduceKind, type: string, kr: number, rr: number): string {
  const acc = type === 'f32' ? 'f32' : 'i32';
  const init = initOf(kind, type);
  return /* wgsl */ `${header(type, kr, rr)}
${entry(WG)}
  if (gi >= u.nOut) { return; }
  ${offsetOf('base', 'gi', 'k', kr)}
  var acc: ${acc} = ${init};
  for (var r = 0u; r < u.R; r++) {
    ${offsetOf('off', 'r', 'r', rr)}
    acc = ${COMBINE[kind]('acc', 'x[base + off]')};
  }
  out[gi] = acc;
}`;
}

function treeCode(kind: ReduceKind, type: string, kr: number, rr: number, SG: number): string {
  const init = initOf(kind, type);
  const pos = rowPosWgsl(SG);
  return /* wgsl */ `${rowEnable(SG)}
${header(type, kr, rr)}
var<workgroup> part: array<${type}, ${WG}>;
${pos.decl}
${rowCombineWgsl('combineAll', type, WG, SG, COMBINE[kind], 'part')}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${pos.params}) {
  ${pos.set}
  let row = groupIndex(wid, nwg);
  let live = row < u.nOut;
  ${offsetOf('base', 'row', 'k', kr)}
  var acc: ${type} = ${init};
  if (live) {
    for (var r = rowPos; r < u.R; r += ${WG}u) {
      ${offsetOf('off', 'r', 'r', rr)}
      acc = ${COMBINE[kind]('acc', 'x[base + off]')};
    }
  }
  let total = combineAll(acc);
  if (live && rowPos == 0u) { out[row] = total; }
}`;
}

/** The identity of the reduction: for i32 max, −2³¹ (spelled as an expression: 2147483648 is no i32 literal). */
const initOf = (kind: ReduceKind, type: string): string => (type === 'f32' ? INIT[kind] : kind === 'sum' ? '0' : '(-2147483647 - 1)');

/** The element type read W at a time: itself or its vec4. */
const vecOf = (type: string, W: 1 | 4): string => (W === 4 ? `vec4<${type}>` : type);
/** WGSL folding a vec4 partial `v` into one value. */
const fold4 = (kind: ReduceKind, v: string): string => (kind === 'sum' ? `(${v}.x + ${v}.y + ${v}.z + ${v}.w)` : `max(max(${v}.x, ${v}.y), max(${v}.z, ${v}.w))`);
/** Whether element offsets with these strides stay multiples of 4 (vec4 reads of a run of `run` elements). */
const vec4Ok = (run: number, strides: readonly number[]): boolean => run % 4 === 0 && strides.every((st) => st % 4 === 0);

/** Columns layout: 64 columns × 4 row lanes per workgroup, rows [chunk·CH, +CH) of one batch. */
const COLS = 64;
const LANES = 4;

/** W = 4: each invocation owns four adjacent columns (vec4 reads and writes; u.C counts vec4s). */
function columnsCode(kind: ReduceKind, type: string, kr: number, rr: number, W: 1 | 4): string {
  const f = [`C: u32`, `colBlocks: u32`, `batches: u32`, `chunks: u32`, `R: u32`, `CH: u32`, ...fields('k', kr), ...fields('r', rr)];
  const comb = COMBINE[kind];
  const T = vecOf(type, W);
  const at = W === 4 ? '(base + off) / 4u + col' : 'base + off + col';
  return /* wgsl */ `${header(type, kr, rr, f, T, T)}
var<workgroup> part: array<${T}, ${COLS * LANES}>;
@compute @workgroup_size(${COLS * LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  let live = g < u.colBlocks * u.batches * u.chunks;
  let cb = g % u.colBlocks;
  let b = (g / u.colBlocks) % u.batches;
  let chunk = g / (u.colBlocks * u.batches);
  let col = cb * ${COLS}u + lid % ${COLS}u;
  let lane = lid / ${COLS}u;
  let ok = live && col < u.C;
  ${offsetOf('base', 'b', 'k', kr)}
  // Four independent accumulators (rows r, r + LANES, …): four loads in flight per invocation.
  var a0 = ${T}(${initOf(kind, type)});
  var a1 = a0;
  var a2 = a0;
  var a3 = a0;
  if (ok) {
    let r1 = min(u.R, (chunk + 1u) * u.CH);
    var r = chunk * u.CH + lane;
    for (; r + ${3 * LANES}u < r1; r += ${4 * LANES}u) {
      ${[0, 1, 2, 3].map((q) => `{ let rq = r + ${q * LANES}u; ${offsetOf('off', 'rq', 'r', rr)} a${q} = ${comb(`a${q}`, `x[${at}]`)}; }`).join('\n      ')}
    }
    for (; r < r1; r += ${LANES}u) {
      ${offsetOf('off', 'r', 'r', rr)}
      a0 = ${comb('a0', `x[${at}]`)};
    }
  }
  part[lid] = ${comb(comb('a0', 'a1'), comb('a2', 'a3'))};
  workgroupBarrier();
  if (lid < ${COLS * 2}u) { part[lid] = ${comb('part[lid]', `part[lid + ${COLS * 2}u]`)}; }
  workgroupBarrier();
  if (lid < ${COLS}u && ok) { out[(chunk * u.batches + b) * u.C + col] = ${comb('part[lid]', `part[lid + ${COLS}u]`)}; }
}`;
}

/**
 * Rows layout: T invocations per contiguous row of R (threadsPerRow, at least 4), 256/T rows per
 * workgroup. W = 4: the row is read as vec4 (u.R counts vec4s), folded to one value at the end.
 */
function rowsCode(kind: ReduceKind, type: string, kr: number, T: number, W: 1 | 4, SG: number): string {
  const comb = COMBINE[kind];
  const V = vecOf(type, W);
  const b = W === 4 ? 'base / 4u' : 'base';
  const pos = rowPosWgsl(SG);
  return /* wgsl */ `${rowEnable(SG)}
${header(type, kr, 0, undefined, V, type)}
var<workgroup> part: array<${type}, ${ROW_WG}>;
${pos.decl}
${rowCombineWgsl('rowCombine', type, T, SG, comb, 'part')}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${pos.params}) {
  ${pos.set}
  let row = groupIndex(wid, nwg) * ${ROW_WG / T}u + rowPos / ${T}u;
  let t = rowPos % ${T}u;
  let live = row < u.nOut;
  ${offsetOf('base', 'row', 'k', kr)}
  // Four independent accumulators: four loads in flight per invocation, not one.
  var a0 = ${V}(${initOf(kind, type)});
  var a1 = a0;
  var a2 = a0;
  var a3 = a0;
  if (live) {
    let x0 = ${b};
    var r = t;
    for (; r + ${3 * T}u < u.R; r += ${4 * T}u) {
      a0 = ${comb('a0', 'x[x0 + r]')};
      a1 = ${comb('a1', `x[x0 + r + ${T}u]`)};
      a2 = ${comb('a2', `x[x0 + r + ${2 * T}u]`)};
      a3 = ${comb('a3', `x[x0 + r + ${3 * T}u]`)};
    }
    for (; r < u.R; r += ${T}u) { a0 = ${comb('a0', 'x[x0 + r]')}; }
  }
  let all = ${comb(comb('a0', 'a1'), comb('a2', 'a3'))};
  let total = rowCombine(${W === 4 ? fold4(kind, 'all') : 'all'});
  if (live && t == 0u) { out[row] = total; }
}`;
}

interface Merged {
  kept: { shape: number[]; strides: number[] };
  red: { shape: number[]; strides: number[] };
  nOut: number;
  R: number;
}

function merge(shape: readonly number[], axes: readonly number[], strides: readonly number[]): Merged {
  const keptAxes = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const k = coalesce(keptAxes.map((i) => shape[i]!), [keptAxes.map((i) => strides[i]!)]);
  const r = coalesce(axes.map((i) => shape[i]!), [axes.map((i) => strides[i]!)]);
  return {
    kept: { shape: k.shape, strides: k.strides[0]! },
    red: { shape: r.shape, strides: r.strides[0]! },
    nOut: k.shape.reduce((p, d) => p * d, 1),
    R: r.shape.reduce((p, d) => p * d, 1),
  };
}

const dimVals = (m: { shape: number[]; strides: number[] }): ['u32', number][] => m.shape.flatMap((d, i) => [['u32', d], ['u32', m.strides[i]!]] as ['u32', number][]);

/** Workgroups the columns layout aims for before it stops cutting the rows into chunks. */
const COLUMN_TARGET_GROUPS = 2048;

/**
 * Columns layout for a kept innermost run of C contiguous elements (stride 1) and reduced dims
 * that all skip it. More than one chunk: partials [chunks, nOut] in scratch, then reduced again.
 */
function encodeColumns(ctx: GpuContext, kind: ReduceKind, x: GPUBuffer, out: GPUBuffer, type: 'f32' | 'i32', m: Merged): void {
  const C = m.kept.shape[m.kept.shape.length - 1]!;
  const outer = { shape: m.kept.shape.slice(0, -1), strides: m.kept.strides.slice(0, -1) };
  const W = vec4Ok(C, [...outer.strides, ...m.red.strides]) ? 4 : 1;
  const batches = m.nOut / C, colBlocks = Math.ceil(C / W / COLS);
  const wanted = Math.max(1, Math.floor(COLUMN_TARGET_GROUPS / (colBlocks * batches)));
  // At least 64 rows per lane group: fewer would make the partials as big as the input.
  const CH = Math.max(LANES * 64, Math.ceil(m.R / wanted / LANES) * LANES);
  const chunks = Math.ceil(m.R / CH);
  const dst = chunks === 1 ? out : ctx.scratch(chunks * m.nOut * 4);
  const kr = outer.shape.length, rr = m.red.shape.length;
  ctx.dispatch({
    key: `reduce/${kind}/${type}/columns/k${kr}r${rr}${W === 4 ? '/v4' : ''}`,
    code: () => columnsCode(kind, type, kr, rr, W),
    buffers: [x, dst],
    uniforms: uniforms([['u32', C / W], ['u32', colBlocks], ['u32', batches], ['u32', chunks], ['u32', m.R], ['u32', CH], ...dimVals(outer), ...dimVals(m.red)]),
    workgroups: grid(ctx, colBlocks * batches * chunks),
  });
  if (chunks > 1) encodeReduce(ctx, kind, dst, out, type, [chunks, m.nOut], [0]);
}

/** Reduce `axes` of x (shape) into out (the same shape with those axes set to 1). */
export function encodeReduce(
  ctx: GpuContext, kind: ReduceKind, x: GPUBuffer, out: GPUBuffer, type: 'f32' | 'i32', shape: readonly number[], axes: readonly number[],
): void {
  const m = merge(shape, axes, contiguousStrides(shape));
  const { kept, red, nOut, R } = m;
  if (nOut === 0) return;
  const kr = kept.shape.length, rr = red.shape.length;
  const lastKeptStride = kept.strides[kr - 1];
  if (kr > 0 && lastKeptStride === 1 && kept.shape[kr - 1]! >= 16 && R > 1 && red.strides.every((st) => st !== 1)) {
    encodeColumns(ctx, kind, x, out, type, m);
    return;
  }
  if (rr === 1 && red.strides[0] === 1 && R >= 16) {
    const W = vec4Ok(R, kept.strides) ? 4 : 1;
    const T = threadsPerRow(R / W, 4);
    const SG = rowSubgroup(ctx);
    ctx.dispatch({
      key: `reduce/${kind}/${type}/rows${T}/k${kr}${W === 4 ? '/v4' : ''}${SG ? `/sg${SG}` : ''}`,
      code: () => rowsCode(kind, type, kr, T, W, SG),
      buffers: [x, out],
      uniforms: uniforms([['u32', nOut], ['u32', R / W], ...dimVals(kept)]),
      workgroups: grid(ctx, Math.ceil(nOut / (ROW_WG / T))),
    });
    return;
  }
  const vals: ['u32', number][] = [['u32', nOut], ['u32', R], ...dimVals(kept), ...dimVals(red)];
  // Few long rows want a workgroup each; many short rows want a thread each.
  const serial = R <= 64 && nOut >= 256;
  const SG = serial ? 0 : rowSubgroup(ctx);
  ctx.dispatch({
    key: `reduce/${kind}/${type}/${serial ? 'serial' : 'tree'}/k${kr}r${rr}${SG ? `/sg${SG}` : ''}`,
    code: () => (serial ? serialCode(kind, type, kr, rr) : treeCode(kind, type, kr, rr, SG)),
    buffers: [x, out],
    uniforms: uniforms(vals),
    workgroups: serial ? gridFor(ctx, nOut) : grid(ctx, nOut),
  });
}
