/** DiT's LayerNorm as a module: no affine parameters, eps 1e-6 (so no state-dict keys). */
import type { Tensor } from '../../engine/tensor.ts';
import { Module } from '../module.ts';
import { NORM_EPS, norm } from './adaln.ts';

/** (x − μ)/√(σ² + 1e-6) over the last axis, as `norm`; x [..., D] → [..., D]. */
export class LayerNorm extends Module {
  readonly eps = NORM_EPS;
  forward(x: Tensor): Tensor {
    return norm(x);
  }
}
