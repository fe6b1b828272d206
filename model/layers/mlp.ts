/** The transformer MLP (fc1 → GELU(tanh) → fc2) and the bottleneck adapter, which is the same shape. */
import * as A from '../../autograd/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { InitContext } from '../init.ts';
import { Module } from '../module.ts';
import { Linear } from './linear.ts';

/**
 * Transformer MLP: Linear(D, hidden) → GELU (tanh form) → Linear(hidden, D), keys `fc1`, `fc2`; x
 * [..., D] → [..., D].
 */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(ctx: InitContext, dim: number, hidden: number, zeroOut = false) {
    super();
    this.fc1 = this.child('fc1', new Linear(ctx, dim, hidden));
    this.fc2 = this.child('fc2', new Linear(ctx, hidden, dim, { zeroWeight: zeroOut }));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(A.gelu(this.fc1.forward(x)));
  }
}

/**
 * Bottleneck adapter (Houlsby et al. 2019), D → D/2 → D with GELU; fc2 starts at zero so the
 * adapter's output starts at zero (the audio FFN adapter of AV-DiT).
 */
export class Adapter extends Mlp {
  constructor(ctx: InitContext, dim: number, hidden: number) {
    super(ctx, dim, hidden, true);
  }
}
