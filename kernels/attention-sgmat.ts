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
 * f32 attention on the same kernels, the x3 split (`x3AttentionOptions`; AVDIT_ATTENTION_F32X3,
 * off by default until measured on a GPU): as v4's `:x3` matmul (kernels/matmul-sgmat.ts), every
 * f32 operand is scaled by a power of two from its largest |x| (kernels/absmax.ts, one pass per
 * distinct buffer) into [2^13, 2^14) and staged as hi (its leading 11 significand bits, exact in
 * f16) and lo = f16(x − hi); each fragment product is A_lo·B_hi + A_hi·B_lo + A_hi·B_hi, three
 * MMAs accumulated in f32, about 22 of f32's 24 bits. P (≤ 1) is split times 2^13; dS times
 * 2^(eG + eV − DS_EXP), a bound from dO's and V's maxima (attention-sgmat-bwd.ts dsScale). The
 * scores, P and dS are computed in f32 from the scaled products (exact powers of two back), and
 * the outputs scaled back in the write-back. Accuracy is relative to each operand's largest value.
 *
 * `emulate` swaps the builtins for plain WGSL (kernels/sgmat-ops.ts) so lavapipe runs the same
 * tiling in CI.
 */
import { uniforms, type Dispatch, type GpuContext } from './context.ts';
import type { AttentionShape } from './attention.ts';
import { encodeAbsMaxPairBits, encodeZeroWords } from './absmax.ts';
import { encodeRowDot } from './attention-bwd.ts';
import { layoutUniforms, operandEnd, rowIOKey, type Operand, type RowIO } from './attention-layout.ts';
import { dkdvCode, dqCode } from './attention-sgmat-bwd.ts';
import { fwdCode } from './attention-sgmat-fwd.ts';
import { ioOf } from './attention-sgmat-parts.ts';
import { doubleBufferOn, mixedAttentionTuning, onePassOn, onePassRefusal, pickMixedTiles, type MixedKernel, type MixedTiles } from './attention-sgmat-tiles.ts';
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

/** The WGSL of a kernel (x3: with the slots of its operands' maxima, x3Maxima). */
function codeOf(kind: MixedKernel, d: AttentionShape, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, packed: boolean, x3: X3Maxima | null): string {
  const slots = x3?.slots ?? null;
  if (kind === 'fwd') return fwdCode(d.dqk, d.dv, t, emulate, syntax, io, slots);
  if (kind === 'dq') return dqCode(d.dqk, d.dv, t, emulate, syntax, io, slots);
  return dkdvCode(d.dqk, d.dv, t, emulate, syntax, io, packed, slots);
}

/** Pipeline key of a mixed kernel. */
const keyOf = (kind: MixedKernel, d: AttentionShape, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, packed: boolean, x3: X3Maxima | null): string =>
  `attention-mixed/${kind}/${emulate ? 'emu' : syntax}/${d.dqk}x${d.dv}/o${t.bo}t${t.bt}${rowIOKey(io)}${packed ? '/packed' : ''}${mixedAttentionTuning.scalarStaging ? '/scalar' : ''}${mixedAttentionTuning.prefetch ? '/prefetch' : ''}${kind === 'fwd' && onePassOn() && !x3 ? '/1p' : ''}${doubleBufferOn(kind, !!x3) ? '/db' : ''}${x3 ? `/x3${x3.key}` : ''}`;

/**
 * The dispatch of one mixed kernel (without recording it): benchmarks time or alter its WGSL.
 * `x3`: the f32 split, its operands' maxima bound after `buffers`.
 */
export function mixedDispatch(
  ctx: GpuContext, kind: MixedKernel, d: AttentionShape, buffers: GPUBuffer[], emulate: boolean, syntax: SgSyntax, x3: X3Maxima | null = null,
): Dispatch {
  const refused = kind === 'fwd' && !x3 ? onePassRefusal(emulate) : null;
  if (refused) throw new Error(refused);
  const own = kind === 'dkdv' ? d.s : d.l;
  const t = pickMixedTiles(kind, own, d.dqk, d.dv, ctx.limits.maxComputeWorkgroupStorageSize, !!x3);
  const blocks = Math.ceil(own / t.bo);
  const io = ioOf(d);
  const packed = kind === 'dkdv' && (d.layout?.packed ?? false);
  return {
    key: keyOf(kind, d, t, emulate, syntax, io, packed, x3),
    code: codeOf(kind, d, t, emulate, syntax, io, packed, x3),
    buffers: x3 ? [...buffers, x3.S] : buffers,
    uniforms: uniforms([['u32', d.n], ['u32', d.l], ['u32', d.s], ['u32', blocks], ['f32', d.scale], ['u32', 0], ...layoutUniforms(d)]),
    workgroups: grid(ctx, d.n * blocks),
  };
}

export interface MixedOptions {
  /** Plain-WGSL stand-ins for the subgroup-matrix builtins (lavapipe; slow). */
  emulate: boolean;
  syntax: SgSyntax;
  /** f32 attention through the x3 split (f32 operands as hi + lo f16 fragments). */
  x3?: boolean;
}

/**
 * Which f32 attentions run on the tensor cores through the x3 split. `on`: by default (off until a
 * GPU has measured it; AVDIT_ATTENTION_F32X3 = 1 turns it on, `all` also for short sequences,
 * `emu` likewise and with the emulation where the device has no subgroup matrices, 0 off). `minLen`: only where
 * both l and s reach it (the temporal adapter's 16 frames, d_qk = 9, gain little from fragments
 * of 16 and run well on the f32 kernels: 1.2× PyTorch's, run 10).
 */
export const ATTENTION_X3 = { on: false, minLen: 64 };

/** How f32 attention of this shape runs on tensor cores (the x3 split), or null (the f32 kernels). */
export function x3AttentionOptions(ctx: GpuContext, d: AttentionShape): MixedOptions | null {
  const env = typeof process !== 'undefined' ? process.env.AVDIT_ATTENTION_F32X3 : undefined;
  if (env !== undefined && !['', '0', 'off', '1', 'all', 'emu'].includes(env)) {
    throw new Error(`AVDIT_ATTENTION_F32X3=${env}: expected 1 (on from ATTENTION_X3.minLen), all (every length), emu (emulated where there are no tensor cores) or 0`);
  }
  const forced = !!mixedAttentionTuning.x3;
  if (!forced && (env === '0' || env === 'off' || (!ATTENTION_X3.on && !['1', 'all', 'emu'].includes(env ?? '')))) return null;
  if (!forced && env !== 'all' && env !== 'emu' && Math.min(d.l, d.s) < ATTENTION_X3.minLen) return null;
  const sm = ctx.features.subgroupMatrix;
  if (sm && sm.M === F && sm.N === F && sm.K === F) return { emulate: false, syntax: MATMUL_DEFAULTS.sgSyntax, x3: true };
  if ((forced ? mixedAttentionTuning.emulate : env === 'emu') && ctx.features.f16) return { emulate: true, syntax: MATMUL_DEFAULTS.sgSyntax, x3: true };
  return null;
}

/** The x3 split's operand maxima: a buffer of their bits (kernels/absmax.ts), the WGSL constants naming each operand's slot, and a pipeline-key part. */
interface X3Maxima {
  S: GPUBuffer;
  slots: string;
  key: string;
}

/**
 * The largest |x| of each operand (q, k, v and, for the backward, dO), one pass per distinct
 * buffer over every element its operands' rows reach (a packed qkv: one pass for all three), two
 * buffers a dispatch.
 */
function x3Maxima(ctx: GpuContext, d: AttentionShape, bufs: [Operand, GPUBuffer][]): X3Maxima {
  const S = ctx.scratch(16);
  encodeZeroWords(ctx, S);
  const distinct: { buf: GPUBuffer; end: number }[] = [];
  const slotOf: number[] = [];
  for (const [op, buf] of bufs) {
    let i = distinct.findIndex((x) => x.buf === buf);
    if (i < 0) i = distinct.push({ buf, end: 0 }) - 1;
    distinct[i]!.end = Math.max(distinct[i]!.end, operandEnd(d, op));
    slotOf.push(i);
  }
  // Two buffers a dispatch (an odd one out pairs with nothing: no workgroups for it).
  for (let i = 0; i < distinct.length; i += 2) {
    const [x0, x1] = [distinct[i]!, distinct[i + 1] ?? { buf: distinct[i]!.buf, end: 0 }];
    encodeAbsMaxPairBits(ctx, x0.buf, x0.end, i, x1.buf, x1.end, i + 1, S);
  }
  const names = ['SQ', 'SK', 'SV', 'SG'];
  // Without dO (the forward) SG names slot 0, unused.
  const slots = names.map((n, i) => `const ${n} = ${slotOf[i] ?? 0}u;`).join(' ');
  return { S, slots, key: names.map((_, i) => slotOf[i] ?? 0).join('') };
}

export function encodeAttentionMixed(ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, d: AttentionShape, opt: MixedOptions): void {
  if (d.n === 0 || d.l === 0) return;
  const x3 = opt.x3 ? x3Maxima(ctx, d, [['q', q], ['k', k], ['v', v]]) : null;
  ctx.dispatch(mixedDispatch(ctx, 'fwd', d, [q, k, v, o, lse], opt.emulate, opt.syntax, x3));
}

export function encodeAttentionBwdMixed(
  ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, dO: GPUBuffer,
  out: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, d: AttentionShape, opt: MixedOptions,
): void {
  if (d.n === 0 || d.l === 0 || d.s === 0) return;
  const D = ctx.scratch(d.n * d.l * 4);
  encodeRowDot(ctx, dO, o, D, d);
  const ins = [q, k, v, dO, lse, D];
  const x3 = opt.x3 ? x3Maxima(ctx, d, [['q', q], ['k', k], ['v', v], ['o', dO]]) : null;
  ctx.dispatch(mixedDispatch(ctx, 'dq', d, [...ins, out.dq], opt.emulate, opt.syntax, x3));
  ctx.dispatch(mixedDispatch(ctx, 'dkdv', d, d.layout?.packed ? [...ins, out.dk] : [...ins, out.dk, out.dv], opt.emulate, opt.syntax, x3));
}
