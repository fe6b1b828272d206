/** Which CPU attention path a head size takes (fused.ts, wasm/attention.ts). */
import type { AttentionDims } from '../backend.ts';

/**
 * Whether f32 attention of these sizes runs on matrix kernels (gemmABt, or for narrow heads the
 * WebAssembly path), else the f64-accumulating loops of fused.ts: l, s ≥ 4 and
 * l·s·(dqk + dv) ≥ 256 multiply-adds per head. Below that the calls and transposes cost more than
 * the loops (l = 1 or s = 1 is a matrix-vector product; bench/RESULTS.md, 2026-11-26). A choice
 * on the sizes alone, so that every thread computes every head the same way.
 */
export function attentionUsesGemm(d: AttentionDims): boolean {
  return d.l >= 4 && d.s >= 4 && d.l * d.s * (d.dqk + d.dv) >= 256;
}
