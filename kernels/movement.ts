/**
 * Data movement on 32-bit words (so it serves f32 and i32 alike): one strided-copy kernel and
 * a fill. Every layout op is a walk over a box with a source and a destination stride per dim:
 *   dst[dstBase + Σ c·dstStride] = src[srcBase + Σ c·srcStride]
 * permute / slice / expand read strided and write contiguously; padSlice / concat read
 * contiguously and write into a box of the output. Cast converts between f32 and i32.
 */
import { uniforms, type GpuContext } from './context.ts';
import { coalesce, contiguousStrides, entry, GROUP_INDEX_WGSL, gridFor, offsetsWgsl, shapeUniforms, WG } from './grid.ts';

/**
 * One invocation per word, or (`vec4`) per 4 consecutive words when the innermost dim is a
 * multiple of 4, contiguous on both sides, and every other stride and both bases are multiples
 * of 4 (so each group of 4 is one aligned vec4 on both sides): head splits and merges, slices
 * and concatenations along outer axes copy like a vec4 copy.
 */
function copyCode(rank: number, vec4: boolean): string {
  const { fields } = shapeUniforms(new Array<number>(rank).fill(0), [new Array<number>(rank).fill(0), new Array<number>(rank).fill(0)]);
  const word = vec4 ? 'vec4<u32>' : 'u32';
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<${word}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${word}>;
struct U { n: u32, srcBase: u32, dstBase: u32, ${fields.join(', ')} }
@group(0) @binding(2) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi >= u.n) { return; }
  ${offsetsWgsl(rank, 2, vec4 ? 'gi * 4u' : 'gi')}
  ${vec4 ? 'dst[(u.dstBase + o1) >> 2u] = src[(u.srcBase + o0) >> 2u];' : 'dst[u.dstBase + o1] = src[u.srcBase + o0];'}
}`;
}

const by4 = (x: number): boolean => x % 4 === 0;

/** Copy the box `shape` from src (strides, base) into dst (strides, base). */
export function encodeStridedCopy(
  ctx: GpuContext, src: GPUBuffer, dst: GPUBuffer, shape: readonly number[],
  srcStrides: readonly number[], srcBase: number, dstStrides: readonly number[], dstBase: number,
): void {
  const n = shape.reduce((p, d) => p * d, 1);
  if (n === 0) return;
  const m = coalesce(shape, [srcStrides, dstStrides]);
  const rank = m.shape.length;
  const last = rank - 1;
  const vec4 = rank > 0 && by4(m.shape[last]!) && m.strides.every((st) => st[last] === 1 && st.slice(0, last).every(by4)) && by4(srcBase) && by4(dstBase);
  const { values } = shapeUniforms(m.shape, m.strides);
  const threads = vec4 ? n / 4 : n;
  ctx.dispatch({
    key: `movement/copy/rank${rank}${vec4 ? '/v4' : ''}`,
    code: () => copyCode(rank, vec4),
    buffers: [src, dst],
    uniforms: uniforms([['u32', threads], ['u32', srcBase], ['u32', dstBase], ...values]),
    workgroups: gridFor(ctx, threads),
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

const fillCode = (vec4: boolean): string => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<${vec4 ? 'vec4<u32>' : 'u32'}>;
struct U { n: u32, bits: u32 }
@group(0) @binding(1) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi >= u.n) { return; }
  out[gi] = ${vec4 ? 'vec4<u32>(u.bits)' : 'u.bits'};
}`;

/** Fill n words with the bit pattern of `value` as f32 or i32 (4 words per invocation when n allows). */
export function encodeFill(ctx: GpuContext, out: GPUBuffer, n: number, type: 'f32' | 'i32', value: number): void {
  if (n === 0) return;
  const view = new DataView(new ArrayBuffer(4));
  if (type === 'f32') view.setFloat32(0, value, true);
  else view.setInt32(0, value, true);
  const vec4 = by4(n);
  const threads = vec4 ? n / 4 : n;
  ctx.dispatch({
    key: `movement/fill${vec4 ? '/v4' : ''}`, code: fillCode(vec4), buffers: [out],
    uniforms: uniforms([['u32', threads], ['u32', view.getUint32(0, true)]]), workgroups: gridFor(ctx, threads),
  });
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
