/** Walking an N-d output while tracking the flat offsets of broadcast inputs. */
import { broadcastStrides, sizeOf, type Shape } from '../shape.ts';

/**
 * Merge adjacent dims that every operand walks contiguously (or all broadcast), so a
 * [B, L, D] + [D] add becomes [B·L, D] + [1, D]: fewer, longer inner loops.
 */
function mergeDims(outShape: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const shape: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < outShape.length; d++) {
    const n = outShape[d]!;
    if (n === 1) continue;
    const last = shape.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => st[k]![last] === s[d]! * n);
    if (mergeable) {
      shape[last]! *= n;
      strides.forEach((s, k) => (st[k]![last] = s[d]!));
    } else {
      shape.push(n);
      strides.forEach((s, k) => st[k]!.push(s[d]!));
    }
  }
  return { shape, strides: st };
}

/**
 * Calls fn(outStart, offsets, innerStrides, innerLength) once per row of the (merged) output's
 * last dim: the row covers out[outStart … outStart + innerLength), and input k's elements are at
 * offsets[k] + j·innerStrides[k] (stride 0 where broadcast). The inner loop is the caller's, so
 * it stays tight.
 */
export function forEachRow(
  outShape: Shape,
  inShapes: readonly Shape[],
  fn: (outStart: number, offs: Int32Array, inner: Int32Array, n: number) => void,
): void {
  forEachStridedRow(outShape, inShapes.map((s) => broadcastStrides(s, outShape)), fn);
}

/** forEachRow with each input given by its strides over outShape (a view: any strides, 0 = broadcast). */
export function forEachStridedRow(
  outShape: Shape,
  inStrides: number[][],
  fn: (outStart: number, offs: Int32Array, inner: Int32Array, n: number) => void,
): void {
  const total = sizeOf(outShape);
  if (total === 0) return;
  const merged = mergeDims(outShape, inStrides);
  const shape = merged.shape.length ? merged.shape : [1];
  const strides = merged.strides.map((s) => (s.length ? s : [0]));
  const rank = shape.length;
  const n = shape[rank - 1]!;
  const inner = Int32Array.from(strides, (s) => s[rank - 1]!);
  const offs = new Int32Array(inStrides.length);
  const coord = new Int32Array(rank);
  for (let start = 0; start < total; start += n) {
    fn(start, offs, inner, n);
    for (let d = rank - 2; d >= 0; d--) {
      coord[d]!++;
      for (let k = 0; k < strides.length; k++) offs[k]! += strides[k]![d]!;
      if (coord[d]! < shape[d]!) break;
      for (let k = 0; k < strides.length; k++) offs[k]! -= strides[k]![d]! * shape[d]!;
      coord[d] = 0;
    }
  }
}

/** The length of the rows forEachRow would walk (its calls are sizeOf(outShape) / this many). */
export function rowLength(outShape: Shape, inShapes: readonly Shape[]): number {
  const merged = mergeDims(outShape, inShapes.map((s) => broadcastStrides(s, outShape)));
  return merged.shape.length ? merged.shape[merged.shape.length - 1]! : 1;
}

/** Element-by-element form of forEachRow: fn(outIndex, offsets). */
export function forEachBroadcast(outShape: Shape, inShapes: readonly Shape[], fn: (i: number, offs: Int32Array) => void): void {
  const o = new Int32Array(inShapes.length);
  forEachRow(outShape, inShapes, (start, offs, inner, n) => {
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < o.length; k++) o[k] = offs[k]! + j * inner[k]!;
      fn(start + j, o);
    }
  });
}
