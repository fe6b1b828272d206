/**
 * Softmax of scale·x over the last axis and its backward, T invocations per row (kernels/row.ts);
 * scale > 0 (1 but for the composed attention, which scales its scores here):
 *   y = exp(scale·(x − max)) / Σ exp(scale·(x − max))          dx = scale·y ⊙ (dy − Σ dy ⊙ y)
 */
import { uniforms, type GpuContext } from './context.ts';
import { rowElements, rowEnable, rowEntry, rowGrid, rowHelpers, rowKey, rowShape, type RowShape } from './row.ts';

function fwdCode(shape: RowShape): string {
  const el = rowElements(shape, { xv: 'x[o + j]' });
  return /* wgsl */ `${rowEnable(shape.SG)}
@group(0) @binding(0) var<storage, read> x: array<RV>;
@group(0) @binding(1) var<storage, read_write> y: array<RV>;
struct U { rows: u32, D: u32, scale: f32 }
@group(0) @binding(2) var<uniform> u: U;
${rowHelpers(shape)}
${rowEntry(shape)}
${el.read}
  var mv = RV(-3.0e38);
${el.pass('mv = max(mv, xv);')}
  let m = rowMax(hmax(mv));
  var sv = RV(0.0);
${el.pass('sv += exp((xv - m) * u.scale);')}
  let s = rowSum(hsum(sv));
  if (!live) { return; }
  let inv = 1.0 / s;
${el.pass('y[o + j] = exp((xv - m) * u.scale) * inv;')}
}`;
}

function bwdCode(shape: RowShape): string {
  const el = rowElements(shape, { yv: 'y[o + j]', dyv: 'dy[o + j]' });
  return /* wgsl */ `${rowEnable(shape.SG)}
@group(0) @binding(0) var<storage, read> y: array<RV>;
@group(0) @binding(1) var<storage, read> dy: array<RV>;
@group(0) @binding(2) var<storage, read_write> dx: array<RV>;
struct U { rows: u32, D: u32, scale: f32 }
@group(0) @binding(3) var<uniform> u: U;
${rowHelpers(shape)}
${rowEntry(shape)}
${el.read}
  var sv = RV(0.0);
${el.pass('sv += dyv * yv;')}
  let s = rowSum(hsum(sv));
  if (!live) { return; }
${el.pass('dx[o + j] = u.scale * yv * (dyv - s);')}
}`;
}

export function encodeSoftmax(ctx: GpuContext, x: GPUBuffer, y: GPUBuffer, rows: number, D: number, scale = 1): void {
  if (rows === 0 || D === 0) return;
  const shape = rowShape(ctx, D);
  ctx.dispatch({
    key: `softmax/fwd/${rowKey(shape)}`, code: () => fwdCode(shape), buffers: [x, y],
    uniforms: uniforms([['u32', rows], ['u32', D], ['f32', scale]]), workgroups: rowGrid(ctx, rows, shape.T),
  });
}

export function encodeSoftmaxBwd(ctx: GpuContext, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, rows: number, D: number, scale = 1): void {
  if (rows === 0 || D === 0) return;
  const shape = rowShape(ctx, D);
  ctx.dispatch({
    key: `softmax/bwd/${rowKey(shape)}`, code: () => bwdCode(shape), buffers: [y, dy, dx],
    uniforms: uniforms([['u32', rows], ['u32', D], ['f32', scale]]), workgroups: rowGrid(ctx, rows, shape.T),
  });
}
