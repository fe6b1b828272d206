/**
 * Softmax over the last axis and its backward, T invocations per row (kernels/row.ts).
 *   y = exp(x − max) / Σ exp(x − max)          dx = y ⊙ (dy − Σ dy ⊙ y)
 */
import { uniforms, type GpuContext } from './context.ts';
import { rowEntry, rowGrid, rowHelpers, threadsPerRow } from './row.ts';

function fwdCode(wg: number): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct U { rows: u32, D: u32 }
@group(0) @binding(2) var<uniform> u: U;
${rowHelpers(wg)}
${rowEntry(wg)}
  var m = -3.0e38;
  for (var j = lid; j < u.D; j += ${wg}u) { m = max(m, x[o + j]); }
  m = wgMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < u.D; j += ${wg}u) { s += exp(x[o + j] - m); }
  s = wgSum(s, lid);
  if (!live) { return; }
  let inv = 1.0 / s;
  for (var j = lid; j < u.D; j += ${wg}u) { y[o + j] = exp(x[o + j] - m) * inv; }
}`;
}

function bwdCode(wg: number): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
struct U { rows: u32, D: u32 }
@group(0) @binding(3) var<uniform> u: U;
${rowHelpers(wg)}
${rowEntry(wg)}
  var s = 0.0;
  for (var j = lid; j < u.D; j += ${wg}u) { s += dy[o + j] * y[o + j]; }
  s = wgSum(s, lid);
  if (!live) { return; }
  for (var j = lid; j < u.D; j += ${wg}u) { dx[o + j] = y[o + j] * (dy[o + j] - s); }
}`;
}

export function encodeSoftmax(ctx: GpuContext, x: GPUBuffer, y: GPUBuffer, rows: number, D: number): void {
  if (rows === 0 || D === 0) return;
  const wg = threadsPerRow(D);
  ctx.dispatch({ key: `softmax/fwd/t${wg}`, code: fwdCode(wg), buffers: [x, y], uniforms: uniforms([['u32', rows], ['u32', D]]), workgroups: rowGrid(ctx, rows, wg) });
}

export function encodeSoftmaxBwd(ctx: GpuContext, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, rows: number, D: number): void {
  if (rows === 0 || D === 0) return;
  const wg = threadsPerRow(D);
  ctx.dispatch({ key: `softmax/bwd/t${wg}`, code: bwdCode(wg), buffers: [y, dy, dx], uniforms: uniforms([['u32', rows], ['u32', D]]), workgroups: rowGrid(ctx, rows, wg) });
}
