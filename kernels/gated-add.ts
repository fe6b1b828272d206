/**
 * DiT's gated residual, x + gate ⊙ f(x) (adaLN-Zero: `x + gate_msa.unsqueeze(1) * attn(...)`), as
 * one kernel: x, y [N, L, D], gate [N, D] broadcast over the L tokens of each sample,
 *   out = x + gate_n ⊙ y.
 * Unfused it was a mul (writing gate ⊙ y) and an add (reading it back): two passes over an
 * activation-sized tensor more. Backward, from the incoming gradient g:
 *   dx = g (the caller's own tensor),  dy = gate_n ⊙ g  (the forward kernel without x),
 *   dgate_n = Σ_t g ⊙ y  (16 columns × 16 token lanes of one sample per workgroup, as norm-modulate).
 * vec4 along D when D is a multiple of 4.
 */
import { uniforms, type GpuContext } from './context.ts';
import { entry, grid, GROUP_INDEX_WGSL, gridFor, WG } from './grid.ts';
import { COL_COLS, COL_LANES, COL_PAIR_SUM_WGSL } from './row.ts';

export interface GatedSizes {
  N: number;
  L: number;
  D: number;
}

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

function dgateCode(): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dgate: array<f32>;
struct U { N: u32, D: u32, L: u32, colBlocks: u32 }
@group(0) @binding(3) var<uniform> u: U;
${COL_PAIR_SUM_WGSL}
${GROUP_INDEX_WGSL}
@compute @workgroup_size(${COL_COLS}, ${COL_LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let gi = groupIndex(wid, nwg);
  let b = gi / u.colBlocks;
  if (b >= u.N) { return; }
  let j = (gi % u.colBlocks) * ${COL_COLS}u + l.x;
  var s = 0.0;
  if (j < u.D) {
    for (var t = l.y; t < u.L; t += ${COL_LANES}u) {
      let e = (b * u.L + t) * u.D + j;
      s += g[e] * y[e];
    }
  }
  let tot = colPairSum(s, 0.0, l);
  if (l.y == 0u && j < u.D) { dgate[b * u.D + j] = tot.x; }
}`;
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
  ctx: GpuContext, g: GPUBuffer, gate: GPUBuffer, y: GPUBuffer, out: { dgate: GPUBuffer | null; dy: GPUBuffer }, d: GatedSizes,
): void {
  encodeScale(ctx, null, gate, g, out.dy, d);
  if (!out.dgate || d.N === 0 || d.D === 0) return;
  const colBlocks = Math.ceil(d.D / COL_COLS);
  ctx.dispatch({
    key: 'gated-add/dgate',
    code: dgateCode,
    buffers: [g, y, out.dgate],
    uniforms: uniforms([['u32', d.N], ['u32', d.D], ['u32', d.L], ['u32', colBlocks]]),
    workgroups: grid(ctx, d.N * colBlocks),
  });
}
