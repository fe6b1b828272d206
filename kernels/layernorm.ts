/**
 * LayerNorm over the last axis (D), optional weight w and bias b, T invocations per row (kernels/row.ts).
 * Forward (two passes, as the CPU oracle): μ = mean(x), r = 1/sqrt(mean((x−μ)²) + eps),
 *   y = (x − μ)·r·w + b; μ and r are kept for the backward.
 * Backward, with x̂ = (x − μ)·r and g = dy ⊙ w:
 *   dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),   dw = Σ_rows dy ⊙ x̂,   db = Σ_rows dy.
 * dw/db are column sums: a workgroup takes 16 columns × 16 row lanes, then sums the lanes.
 */
import { uniforms, type GpuContext } from './context.ts';
import {
  rowElements, rowEnable, rowEntry, rowHelpers, rowKey, rowLayerNormDxWgsl, rowGrid, rowMeanRstdWgsl, rowShape, sampleColumnGrid, sampleColumnSumsWgsl,
  type RowShape,
} from './row.ts';

function fwdCode(shape: RowShape, hasW: boolean, hasB: boolean): string {
  let k = 1;
  const wBind = hasW ? `@group(0) @binding(${k++}) var<storage, read> w: array<RV>;` : '';
  const bBind = hasB ? `@group(0) @binding(${k++}) var<storage, read> b: array<RV>;` : '';
  const yExpr = `(xv - mu) * rs${hasW ? ' * w[j]' : ''}${hasB ? ' + b[j]' : ''}`;
  const el = rowElements(shape, { xv: 'x[o + j]' });
  return /* wgsl */ `${rowEnable(shape.SG)}
@group(0) @binding(0) var<storage, read> x: array<RV>;
${wBind}
${bBind}
@group(0) @binding(${k}) var<storage, read_write> y: array<RV>;
@group(0) @binding(${k + 1}) var<storage, read_write> mean: array<f32>;
@group(0) @binding(${k + 2}) var<storage, read_write> rstd: array<f32>;
struct U { rows: u32, D: u32, eps: f32 }
@group(0) @binding(${k + 3}) var<uniform> u: U;
${rowHelpers(shape)}
${rowEntry(shape)}
${el.read}
${rowMeanRstdWgsl(el)}
  if (!live) { return; }
  if (lid == 0u) { mean[row] = mu; rstd[row] = rs; }
${el.pass(`y[o + j] = ${yExpr};`)}
}`;
}

function bwdDxCode(shape: RowShape, hasW: boolean): string {
  const g = hasW ? 'dyv * w[j]' : 'dyv';
  return /* wgsl */ `${rowEnable(shape.SG)}
@group(0) @binding(0) var<storage, read> dy: array<RV>;
@group(0) @binding(1) var<storage, read> x: array<RV>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
${hasW ? '@group(0) @binding(4) var<storage, read> w: array<RV>;' : ''}
@group(0) @binding(${hasW ? 5 : 4}) var<storage, read_write> dx: array<RV>;
struct U { rows: u32, D: u32 }
@group(0) @binding(${hasW ? 6 : 5}) var<uniform> u: U;
${rowHelpers(shape)}
${rowEntry(shape)}
${rowLayerNormDxWgsl(shape, g)}
}`;
}


/** Column sums Σ_rows dy·x̂ (dw) and/or Σ_rows dy (db): row.ts sampleColumnSumsWgsl with one sample of all rows. */
function bwdParamCode(hasW: boolean, hasB: boolean): string {
  let k = 4;
  const dwBind = hasW ? `@group(0) @binding(${k++}) var<storage, read_write> dw: array<f32>;` : '';
  const dbBind = hasB ? `@group(0) @binding(${k++}) var<storage, read_write> db: array<f32>;` : '';
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
${dwBind}
${dbBind}
${sampleColumnSumsWgsl(k, 'dy[e] * (x[e] - mean[r]) * rstd[r]', 'dy[e]', `${hasW ? 'dw[j] = tot.x;' : ''} ${hasB ? 'db[j] = tot.y;' : ''}`)}`;
}

export interface LayerNormBuffers {
  y: GPUBuffer;
  mean: GPUBuffer;
  rstd: GPUBuffer;
}

export function encodeLayerNorm(
  ctx: GpuContext, x: GPUBuffer, w: GPUBuffer | null, b: GPUBuffer | null, out: LayerNormBuffers, rows: number, D: number, eps: number,
): void {
  if (rows === 0) return;
  const shape = rowShape(ctx, D);
  const ins = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
  ctx.dispatch({
    key: `layernorm/fwd/${rowKey(shape)}/${w ? 'w' : ''}${b ? 'b' : ''}`,
    code: () => fwdCode(shape, !!w, !!b),
    buffers: [...ins, out.y, out.mean, out.rstd],
    uniforms: uniforms([['u32', rows], ['u32', D], ['f32', eps]]),
    workgroups: rowGrid(ctx, rows, shape.T),
  });
}

export function encodeLayerNormBwd(
  ctx: GpuContext, dy: GPUBuffer, x: GPUBuffer, mean: GPUBuffer, rstd: GPUBuffer, w: GPUBuffer | null,
  out: { dx: GPUBuffer; dw: GPUBuffer | null; db: GPUBuffer | null }, rows: number, D: number,
): void {
  if (D === 0) return;
  const shape = rowShape(ctx, D);
  const u = uniforms([['u32', rows], ['u32', D]]);
  if (rows > 0) {
    ctx.dispatch({
      key: `layernorm/bwd-dx/${rowKey(shape)}/${w ? 'w' : ''}`,
      code: () => bwdDxCode(shape, !!w),
      buffers: [dy, x, mean, rstd, ...(w ? [w] : []), out.dx],
      uniforms: u,
      workgroups: rowGrid(ctx, rows, shape.T),
    });
  }
  if (out.dw || out.db) {
    const cols = sampleColumnGrid(ctx, 1, D);
    ctx.dispatch({
      key: `layernorm/bwd-params/${out.dw ? 'w' : ''}${out.db ? 'b' : ''}`,
      code: () => bwdParamCode(!!out.dw, !!out.db),
      buffers: [dy, x, mean, rstd, ...(out.dw ? [out.dw] : []), ...(out.db ? [out.db] : [])],
      uniforms: uniforms([['u32', 1], ['u32', D], ['u32', rows], ['u32', cols.colBlocks]]),
      workgroups: cols.workgroups,
    });
  }
}
