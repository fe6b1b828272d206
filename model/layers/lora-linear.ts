/** A Linear that owns its LoRA: the frozen layer and the low-rank update under one set of keys. */
import * as A from '../../autograd/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { type InitContext, kaimingUniform, zeros } from '../init.ts';
import { Linear } from './linear.ts';

/**
 * y = x·Wᵀ + b + (x·downᵀ)·upᵀ, with a frozen base W [out, in], b [out] and the trainable
 * down [r, in] (Kaiming-uniform), up [out, r] (zero, so the layer starts equal to its base); keys
 * `weight`, `bias`, `down.weight`, `up.weight`. The base is frozen as built (unfreeze its bias
 * to train it, as AV-DiT trains every bias). For a frozen layer shared by several LoRAs, use
 * `LoRA` beside a `Linear` instead.
 */
export class LoRALinear extends Linear {
  readonly down: Tensor;
  readonly up: Tensor;
  constructor(ctx: InitContext, inFeatures: number, outFeatures: number, readonly rank: number) {
    super(ctx, inFeatures, outFeatures);
    this.freeze();
    this.down = this.param('down.weight', kaimingUniform(ctx, [rank, inFeatures]));
    this.up = this.param('up.weight', zeros(ctx, [outFeatures, rank]));
  }
  override forward(x: Tensor): Tensor {
    return A.add(super.forward(x), A.linear(A.linear(x, this.down), this.up));
  }
}
