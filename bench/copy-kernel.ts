/**
 * The copy-bandwidth baseline of the GPU benchmarks: a plain WGSL copy (vec4 loads and stores, one
 * per invocation). Dawn's copyBufferToBuffer is no baseline on NVIDIA: it ran at ~840 GB/s on the
 * H200 where this kernel ran at ~3900 (bench/RESULTS.md, runs 1 and 9).
 */
import { fold1d, type GpuContext } from '../kernels/context.ts';

const CODE = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = g.x + g.y * nw.x * 256u;
  if (i < arrayLength(&x)) { y[i] = x[i]; }
}`;

/** Record a copy of `bytes` (a multiple of 16) from `src` to `dst` (both at least that big). */
export function encodeCopyKernel(ctx: GpuContext, src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
  const [gx, gy] = fold1d(Math.ceil(bytes / 16 / 256), ctx.limits.maxComputeWorkgroupsPerDimension);
  ctx.dispatch({ key: 'bench/copy-vec4', code: CODE, buffers: [src, dst], workgroups: [gx, gy] });
}
