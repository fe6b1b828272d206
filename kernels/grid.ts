/**
 * Shared helpers for 1-D launches of any size: grids beyond 65535 workgroups are folded into
 * 2-D (`fold1d`) and the shader linearises the workgroup id with `groupIndex()`.
 */
import { fold1d, type GpuContext } from './context.ts';

/** Default workgroup size of elementwise-style kernels. */
export const WG = 256;

/** Workgroup counts for `groups` workgroups (one row per workgroup, or ceil(n / WG) for n items). */
export function grid(ctx: GpuContext, groups: number): [number, number] {
  return fold1d(groups, ctx.limits.maxComputeWorkgroupsPerDimension);
}

/** Workgroups for one thread per item, WG threads per workgroup. */
export function gridFor(ctx: GpuContext, n: number, wg = WG): [number, number] {
  return grid(ctx, Math.ceil(n / wg));
}

/** WGSL: the linear workgroup index of a folded 2-D grid. */
export const GROUP_INDEX_WGSL = /* wgsl */ `
fn groupIndex(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }`;

/** The entry point header of a 1-D kernel: `gi` = global item index, `lid` = local index. */
export function entry(wg: number): string {
  return /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = groupIndex(wid, nwg) * ${wg}u + lid;`;
}

/**
 * Merge adjacent dims that every stride list walks contiguously (stride[d] = stride[d+1]·shape[d+1]),
 * and drop size-1 dims. Fewer dims: cheaper index maths and fewer pipeline variants.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * n);
    if (mergeable) {
      outShape[last]! *= n;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
    } else {
      outShape.push(n);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Row-major strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * WGSL that turns a flat index `idx` over a shape of `rank` dims (uniform fields `u.d0..`) into
 * offsets `o0, o1, …` for each stride list (uniform fields `u.s{k}_{d}`).
 */
export function offsetsWgsl(rank: number, lists: number, idx = 'gi'): string {
  const lines = [`var rem = ${idx};`];
  for (let k = 0; k < lists; k++) lines.push(`var o${k} = 0u;`);
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(d > 0 ? `{ let c = rem % u.d${d}; rem = rem / u.d${d};` : `{ let c = rem;`);
    for (let k = 0; k < lists; k++) lines.push(`  o${k} = o${k} + c * u.s${k}_${d};`);
    lines.push('}');
  }
  return lines.join('\n  ');
}

/** WGSL struct fields for `offsetsWgsl`, and their values in uniform order. */
export function shapeUniforms(shape: readonly number[], strides: readonly (readonly number[])[]): { fields: string[]; values: ['u32', number][] } {
  const fields: string[] = [];
  const values: ['u32', number][] = [];
  shape.forEach((n, d) => {
    fields.push(`d${d}: u32`);
    values.push(['u32', n]);
  });
  strides.forEach((s, k) =>
    s.forEach((v, d) => {
      fields.push(`s${k}_${d}: u32`);
      values.push(['u32', v]);
    }),
  );
  return { fields, values };
}
