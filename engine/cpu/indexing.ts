/** Walking an N-d output while tracking the flat offsets of broadcast inputs (an odometer). */
import { broadcastStrides, sizeOf, type Shape } from '../shape.ts';

/**
 * Calls fn(outIndex, offset_0, …) for every element of outShape in row-major order, where
 * offset_k is the flat index into input k (shape inShapes[k], broadcast to outShape).
 */
export function forEachBroadcast(outShape: Shape, inShapes: readonly Shape[], fn: (i: number, offs: Int32Array) => void): void {
  const n = sizeOf(outShape);
  const rank = outShape.length;
  const strides = inShapes.map((s) => broadcastStrides(s, outShape));
  const offs = new Int32Array(inShapes.length);
  const coord = new Int32Array(rank);
  for (let i = 0; i < n; i++) {
    fn(i, offs);
    // advance the odometer
    for (let d = rank - 1; d >= 0; d--) {
      coord[d]!++;
      for (let k = 0; k < strides.length; k++) offs[k]! += strides[k]![d]!;
      if (coord[d]! < outShape[d]!) break;
      for (let k = 0; k < strides.length; k++) offs[k]! -= strides[k]![d]! * outShape[d]!;
      coord[d] = 0;
    }
  }
}
