/**
 * Row gather (embedding lookup) and its gradient, scatter-add. scatterAdd is deterministic and
 * uses no float atomics: each output element loops over all n indices and sums the rows that
 * point at it, in index order (O(rows·D·n), fine for embedding tables and label batches).
 *
 * Out-of-range indices cannot throw on the GPU: the kernel writes zeros there and sets a code in
 * the `flags` buffer (atomicMax), which the engine checks at the next read.
 */
import { uniforms, type GpuContext } from './context.ts';
import { entry, GROUP_INDEX_WGSL, gridFor } from './grid.ts';

/** Codes written into the flags buffer. */
export const FLAG_GATHER_OOB = 1;
export const FLAG_SCATTER_OOB = 2;

const GATHER_CODE = /* wgsl */ `
@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
struct U { n: u32, V: u32, D: u32 }
@group(0) @binding(4) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(256)}
  if (gi >= u.n * u.D) { return; }
  let r = gi / u.D;
  let d = gi % u.D;
  let v = idx[r];
  if (v < 0 || u32(v) >= u.V) {
    out[gi] = 0u;
    if (d == 0u) { atomicMax(&flags[0], ${FLAG_GATHER_OOB}u); }
    return;
  }
  out[gi] = table[u32(v) * u.D + d];
}`;

export function encodeGather(ctx: GpuContext, table: GPUBuffer, idx: GPUBuffer, out: GPUBuffer, flags: GPUBuffer, n: number, V: number, D: number): void {
  if (n * D === 0) return;
  ctx.dispatch({
    key: 'gather/rows',
    code: GATHER_CODE,
    buffers: [table, idx, out, flags],
    uniforms: uniforms([['u32', n], ['u32', V], ['u32', D]]),
    workgroups: gridFor(ctx, n * D),
  });
}

function scatterCode(type: 'f32' | 'i32'): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<${type}>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<${type}>;
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
struct U { n: u32, rows: u32, D: u32 }
@group(0) @binding(4) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(256)}
  if (gi >= u.rows * u.D) { return; }
  let v = i32(gi / u.D);
  let d = gi % u.D;
  var acc: ${type} = ${type}(0);
  for (var r = 0u; r < u.n; r++) {
    let k = idx[r];
    if (k == v) { acc += src[r * u.D + d]; }
    if (gi == 0u && (k < 0 || u32(k) >= u.rows)) { atomicMax(&flags[0], ${FLAG_SCATTER_OOB}u); }
  }
  out[gi] = acc;
}`;
}

export function encodeScatterAdd(
  ctx: GpuContext, src: GPUBuffer, idx: GPUBuffer, out: GPUBuffer, flags: GPUBuffer, type: 'f32' | 'i32', n: number, rows: number, D: number,
): void {
  if (rows * D === 0) return;
  ctx.dispatch({
    key: `gather/scatter-add/${type}`,
    code: () => scatterCode(type),
    buffers: [src, idx, out, flags],
    uniforms: uniforms([['u32', n], ['u32', rows], ['u32', D]]),
    workgroups: gridFor(ctx, rows * D),
  });
}
