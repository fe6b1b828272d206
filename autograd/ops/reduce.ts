/** Differentiable reductions over axes, with keepdim. */
import * as raw from '../../engine/ops.ts';
import { normAxes, reducedShape } from '../../engine/shape.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { record } from '../tape.ts';

type Axes = number | readonly number[] | undefined;

/** Σ over axes: the gradient is g broadcast back to x's shape. */
export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = normAxes('sum', axes, x.rank);
  const kept = reducedShape(x.shape, ax, true);
  return record('sum', [x], raw.reduce('sum', x, ax, keepdim), (g) => [raw.expand(g.view(kept), x.shape)], []);
}

/** Mean over axes = Σ / count. */
export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = normAxes('mean', axes, x.rank);
  const count = ax.reduce((n, a) => n * x.shape[a]!, 1);
  const kept = reducedShape(x.shape, ax, true);
  const y = raw.unary('affine', raw.reduce('sum', x, ax, keepdim), 1 / count, 0);
  return record('mean', [x], y, (g) => [raw.expand(raw.unary('affine', g, 1 / count, 0).view(kept), x.shape)], []);
}

/**
 * Max over axes (as torch.amax): the gradient is shared equally between the elements that
 * equal the maximum: g · [x = max] / count(x = max).
 */
export function max(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = normAxes('max', axes, x.rank);
  const kept = reducedShape(x.shape, ax, true);
  const m = raw.reduce('max', x, ax, true);
  const out = keepdim ? m : m.view(reducedShape(x.shape, ax, false));
  return record('max', [x], out, (g) => {
    const hit = raw.binary('eq', x, m);
    const count = raw.reduce('sum', hit, ax, true);
    return [raw.binary('mul', hit, raw.binary('div', g.view(kept), count))];
  }, [x, m]);
}
