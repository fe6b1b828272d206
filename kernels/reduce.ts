/**
 * Sum / max over any set of axes. After merging dims, the input is seen as kept dims × reduced
 * dims; output element o reads base(o) + off(r) for r over the R reduced elements.
 *  - R small and many outputs: one thread per output loops over R.
 *  - otherwise: one workgroup per output; threads stride over R, then a shared-memory tree.
 * Max starts from the finite sentinel -3e38 (WGSL may assume no infinities).
 */
import { uniforms, type GpuContext } from './context.ts';
import { coalesce, contiguousStrides, entry, grid, GROUP_INDEX_WGSL, gridFor, WG } from './grid.ts';

export type ReduceKind = 'sum' | 'max';

const INIT: Record<ReduceKind, string> = { sum: '0.0', max: '-3.0e38' };
const COMBINE: Record<ReduceKind, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
};

/** WGSL computing `name` = Σ coord·stride over dims `prefix0..` of flat index `idx`. */
function offsetOf(name: string, idx: string, prefix: string, rank: number): string {
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

function header(type: string, keptRank: number, redRank: number): string {
  const f = [`nOut: u32`, `R: u32`, ...fields('k', keptRank), ...fields('r', redRank)];
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read_write> out: array<${type}>;
struct U { ${f.join(', ')} }
@group(0) @binding(2) var<uniform> u: U;
${GROUP_INDEX_WGSL}`;
}

function serialCode(kind: ReduceKind, type: string, kr: number, rr: number): string {
  const acc = type === 'f32' ? 'f32' : 'i32';
  const init = type === 'f32' ? INIT[kind] : kind === 'sum' ? '0' : '-2147483647';
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

function treeCode(kind: ReduceKind, type: string, kr: number, rr: number): string {
  const init = type === 'f32' ? INIT[kind] : kind === 'sum' ? '0' : '-2147483647';
  return /* wgsl */ `${header(type, kr, rr)}
var<workgroup> part: array<${type}, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = groupIndex(wid, nwg);
  let live = row < u.nOut;
  ${offsetOf('base', 'row', 'k', kr)}
  var acc: ${type} = ${init};
  if (live) {
    for (var r = lid; r < u.R; r += ${WG}u) {
      ${offsetOf('off', 'r', 'r', rr)}
      acc = ${COMBINE[kind]('acc', 'x[base + off]')};
    }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = ${COMBINE[kind]('part[lid]', 'part[lid + s]')}; }
    workgroupBarrier();
  }
  if (live && lid == 0u) { out[row] = part[0]; }
}`;
}

/** Reduce `axes` of x (shape) into out (the same shape with those axes set to 1). */
export function encodeReduce(
  ctx: GpuContext, kind: ReduceKind, x: GPUBuffer, out: GPUBuffer, type: 'f32' | 'i32', shape: readonly number[], axes: readonly number[],
): void {
  const strides = contiguousStrides(shape);
  const keptAxes = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const kept = coalesce(keptAxes.map((i) => shape[i]!), [keptAxes.map((i) => strides[i]!)]);
  const red = coalesce(axes.map((i) => shape[i]!), [axes.map((i) => strides[i]!)]);
  const nOut = kept.shape.reduce((p, d) => p * d, 1);
  const R = red.shape.reduce((p, d) => p * d, 1);
  if (nOut === 0) return;
  const kr = kept.shape.length, rr = red.shape.length;
  const vals: ['u32', number][] = [['u32', nOut], ['u32', R]];
  kept.shape.forEach((d, i) => vals.push(['u32', d], ['u32', kept.strides[0]![i]!]));
  red.shape.forEach((d, i) => vals.push(['u32', d], ['u32', red.strides[0]![i]!]));
  // Few long rows want a workgroup each; many short rows want a thread each.
  const serial = R <= 64 && nOut >= 256;
  ctx.dispatch({
    key: `reduce/${kind}/${type}/${serial ? 'serial' : 'tree'}/k${kr}r${rr}`,
    code: serial ? serialCode(kind, type, kr, rr) : treeCode(kind, type, kr, rr),
    buffers: [x, out],
    uniforms: uniforms(vals),
    workgroups: serial ? gridFor(ctx, nOut) : grid(ctx, nOut),
  });
}
