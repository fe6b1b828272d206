/** Summing a gradient back to the shape of a broadcast input. */
import * as raw from '../../engine/ops.ts';
import { broadcastAxes, sameShape, type Shape } from '../../engine/shape.ts';
import type { Tensor } from '../../engine/tensor.ts';

/** Σ of g over the axes along which `shape` was broadcast to g's shape, reshaped to `shape`. */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const axes = broadcastAxes(shape, g.shape);
  const s = raw.reduce('sum', g, axes, false);
  return s.view(shape);
}
