/**
 * LayerNorm (no affine) fused with DiT's adaLN modulate, x [N, L, D], shift/scale [N, D]:
 *   y = x̂ · (1 + scale_n) + shift_n,   x̂ = (x − μ)·r,  r = 1/√(mean((x−μ)²) + eps).
 * T invocations per row (kernels/row.ts, as kernels/layernorm.ts); μ and r are saved for the backward.
 * Backward: the LayerNorm sees g = dy ⊙ (1 + scale_n), so
 *   dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),
 * and the modulation's gradients are sums over the L tokens of each sample:
 *   dshift_n = Σ_t dy,   dscale_n = Σ_t dy ⊙ x̂
 * (a workgroup takes 16 columns × 16 token lanes of one sample, then sums the lanes).
 */
import { uniforms, type GpuContext } from './context.ts';
import {
  rowElements, rowEnable, rowEntry, rowHelpers, rowKey, rowLayerNormDxWgsl, rowGrid, rowMeanRstdWgsl, rowShape, sampleColumnGrid, sampleColumnSumsWgsl,
  type RowShape,
} from './row.ts';

function fwdCode(shape: RowShape): string {
  const el = rowElements(shape, { xv: 'x[o + j]' });
  return /* wgsl */ `${rowEnable(shape.SG)}
@group(0) @binding(0) var<storage, read> x: array<RV>;
@group(0) @binding(1) var<storage, read> shift: array<RV>;
@group(0) @binding(2) var<storage, read> scale: array<RV>;
@group(0) @binding(3) var<storage, read_write> y: array<RV>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
struct U { rows: u32, D: u32, L: u32, eps: f32 }
@group(0) @binding(6) var<uniform> u: U;
${rowHelpers(shape)}
${rowEntry(shape)}
  let so = (row / u.L) * DW;
${el.read}
${rowMeanRstdWgsl(el)}
  if (!live) { return; }
  if (lid == 0u) { mean[row] = mu; rstd[row] = rs; }
${el.pass('y[o + j] = (xv - mu) * rs * (1.0 + scale[so + j]) + shift[so + j];')}
}`;
}

function bwdDxCode(shape: RowShape): string {
  return /* wgsl */ `${rowEnable(shape.SG)}
@group(0) @binding(0) var<storage, read> dy: array<RV>;
@group(0) @binding(1) var<storage, read> x: array<RV>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> scale: array<RV>;
@group(0) @binding(5) var<storage, read_write> dx: array<RV>;
struct U { rows: u32, D: u32, L: u32 }
@group(0) @binding(6) var<uniform> u: U;
${rowHelpers(shape)}
${rowEntry(shape)}
  let so = (row / u.L) * DW;
${rowLayerNormDxWgsl(shape, 'dyv * (1.0 + scale[so + j])')}
}`;
}

/** dshift_n = Σ_t dy, dscale_n = Σ_t dy ⊙ x̂ (row.ts sampleColumnSumsWgsl). */
function bwdParamCode(): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dshift: array<f32>;
@group(0) @binding(5) var<storage, read_write> dscale: array<f32>;
${sampleColumnSumsWgsl(6, 'dy[e]', 'dy[e] * (x[e] - mean[r]) * rstd[r]', 'dshift[b * u.D + j] = tot.x; dscale[b * u.D + j] = tot.y;')}`;
}

export interface NormModulateSizes {
  N: number;
  L: number;
  D: number;
}

export function encodeNormModulate(
  ctx: GpuContext, x: GPUBuffer, shift: GPUBuffer, scale: GPUBuffer,
  out: { y: GPUBuffer; mean: GPUBuffer; rstd: GPUBuffer }, d: NormModulateSizes, eps: number,
): void {
  const rows = d.N * d.L;
  if (rows === 0 || d.D === 0) return;
  const shape = rowShape(ctx, d.D);
  ctx.dispatch({
    key: `norm-modulate/fwd/${rowKey(shape)}`,
    code: () => fwdCode(shape),
    buffers: [x, shift, scale, out.y, out.mean, out.rstd],
    uniforms: uniforms([['u32', rows], ['u32', d.D], ['u32', d.L], ['f32', eps]]),
    workgroups: rowGrid(ctx, rows, shape.T),
  });
}

export function encodeNormModulateBwd(
  ctx: GpuContext, dy: GPUBuffer, x: GPUBuffer, mean: GPUBuffer, rstd: GPUBuffer, scale: GPUBuffer,
  out: { dx: GPUBuffer; dshift: GPUBuffer; dscale: GPUBuffer }, d: NormModulateSizes,
): void {
  const rows = d.N * d.L;
  if (d.N === 0 || d.D === 0) return;
  const shape = rowShape(ctx, d.D);
  if (rows > 0) {
    ctx.dispatch({
      key: `norm-modulate/bwd-dx/${rowKey(shape)}`,
      code: () => bwdDxCode(shape),
      buffers: [dy, x, mean, rstd, scale, out.dx],
      uniforms: uniforms([['u32', rows], ['u32', d.D], ['u32', d.L]]),
      workgroups: rowGrid(ctx, rows, shape.T),
    });
  }
  const { colBlocks, workgroups } = sampleColumnGrid(ctx, d.N, d.D);
  ctx.dispatch({
    key: 'norm-modulate/bwd-params',
    code: () => bwdParamCode(),
    buffers: [dy, x, mean, rstd, out.dshift, out.dscale],
    uniforms: uniforms([['u32', d.N], ['u32', d.D], ['u32', d.L], ['u32', colBlocks]]),
    workgroups,
  });
}
