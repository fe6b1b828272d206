/**
 * Batched matmul with broadcast batch dims and optional transposes (as torch.matmul, plus the
 * transpose flags so no transposed copy is made). For C = A·B:  dA = G·Bᵀ,  dB = Aᵀ·G, each
 * summed over the batch dims the operand was broadcast along.
 */
import * as raw from '../../engine/ops.ts';
import { ShapeError } from '../../engine/errors.ts';
import { fmt } from '../../engine/shape.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { record } from '../tape.ts';
import { unbroadcast } from './broadcast.ts';

/**
 * Batched matrix product op(a)·op(b) with op = transpose when `transA`/`transB`: a [..., M, K], b
 * [..., K, N] → [..., M, N]; batch dims broadcast. Gradients dA = G·Bᵀ, dB = Aᵀ·G, summed over
 * broadcast batch dims.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.rank === 0 || b.rank === 0) throw new ShapeError(`matmul: scalars are not matrices (${fmt(a.shape)} @ ${fmt(b.shape)})`);
  // Vectors: [K] is treated as [1, K] on the left and [K, 1] on the right, then squeezed.
  if (a.rank === 1 || b.rank === 1) {
    const a2 = a.rank === 1 ? reshapeD(a, [1, a.shape[0]!]) : a;
    const b2 = b.rank === 1 ? reshapeD(b, [b.shape[0]!, 1]) : b;
    const c = matmul(a2, b2, a.rank === 1 ? false : transA, b.rank === 1 ? false : transB);
    const shape = c.shape.filter((_, i) => !((a.rank === 1 && i === c.rank - 2) || (b.rank === 1 && i === c.rank - 1)));
    return reshapeD(c, shape);
  }
  const out = raw.matmul(a, b, transA, transB);
  return record('matmul', [a, b], out, (g) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      // A = [M,K]: dA = G Bᵀ (B untransposed) or G B (B given as [N,K]); Aᵀ case transposes the result.
      const ga = transA ? raw.matmul(b, g, transB, true) : raw.matmul(g, b, false, !transB);
      da = unbroadcastBatch(ga, a.shape);
    }
    if (b.requiresGrad) {
      const gb = transB ? raw.matmul(g, a, true, transA) : raw.matmul(a, g, !transA, false);
      db = unbroadcastBatch(gb, b.shape);
    }
    return [da, db];
  }, [...(a.requiresGrad ? [b] : []), ...(b.requiresGrad ? [a] : [])]);
}

function unbroadcastBatch(g: Tensor, shape: readonly number[]): Tensor {
  return unbroadcast(g, shape);
}

/** Differentiable reshape (local, to avoid an import cycle with shape.ts). */
function reshapeD(x: Tensor, shape: readonly number[]): Tensor {
  return record('reshape', [x], raw.reshape(x, shape), (g) => [g.view(x.shape)], []);
}
