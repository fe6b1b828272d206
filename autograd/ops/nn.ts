/** Differentiable neural-network ops with fused kernels: embedding gather, softmax, layerNorm, linear. */
import * as raw from '../../engine/ops.ts';
import { ShapeError } from '../../engine/errors.ts';
import { fmt } from '../../engine/shape.ts';
import { Tensor } from '../../engine/tensor.ts';
import { releaseUnsaved } from '../release.ts';
import { record } from '../tape.ts';
import { add } from './elementwise.ts';
import { matmul } from './matmul.ts';
import { reshape } from './shape.ts';

/** Rows of `table` [V, D] at integer indices → [...idx.shape, D]; the gradient scatter-adds back. */
export function gather(table: Tensor, idx: Tensor): Tensor {
  const V = table.shape[0]!;
  return record('gather', [table, idx], raw.gather(table, idx), (g) => [raw.scatterAdd(g, idx, V), null], [idx]);
}

/** Softmax over the last axis; backward dx = y ⊙ (dy − Σ dy ⊙ y) as one fused kernel. */
export function softmax(x: Tensor): Tensor {
  const y = raw.softmax(x);
  return record('softmax', [x], y, (g) => [raw.softmaxBwd(y, g)], [y]);
}

/**
 * LayerNorm over the last axis: y = (x − μ)/√(σ² + eps) · w + b (w, b optional; DiT's have
 * none, eps 1e-6). The fused backward reuses the saved μ and 1/σ.
 */
export function layerNorm(x: Tensor, w: Tensor | null = null, b: Tensor | null = null, eps = 1e-5): Tensor {
  raw.checkNormParam('layerNorm', x, w, 'weight');
  raw.checkNormParam('layerNorm', x, b, 'bias');
  if (x.rank === 0) throw new ShapeError('layerNorm: needs rank >= 1');
  const be = x.backend;
  const o = be.layerNorm(x.storage('layerNorm'), x.shape, w?.storage('layerNorm') ?? null, b?.storage('layerNorm') ?? null, eps);
  const rows = x.shape.slice(0, -1);
  const y = new Tensor(o.y, x.shape);
  const mean = new Tensor(o.mean, rows);
  const rstd = new Tensor(o.rstd, rows);
  const inputs = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
  return record('layerNorm', inputs, y, (g) => {
    const r = be.layerNormBwd(g.storage(), x.storage(), mean.storage(), rstd.storage(), w?.storage() ?? null, x.shape, b !== null);
    const out: (Tensor | null)[] = [new Tensor(r.dx, x.shape)];
    if (w) out.push(new Tensor(r.dw!, w.shape));
    if (b) out.push(new Tensor(r.db!, b.shape));
    return out;
  }, [x, mean, rstd, ...(w ? [w] : [])]);
}

/** y = x Wᵀ + b with W [out, in] (PyTorch's Linear layout). */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  if (w.rank !== 2 || x.shape.at(-1) !== w.shape[1]) {
    throw new ShapeError(`linear: input ${fmt(x.shape)} does not fit weight ${fmt(w.shape)} (expected last dim ${w.shape[1]})`);
  }
  // Flatten leading dims so the weight gradient is one matmul, not a batch summed afterwards.
  // In a scope that frees the product before the bias as soon as the sum exists (releaseUnsaved:
  // no rule reads it), one activation less per layer while a block runs.
  return releaseUnsaved(() => {
    const lead = x.shape.slice(0, -1);
    const y = matmul(reshape(x, [-1, w.shape[1]!]), w, false, true);
    const yb = b ? add(y, b) : y;
    return reshape(yb, [...lead, w.shape[0]!]);
  });
}
