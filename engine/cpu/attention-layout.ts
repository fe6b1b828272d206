/**
 * The CPU backend's side of strided attention operands (kernels/attention-layout.ts): its
 * reference kernels read contiguous [n, len, w] rows, so operands in a layout are gathered into
 * that form first and results scattered back. Row (n, i) of operand X starts at
 *   X.off + (p / X.G)·X.sB + (p mod X.G)·X.sG + (n mod H)·X.sH + i·X.sL,  p = n / H.
 */
import { groupOf, type RowLayout } from '../../kernels/attention-layout.ts';
import type { TypedArray } from '../dtype.ts';
import { gatherRowsWasm, scatterRowsWasm, type OperandRows } from './wasm/elementwise.ts';

function rowStart(r: RowLayout, H: number, n: number, i: number): number {
  const [G, sG] = groupOf(r), p = Math.floor(n / H);
  return r.off + Math.floor(p / G) * r.sB + (p % G) * sG + (n % H) * r.sH + i * r.sL;
}

/** Copy the rows of `src` laid out as `r` into `out`, contiguous [n, len, w]. */
export function gatherRows(src: TypedArray, r: RowLayout, H: number, n: number, len: number, w: number, out: TypedArray): TypedArray {
  // f32 in WebAssembly (copies in and out at memcpy speed, rows four floats at a time): ~2.5× the loop below.
  if (src instanceof Float32Array && out instanceof Float32Array && gatherRowsWasm(src, H, n, [{ r, len, w }], [out])) return out;
  for (let h = 0; h < n; h++) {
    for (let i = 0; i < len; i++) {
      const s = rowStart(r, H, h, i), o = (h * len + i) * w;
      for (let c = 0; c < w; c++) out[o + c] = src[s + c]!;
    }
  }
  return out;
}

/** Write contiguous [n, len, w] rows `src` into `dst` laid out as `r`. */
export function scatterRows(src: TypedArray, dst: TypedArray, r: RowLayout, H: number, n: number, len: number, w: number): void {
  if (src instanceof Float32Array && dst instanceof Float32Array && scatterRowsWasm(dst, H, n, [{ r, len, w }], [src])) return;
  for (let h = 0; h < n; h++) {
    for (let i = 0; i < len; i++) {
      const s = (h * len + i) * w, o = rowStart(r, H, h, i);
      for (let c = 0; c < w; c++) dst[o + c] = src[s + c]!;
    }
  }
}

/**
 * gatherRows for several operands of one array (q, k, v of a packed projection): `outs[i]` gets
 * operand i. In WebAssembly the array is copied in once for all of them.
 */
export function gatherRowsMany(src: TypedArray, H: number, n: number, parts: readonly OperandRows[], outs: readonly TypedArray[]): void {
  if (src instanceof Float32Array && outs.every((o) => o instanceof Float32Array) && gatherRowsWasm(src, H, n, parts, outs as Float32Array[])) return;
  parts.forEach((p, i) => gatherRows(src, p.r, H, n, p.len, p.w, outs[i]!));
}

/** scatterRows for several operands of one array (dq, dk, dv of a packed gradient): one copy of `dst` in and out in WebAssembly. */
export function scatterRowsMany(dst: TypedArray, H: number, n: number, parts: readonly OperandRows[], srcs: readonly TypedArray[]): void {
  if (dst instanceof Float32Array && srcs.every((s) => s instanceof Float32Array) && scatterRowsWasm(dst, H, n, parts, srcs as Float32Array[])) return;
  parts.forEach((p, i) => scatterRows(srcs[i]!, dst, p.r, H, n, p.len, p.w));
}
