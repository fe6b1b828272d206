/** Differentiable neural-network ops with fused kernels: embedding gather, softmax, layerNorm, linear. */
import * as raw from '../../engine/ops.ts';
import { ShapeError } from '../../engine/errors.ts';
import { fmt, sizeOf } from '../../engine/shape.ts';
import { Tensor } from '../../engine/tensor.ts';
import { record } from '../tape.ts';

/** Rows of `table` [V, D] at integer indices → [...idx.shape, D]; the gradient scatter-adds back. */
export function gather(table: Tensor, idx: Tensor): Tensor {
  const V = table.shape[0]!;
  return record('gather', [table, idx], raw.gather(table, idx), (g) => [raw.scatterAdd(g, idx, V), null], [idx]);
}

/**
 * Softmax of scale·x over the last axis (scale > 0; the composed attention's 1/√d, so that its
 * scores need no pass of their own); backward dx = scale·y ⊙ (dy − Σ dy ⊙ y) as one fused kernel.
 */
export function softmax(x: Tensor, scale = 1): Tensor {
  const y = raw.softmax(x, scale);
  return record('softmax', [x], y, (g) => [raw.softmaxBwd(y, g, scale)], [y]);
}

/**
 * LayerNorm over the last axis: y = (x − μ)/√(σ² + eps) · w + b (w, b optional; DiT's have
 * none, eps 1e-6). The fused backward reuses the saved μ and 1/σ.
 */
export function layerNorm(x: Tensor, w: Tensor | null = null, b: Tensor | null = null, eps = 1e-5): Tensor {
  const { y, mean, rstd } = raw.layerNorm(x, w, b, eps);
  const inputs = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
  return record('layerNorm', inputs, y, (g) => {
    const r = raw.layerNormBwd(g, x, mean, rstd, w, b !== null);
    const out: (Tensor | null)[] = [r.dx];
    if (w) out.push(r.dw);
    if (b) out.push(r.db);
    return out;
  }, [x, mean, rstd, ...(w ? [w] : [])]);
}

/**
 * y = x Wᵀ + b with W [out, in] (PyTorch's Linear layout), as one op: x's leading dims are
 * flattened (a view) so the product is one [M, in]·[out, in]ᵀ matmul, whose accumulators start at
 * the bias (no second pass over the output). Gradients, with g [M, out]:
 *   dx = g W,   dW = gᵀ x,   db = Σ_rows g.
 * The rule reads W (for dx) and x (for dW), each only when the other side needs a gradient.
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  const op = 'linear';
  raw.sameBackend(op, b ? [x, w, b] : [x, w]);
  raw.floatOnly(op, x);
  raw.sameDtype(op, x, w);
  if (b) raw.sameDtype(op, x, b);
  if (x.rank === 0 || w.rank !== 2 || x.shape.at(-1) !== w.shape[1]) {
    throw new ShapeError(`linear: input ${fmt(x.shape)} does not fit weight ${fmt(w.shape)} (expected last dim ${w.shape[1]})`);
  }
  const [N, K] = w.shape as [number, number];
  if (b && (b.rank !== 1 || b.shape[0] !== N)) throw new ShapeError(`linear: bias ${fmt(b.shape)} does not fit weight ${fmt(w.shape)} (expected [${N}])`);
  const M = sizeOf(x.shape.slice(0, -1));
  const x2 = raw.reshape(x, [M, K]);
  const y2 = raw.matmul(x2, w, false, true, b);
  const y = y2.view([...x.shape.slice(0, -1), N]);
  const inputs = b ? [x, w, b] : [x, w];
  return record('linear', inputs, y, (g) => {
    const g2 = g.view([M, N]);
    const dx = x.requiresGrad ? raw.matmul(g2, w).view(x.shape) : null;
    const dw = w.requiresGrad ? raw.matmul(g2, x2, true, false) : null;
    const out: (Tensor | null)[] = [dx, dw];
    if (b) out.push(b.requiresGrad ? raw.reduce('sum', g2, [0], false) : null);
    return out;
  }, [...(x.requiresGrad ? [w] : []), ...(w.requiresGrad ? [x2] : [])]);
}
