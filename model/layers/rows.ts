/**
 * Running a shared frozen layer over two sets of tokens at once (AV-DiT's video and audio rows
 * through the MLP):
 * the rows are stacked, the layer runs once, and the result is cut back. A projection's row
 * depends on its own input row alone, so the numbers are those of two separate calls; the point
 * is the GPU, where the audio rows alone are too few to fill a matmul's tiles.
 */
import * as A from '../../autograd/index.ts';
import type { Tensor } from '../../engine/tensor.ts';

/** [..., D] → [rows, D]. */
export const flatRows = (t: Tensor): Tensor => A.reshape(t, [-1, t.shape.at(-1)!]);

/** f over the rows of x and y stacked, cut back into x's and y's rows (shaped [..., f's width]). */
export function stackedRows(x: Tensor, y: Tensor, f: (rows: Tensor) => Tensor): { x: Tensor; y: Tensor } {
  const nx = x.size / x.shape.at(-1)!, ny = y.size / y.shape.at(-1)!;
  const both = f(A.concat([flatRows(x), flatRows(y)], 0));
  const w = both.shape.at(-1)!;
  return {
    x: A.reshape(A.narrow(both, 0, 0, nx), [...x.shape.slice(0, -1), w]),
    y: A.reshape(A.narrow(both, 0, nx, ny), [...y.shape.slice(0, -1), w]),
  };
}
