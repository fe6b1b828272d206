/**
 * Data movement on 32-bit words (so it serves f32 and i32 alike): one strided-copy kernel and
 * a fill. Every layout op is a walk over a box with a source and a destination stride per dim:
 *   dst[dstBase + Σ c·dstStride] = src[srcBase + Σ c·srcStride]
 * permute / slice / expand read strided and write contiguously; padSlice / concat read
 * contiguously and write into a box of the output. Cast converts between f32 and i32.
 */
import { uniforms, type GpuContext } from './context.ts';
import { coalesce, contiguousStrides, entry, GROUP_INDEX_WGSL, gridFor, offsetsWgsl, shapeUniforms, WG } from './grid.ts';

function copyCode(rank: number): string {
  const { fields } = shapeUniforms(new Array<number>(rank).fill(0), [new Array<number>(rank).fill(0), new Array<number>(rank).fill(0)]);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
struct U { n: u32, srcBase: u32, dstBase: u32, ${fields.join(', ')} }
@group(0) @binding(2) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi >= u.n) { return; }
  ${offsetsWgsl(rank, 2)}
  dst[u.dstBase + o1] = src[u.srcBase + o0];
}`;
}

/** Copy the box `shape` from src (strides, base) into dst (strides, base). */
export function encodeStridedCopy(
  ctx: GpuContext, src: GPUBuffer, dst: GPUBuffer, shape: readonly number[],
  srcStrides: readonly number[], srcBase: number, dstStrides: readonly number[], dstBase: number,
): void {
  const n = shape.reduce((p, d) => p * d, 1);
  if (n === 0) return;
  const m = coalesce(shape, [srcStrides, dstStrides]);
  const rank = m.shape.length;
  const { values } = shapeUniforms(m.shape, m.strides);
  ctx.dispatch({
    key: `movement/copy/rank${rank}`,
    code: copyCode(rank),
    buffers: [src, dst],
    uniforms: uniforms([['u32', n], ['u32', srcBase], ['u32', dstBase], ...values]),
    workgroups: gridFor(ctx, n),
  });
}

/** out = x gathered through `strides` from `base` over outShape (contiguous output). */
export function encodeGatherView(ctx: GpuContext, x: GPUBuffer, out: GPUBuffer, outShape: readonly number[], strides: readonly number[], base: number): void {
  encodeStridedCopy(ctx, x, out, outShape, strides, base, contiguousStrides(outShape), 0);
}

/** Write contiguous x (shape) into the box of out (outShape) starting at `begin`. */
export function encodeScatterBox(
  ctx: GpuContext, x: GPUBuffer, out: GPUBuffer, shape: readonly number[], outShape: readonly number[], begin: readonly number[],
): void {
  const os = contiguousStrides(outShape);
  const base = begin.reduce((acc, b, i) => acc + b * os[i]!, 0);
  encodeStridedCopy(ctx, x, out, shape, contiguousStrides(shape), 0, os, base);
}

const FILL_CODE = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
struct U { n: u32, bits: u32 }
@group(0) @binding(1) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi >= u.n) { return; }
  out[gi] = u.bits;
}`;

/** Fill n words with the bit pattern of `value` as f32 or i32. */
export function encodeFill(ctx: GpuContext, out: GPUBuffer, n: number, type: 'f32' | 'i32', value: number): void {
  if (n === 0) return;
  const view = new DataView(new ArrayBuffer(4));
  if (type === 'f32') view.setFloat32(0, value, true);
  else view.setInt32(0, value, true);
  ctx.dispatch({ key: 'movement/fill', code: FILL_CODE, buffers: [out], uniforms: uniforms([['u32', n], ['u32', view.getUint32(0, true)]]), workgroups: gridFor(ctx, n) });
}

/** f32 → i32 truncates toward zero (as Math.trunc); i32 → f32 rounds to nearest. */
export function encodeCast(ctx: GpuContext, x: GPUBuffer, out: GPUBuffer, n: number, from: 'f32' | 'i32', to: 'f32' | 'i32'): void {
  if (n === 0) return;
  const code = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<${from}>;
@group(0) @binding(1) var<storage, read_write> out: array<${to}>;
struct U { n: u32 }
@group(0) @binding(2) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi >= u.n) { return; }
  out[gi] = ${to}(x[gi]);
}`;
  ctx.dispatch({ key: `movement/cast/${from}->${to}`, code, buffers: [x, out], uniforms: uniforms([['u32', n]]), workgroups: gridFor(ctx, n) });
}
