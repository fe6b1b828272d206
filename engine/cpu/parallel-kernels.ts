/**
 * The kernels the CPU worker threads run, each as a part runner over a range of units: 4-row
 * blocks of a matmul's output, or heads of an attention. The main thread runs the same functions
 * for its own parts (threads.ts).
 */
import type { AttentionDims } from '../backend.ts';
import * as fused from './fused.ts';
import { gemmABt } from './matmul.ts';
import { fillRandom } from './random-fill.ts';
import { geluF32, geluGradF32 } from './scalar-math.ts';
import { geluBwdWasm, geluWasm } from './wasm/elementwise.ts';
import type { KernelName, PartRunner } from './threads.ts';

/** C[rows, :] += A[rows, :]·Btᵀ for the 4-row blocks lo … hi − 1 (params aOff, btOff, cOff, M, K, N). */
const gemmRows: PartRunner = ({ arrays: [A, Bt, C], params: p }, lo, hi) => {
  const r0 = lo * 4, r1 = Math.min(p.M!, hi * 4);
  gemmABt(A!, p.aOff! + r0 * p.K!, Bt!, p.btOff!, C!, p.cOff! + r0 * p.N!, r1 - r0, p.K!, p.N!);
};

const dims = (p: Record<string, number>): AttentionDims => ({ n: p.n!, l: p.l!, s: p.s!, dqk: p.dqk!, dv: p.dv!, scale: p.scale! });

const attentionHeads: PartRunner = ({ arrays: [Q, K, V, O, LSE], params }, lo, hi) => fused.attentionFwd(Q!, K!, V!, dims(params), O!, LSE!, lo, hi);

const attentionBwdHeads: PartRunner = ({ arrays: [Q, K, V, O, LSE, dO, dQ, dK, dV], params }, lo, hi) =>
  fused.attentionBwd(Q!, K!, V!, O!, LSE!, dO!, dims(params), dQ!, dK!, dV!, lo, hi);

/** out[i] = gelu(x[i]) (f32 fast path, in WebAssembly where available: the same bits) for i in [lo, hi). */
const geluRange: PartRunner = ({ arrays: [X, O] }, lo, hi) => {
  if (geluWasm(X as Float32Array, O as Float32Array, lo, hi)) return;
  for (let i = lo; i < hi; i++) O![i] = geluF32(X![i]!);
};

/** out[i] = dy[i]·gelu'(x[i]) (f32 fast path) for i in [lo, hi): the same shapes, no broadcast. */
const geluBwdRange: PartRunner = ({ arrays: [X, DY, O] }, lo, hi) => {
  if (geluBwdWasm(X as Float32Array, DY as Float32Array, O as Float32Array, lo, hi)) return;
  for (let i = lo; i < hi; i++) O![i] = DY![i]! * geluGradF32(X![i]!);
};

/**
 * out[i] = the Philox draw of counter offset + i for i in [lo, hi) (params seed, offset, normal):
 * counter-based, so a range is the same numbers whoever fills it.
 */
const philoxRange: PartRunner = ({ arrays: [O], params: p }, lo, hi) =>
  fillRandom((O as Float32Array | Float64Array).subarray(lo, hi), p.normal ? 'normal' : 'uniform', p.seed!, p.offset! + lo);

export const KERNELS: Record<KernelName, PartRunner> = {
  gemmABt: gemmRows, attentionFwd: attentionHeads, attentionBwd: attentionBwdHeads, gelu: geluRange, geluBwd: geluBwdRange, philox: philoxRange,
};
