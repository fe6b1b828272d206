/**
 * Mixed-precision flash attention on subgroup matrices (tensor cores): Q, K, V, dO are rounded to
 * f16 as they are staged in workgroup memory, every product (Q Kᵀ, P V, dO Vᵀ, dS K, Pᵀ dO,
 * dSᵀ Q) is a 16×16×16 f16 fragment MMA accumulated in f32, and the softmax statistics (row max,
 * row sum, lse, D) stay f32. Same contract as the f32 kernels (attention.ts, attention-bwd.ts):
 * q [n,l,dqk], k [n,s,dqk], v [n,s,dv] f32 in, o [n,l,dv] and lse [n,l] f32 out (rows found through
 * attention-layout.ts, so the operands may also be heads inside a packed projection); the l×s
 * score matrix never exists in memory.
 *
 * Layout. A workgroup owns a block of rows (queries; keys for dK/dV), 16 per subgroup of 32
 * invocations; subgroup g owns rows 16g .. 16g+15 and every fragment along them. Head dims are
 * padded with zeros to a multiple of 16; f16 tiles are row-major [row][dim] with rows padded by
 * 8 halves. The element-wise work (exp, masks, dS) is done by invocation pairs: invocation i
 * handles row i/2 (a row of its own subgroup) and one half of the tile's columns; scores go
 * through workgroup memory as f32 (fragment store), probabilities back as f16 (fragment load).
 *
 * Forward without rescaling. Fragment accumulators cannot be scaled row by row, so instead of the
 * online softmax (attention.ts) the forward makes two passes over the keys: the first computes
 * the row maxima m of S = (scale·Q) Kᵀ, the second P = e^{S−m} (≤ 1, safe in f16), ℓ = Σ P and
 * O += P V in fragments; at the end o = O/ℓ, lse = m + log ℓ. The first pass is half the second's
 * MMAs (no P V), so the forward costs 1.5× the MMAs of a one-pass kernel, all on tensor cores.
 * A one-pass form with lazy rescaling (onePassLoop, AVDIT_MIXED_ONEPASS=1) is an option: its first
 * version was wrong on the H200 (run 9: o off by ~100%, lse right, NaN under workgroup poison)
 * though its emulation passed; the present one no longer loads result fragments from workgroup
 * memory (the suspect) and has not run on hardware yet (the GPU script tests and times it).
 *
 * Backward (FA2, Dao 2023, Alg. 2, with no atomics, as attention-bwd.ts): D = rowsum(dO∘O) by
 * the f32 row-dot kernel; dQ: per query block, for each key tile S = Q̃Kᵀ (Q̃ = scale·Q),
 * dP = dO Vᵀ, dS = P∘(dP − D) with P = e^{S − lse} (f16 into workgroup memory), dQ += dS K, and
 * dQ·scale at the end; dK/dV: per key block, for each query tile Sᵀ = K Q̃ᵀ, dPᵀ = V dOᵀ, then
 * dV += Pᵀ dO and dK += dSᵀ Q̃ (Q̃ carries the scale). Transposed operands are fragment loads in
 * column-major order from the same row-major tiles.
 *
 * `emulate` swaps the builtins for plain WGSL (kernels/sgmat-ops.ts) so lavapipe runs the same
 * tiling in CI.
 */
import { uniforms, type Dispatch, type GpuContext } from './context.ts';
import type { AttentionShape } from './attention.ts';
import { encodeRowDot } from './attention-bwd.ts';
import { layoutUniforms, rowIOKey, type RowIO } from './attention-layout.ts';
import { dkdvCode, dqCode } from './attention-sgmat-bwd.ts';
import { fwdCode } from './attention-sgmat-fwd.ts';
import { ioOf } from './attention-sgmat-parts.ts';
import { doubleBufferOn, mixedAttentionTuning, onePassOn, pickMixedTiles, type MixedKernel, type MixedTiles } from './attention-sgmat-tiles.ts';
import { grid } from './grid.ts';
import { MATMUL_DEFAULTS } from './matmul.ts';
import { FRAG as F, type SgSyntax } from './sgmat-ops.ts';

export {
  doubleBufferOn, mixedAttentionTuning, mixedTileBytes, mixedTileCandidates, pickMixedTiles, tunedKey, type MixedKernel, type MixedTiles,
} from './attention-sgmat-tiles.ts';

/**
 * How attention runs under mixed precision on this device: the tensor-core kernels when it has
 * f16×f16→f32 16×16×16 subgroup matrices, the emulated ones when a test asks, else null (the
 * f32 kernels run). AVDIT_MIXED_ATTENTION=0 keeps mixed precision's attention in f32.
 */
export function mixedAttentionOptions(ctx: GpuContext): MixedOptions | null {
  if (mixedAttentionTuning.off || process.env.AVDIT_MIXED_ATTENTION === '0') return null;
  const sm = ctx.features.subgroupMatrix;
  if (sm && sm.M === F && sm.N === F && sm.K === F) return { emulate: false, syntax: MATMUL_DEFAULTS.sgSyntax };
  if (mixedAttentionTuning.emulate && ctx.features.f16) return { emulate: true, syntax: MATMUL_DEFAULTS.sgSyntax };
  return null;
}

const CODE = { fwd: fwdCode, dq: dqCode, dkdv: dkdvCode };

/** Pipeline key of a mixed kernel. */
const keyOf = (kind: MixedKernel, d: AttentionShape, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, packed: boolean): string =>
  `attention-mixed/${kind}/${emulate ? 'emu' : syntax}/${d.dqk}x${d.dv}/o${t.bo}t${t.bt}${rowIOKey(io)}${packed ? '/packed' : ''}${mixedAttentionTuning.scalarStaging ? '/scalar' : ''}${mixedAttentionTuning.prefetch ? '/prefetch' : ''}${kind === 'fwd' && onePassOn() ? '/1p' : ''}${doubleBufferOn(kind) ? '/db' : ''}`;

/** The dispatch of one mixed kernel (without recording it): benchmarks time or alter its WGSL. */
export function mixedDispatch(
  ctx: GpuContext, kind: MixedKernel, d: AttentionShape, buffers: GPUBuffer[], emulate: boolean, syntax: SgSyntax,
): Dispatch {
  const own = kind === 'dkdv' ? d.s : d.l;
  const t = pickMixedTiles(kind, own, d.dqk, d.dv, ctx.limits.maxComputeWorkgroupStorageSize);
  const blocks = Math.ceil(own / t.bo);
  const io = ioOf(d);
  const packed = kind === 'dkdv' && (d.layout?.packed ?? false);
  return {
    key: keyOf(kind, d, t, emulate, syntax, io, packed),
    code: CODE[kind](d.dqk, d.dv, t, emulate, syntax, io, packed),
    buffers,
    uniforms: uniforms([['u32', d.n], ['u32', d.l], ['u32', d.s], ['u32', blocks], ['f32', d.scale], ['u32', 0], ...layoutUniforms(d)]),
    workgroups: grid(ctx, d.n * blocks),
  };
}

export interface MixedOptions {
  /** Plain-WGSL stand-ins for the subgroup-matrix builtins (lavapipe; slow). */
  emulate: boolean;
  syntax: SgSyntax;
}

export function encodeAttentionMixed(ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, d: AttentionShape, opt: MixedOptions): void {
  if (d.n === 0 || d.l === 0) return;
  ctx.dispatch(mixedDispatch(ctx, 'fwd', d, [q, k, v, o, lse], opt.emulate, opt.syntax));
}

export function encodeAttentionBwdMixed(
  ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, dO: GPUBuffer,
  out: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, d: AttentionShape, opt: MixedOptions,
): void {
  if (d.n === 0 || d.l === 0 || d.s === 0) return;
  const D = ctx.scratch(d.n * d.l * 4);
  encodeRowDot(ctx, dO, o, D, d);
  const ins = [q, k, v, dO, lse, D];
  ctx.dispatch(mixedDispatch(ctx, 'dq', d, [...ins, out.dq], opt.emulate, opt.syntax));
  ctx.dispatch(mixedDispatch(ctx, 'dkdv', d, d.layout?.packed ? [...ins, out.dk] : [...ins, out.dk, out.dv], opt.emulate, opt.syntax));
}
