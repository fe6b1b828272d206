/**
 * f32 → f16 copies of a buffer (two halves per 32-bit word), for v4's `:gb` matmul option, which
 * reads B as f16 fragments straight from memory: the same conversion (`f16(x)`, round to nearest)
 * the other v4 forms apply while staging B, so the products are the same. The WebGPU backend's
 * copies of weights (engine/webgpu/f16-cache.ts) and `:ga`'s activations are made with it.
 */
import { uniforms, type GpuContext } from './context.ts';
import { entry, gridFor, GROUP_INDEX_WGSL } from './grid.ts';

const CAST_WGSL = /* wgsl */ `enable f16;
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec2<f16>>;
struct U { n: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(2) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(256)}
  // Element pair gi: 2·gi and 2·gi + 1 (the second 0 past an odd n).
  let i = 2u * gi;
  if (i >= u.n) { return; }
  let hi = select(0.0, src[min(i + 1u, u.n - 1u)], i + 1u < u.n);
  dst[gi] = vec2<f16>(f16(src[i]), f16(hi));
}`;

/** Bytes of an f16 copy of n elements (whole 32-bit words). */
export const f16Bytes = (n: number): number => 4 * Math.ceil(n / 2);

/** dst (f16, f16Bytes(n) bytes) = the n f32 values of src, each rounded to f16. Needs shader-f16. */
export function encodeToF16(ctx: GpuContext, src: GPUBuffer, dst: GPUBuffer, n: number): void {
  if (!ctx.features.f16) throw new Error('encodeToF16: this device has no shader-f16');
  if (n === 0) return;
  ctx.dispatch({ key: 'cast/f32-f16', code: CAST_WGSL, buffers: [src, dst], uniforms: uniforms([['u32', n]]), workgroups: gridFor(ctx, Math.ceil(n / 2)) });
}
