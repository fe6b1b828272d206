/**
 * Attention for narrow heads in WebAssembly (kernels.wat attnFwd / attnBwd): the tiny models' heads
 * (16 wide, 8 … 48 tokens) cost a few µs of arithmetic each, and the gemm path (fused.ts) spends
 * more than that per head on its matmul calls' copies and packing. Here a whole part of heads is
 * copied in once, computed head after head inside the module, and copied out.
 *
 * The same steps and summation orders as attentionFwdGemm / attentionBwdGemm; e^x is the module's
 * (expF32's algorithm, ~1e-8 relative) instead of Math.exp, so results agree with the gemm path to
 * f32 rounding, and are the same bits for any split of the heads (threads.ts).
 *
 * Each function returns false (having done nothing) where the module is unavailable.
 */
import type { AttentionDims } from '../../backend.ts';
import { attentionUsesGemm } from '../attention-rule.ts';
import { reserve } from './instance.ts';
import { kernels } from './kernels.ts';

/**
 * Heads this path takes: narrow ones (dqk + dv ≤ 64: the tiny models' 16-wide heads, the temporal
 * adapter's 2/16). It beat the gemm path at every length measured with d = 16 and 32 (16² … 256²:
 * forward 1.1–1.9×, backward 1.2–2.9× faster, 2026-11-26, bench/cpu-kernels.ts);
 * at d = 72 the gemm path's register blocking wins by a few percent.
 */
export const SMALL_HEAD_WIDTH = 64;

/**
 * Narrow heads among those the gemm path would take (fused.ts attentionUsesGemm): heads of a few
 * elements (l or s below 4) keep the f64-accumulating loops, whose precision the gradient checks
 * lean on where a gradient is zero in exact arithmetic (s = 1: dQ is rounding noise, ~1e-17 there
 * against ~1e-9 in f32, and the WebGPU gradcheck measures against a 1e-6 floor).
 */
export function smallHeads(d: AttentionDims): boolean {
  return attentionUsesGemm(d) && d.dqk + d.dv <= SMALL_HEAD_WIDTH;
}

const up4 = (x: number): number => (x + 3) & ~3;

/** Scratch floats attnFwd / attnBwd need (kernels.wat's layouts, plus alignment slack). */
function fwdScratch({ l, s, dqk, dv }: AttentionDims): number {
  return dqk * up4(s) + s * up4(dv) + l * up4(s) + 4 + l * up4(dv) + 8;
}
function bwdScratch({ l, s, dqk, dv }: AttentionDims): number {
  const l4 = up4(l), q4 = up4(dqk), v4 = up4(dv);
  return dqk * l4 + dv * l4 + 2 * s * l4 + l * v4 + l * q4 + s * q4 + Math.max(l, s) * Math.max(q4, v4) + 4 * l4 + 8;
}

/** Float offsets of n heads' worth of each operand (sizes: floats per head), each 16-byte aligned, and the end. */
function layout(sizes: readonly number[], n: number): { off: number[]; end: number } {
  const off: number[] = [];
  let end = 0;
  for (const z of sizes) {
    off.push(end);
    end += up4(n * z);
  }
  return { off, end };
}

/** Heads per call: their operands in about 1 MB. */
function headsPerCall(floatsPerHead: number): number {
  return Math.max(1, Math.floor((1 << 18) / floatsPerHead));
}

/** O, LSE for heads [h0, h1) (attentionFwd's contract). */
export function attentionFwdWasm(Q: Float32Array, K: Float32Array, V: Float32Array, d: AttentionDims, O: Float32Array, LSE: Float32Array, h0: number, h1: number): boolean {
  const m = kernels();
  if (!m) return false;
  const { l, s, dqk, dv, scale } = d;
  const sizes = [l * dqk, s * dqk, s * dv, l * dv]; // q, k, v, o per head
  const per = sizes.reduce((a, b) => a + b) + 4 * l; // + two f64 statistics per row
  const chunk = headsPerCall(per);
  for (let h = h0; h < h1; h += chunk) {
    const n = Math.min(chunk, h1 - h);
    // Layout (floats): q | k | v | o | stats (f64, 8-byte aligned) | scratch
    const { off, end } = layout(sizes, n);
    let at = end;
    const stat = at;
    at += 4 * n * l;
    const w = at;
    at += fwdScratch(d);
    reserve(m.memory, 4 * at);
    const F = new Float32Array(m.memory.buffer);
    F.set(Q.subarray(h * sizes[0]!, (h + n) * sizes[0]!), off[0]);
    F.set(K.subarray(h * sizes[1]!, (h + n) * sizes[1]!), off[1]);
    F.set(V.subarray(h * sizes[2]!, (h + n) * sizes[2]!), off[2]);
    m.attnFwd(4 * off[0]!, 4 * off[1]!, 4 * off[2]!, 4 * off[3]!, 4 * stat, n, l, s, dqk, dv, scale, 4 * w);
    O.set(F.subarray(off[3]!, off[3]! + n * sizes[3]!), h * sizes[3]!);
    const st = new Float64Array(m.memory.buffer, 4 * stat, 2 * n * l);
    for (let r = 0; r < n * l; r++) LSE[h * l + r] = st[r]! + Math.log(st[n * l + r]!);
  }
  return true;
}

/** dQ, dK, dV for heads [h0, h1) (attentionBwd's contract). */
export function attentionBwdWasm(
  Q: Float32Array, K: Float32Array, V: Float32Array, O: Float32Array, LSE: Float32Array, dO: Float32Array, d: AttentionDims,
  dQ: Float32Array, dK: Float32Array, dV: Float32Array, h0: number, h1: number,
): boolean {
  const m = kernels();
  if (!m) return false;
  const { l, s, dqk, dv, scale } = d;
  // q, k, v, o, lse, dO in; dq, dk, dv out (floats per head)
  const sizes = [l * dqk, s * dqk, s * dv, l * dv, l, l * dv, l * dqk, s * dqk, s * dv];
  const ins = [Q, K, V, O, LSE, dO];
  const outs = [dQ, dK, dV];
  const chunk = headsPerCall(sizes.reduce((a, b) => a + b));
  for (let h = h0; h < h1; h += chunk) {
    const n = Math.min(chunk, h1 - h);
    const { off, end: w } = layout(sizes, n);
    reserve(m.memory, 4 * (w + bwdScratch(d)));
    const F = new Float32Array(m.memory.buffer);
    ins.forEach((src, i) => F.set(src.subarray(h * sizes[i]!, (h + n) * sizes[i]!), off[i]));
    m.attnBwd(...(off.map((o) => 4 * o) as [number, number, number, number, number, number, number, number, number]), n, l, s, dqk, dv, scale, 4 * w);
    outs.forEach((dst, i) => dst.set(F.subarray(off[6 + i]!, off[6 + i]! + n * sizes[6 + i]!), h * sizes[6 + i]!));
  }
  return true;
}
