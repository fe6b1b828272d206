/**
 * DiT's gated residual, x + gate ⊙ f(x) (adaLN-Zero: `x + gate_msa.unsqueeze(1) * attn(...)`), as
 * one kernel: x, y [N, L, D], gate [N, D] broadcast over the L tokens of each sample,
 *   out = x + gate_n ⊙ y.
 * Unfused it was a mul (writing gate ⊙ y) and an add (reading it back): two passes over an
 * activation-sized tensor more. Backward, from the incoming gradient g:
 *   dx = g (the caller's own tensor),  dy = gate_n ⊙ g  (the forward kernel without x),
 *   dgate_n = Σ_t g ⊙ y  (per-sample column sums, row.ts sampleColumnSumsWgsl, as norm-modulate).
 * vec4 along D when D is a multiple of 4.
 */
import { uniforms, type GpuContext } from './context.ts';
import { entry, GROUP_INDEX_WGSL, gridFor, WG } from './grid.ts';
import type { NormModulateSizes as GatedSizes } from './norm-modulate.ts';
import { sampleColumnGrid, sampleColumnSumsWgsl } from './row.ts';

/** out = (x +) gate_n ⊙ y, element-wise (W = 4: vec4 along D). */
function scaleCode(withX: boolean, W: 1 | 4): string {
  const T = W === 4 ? 'vec4<f32>' : 'f32';
  let k = 0;
  const xBind = withX ? `@group(0) @binding(${k++}) var<storage, read> x: array<${T}>;` : '';
  return /* wgsl */ `
${xBind}
@group(0) @binding(${k++}) var<storage, read> gate: array<${T}>;
@group(0) @binding(${k++}) var<storage, read> y: array<${T}>;
@group(0) @binding(${k++}) var<storage, read_write> out: array<${T}>;
// n: elements (in units of W); D, LD: a token's and a sample's elements (units of W).
struct U { n: u32, D: u32, LD: u32 }
@group(0) @binding(${k}) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi >= u.n) { return; }
  let g = gate[(gi / u.LD) * u.D + gi % u.D];
  out[gi] = ${withX ? 'x[gi] + ' : ''}g * y[gi];
}`;
}

/** dgate_n = Σ_t g ⊙ y (row.ts sampleColumnSumsWgsl; its second sum is unused, 0). */
function dgateCode(): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dgate: array<f32>;
${sampleColumnSumsWgsl(3, 'g[e] * y[e]', '0.0', 'dgate[b * u.D + j] = tot.x;')}`;
}

/** out = (x +) gate ⊙ y; `x` null for dy = gate ⊙ g. */
function encodeScale(ctx: GpuContext, x: GPUBuffer | null, gate: GPUBuffer, y: GPUBuffer, out: GPUBuffer, d: GatedSizes): void {
  const W = d.D % 4 === 0 ? 4 : 1;
  const n = (d.N * d.L * d.D) / W;
  if (n === 0) return;
  ctx.dispatch({
    key: `gated-add/${x ? 'fwd' : 'dy'}${W === 4 ? '/v4' : ''}`,
    code: () => scaleCode(x !== null, W),
    buffers: x ? [x, gate, y, out] : [gate, y, out],
    uniforms: uniforms([['u32', n], ['u32', d.D / W], ['u32', (d.L * d.D) / W]]),
    workgroups: gridFor(ctx, n),
  });
}

export function encodeGatedAdd(ctx: GpuContext, x: GPUBuffer, gate: GPUBuffer, y: GPUBuffer, out: GPUBuffer, d: GatedSizes): void {
  encodeScale(ctx, x, gate, y, out, d);
}

export function encodeGatedAddBwd(
  ctx: GpuContext, g: GPUBuffer, gate: GPUBuffer, y: GPUBuffer | null, out: { dgate: GPUBuffer | null; dy: GPUBuffer }, d: GatedSizes,
): void {
  encodeScale(ctx, null, gate, g, out.dy, d);
  if (!y || !out.dgate || d.N === 0 || d.D === 0) return;
  const { colBlocks, workgroups } = sampleColumnGrid(ctx, d.N, d.D);
  ctx.dispatch({
    key: 'gated-add/dgate',
    code: dgateCode,
    buffers: [g, y, out.dgate],
    uniforms: uniforms([['u32', d.N], ['u32', d.D], ['u32', d.L], ['u32', colBlocks]]),
    workgroups,
  });
}
