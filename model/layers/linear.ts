/** Linear layers: y = x Wᵀ + b, and LoRA's low-rank update beside a frozen one. */
import * as A from '../../autograd/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { type InitContext, kaimingUniform, normal, xavierUniform, zeros } from '../init.ts';
import { Module } from '../module.ts';

/**
 * y = x·Wᵀ + b: x [..., in] → [..., out], weight [out, in], bias [out] (state-dict keys `weight`,
 * `bias`).
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /**
   * Weight [out, in] Xavier-uniform and bias zero, as DiT initialises every Linear; `zeroWeight`
   * starts the weight at zero too (adapter outputs, adaLN modulation, final layers); `std` draws
   * it from N(0, std²) (DiT's timestep MLP).
   */
  constructor(ctx: InitContext, readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean; zeroWeight?: boolean; std?: number } = {}) {
    super();
    const shape = [outFeatures, inFeatures];
    const w = opts.zeroWeight ? zeros(ctx, shape) : opts.std !== undefined ? normal(ctx, shape, opts.std) : xavierUniform(ctx, shape);
    this.weight = this.param('weight', w);
    this.bias = opts.bias === false ? null : this.param('bias', zeros(ctx, [outFeatures]));
  }
  forward(x: Tensor): Tensor {
    return A.linear(x, this.weight, this.bias);
  }
}

/**
 * LoRA (Hu et al. 2021): the low-rank update added to a frozen layer's output,
 * Δy = (x downᵀ) upᵀ with down [r, in] and up [out, r], no biases, scale 1. `up` starts at zero
 * (loralib's B), so the adapted layer starts equal to the frozen one; `down` is Kaiming-uniform.
 * The frozen layer is not owned here: DESIGN.md shares one frozen attention between branches,
 * each with its own LoRA.
 */
export class LoRA extends Module {
  readonly down: Tensor;
  readonly up: Tensor;
  constructor(ctx: InitContext, inFeatures: number, outFeatures: number, readonly rank: number) {
    super();
    this.down = this.param('down.weight', kaimingUniform(ctx, [rank, inFeatures]));
    this.up = this.param('up.weight', zeros(ctx, [outFeatures, rank]));
  }
  /** The update Δy for input x [..., in] → [..., out]. */
  delta(x: Tensor): Tensor {
    return A.linear(A.linear(x, this.down), this.up);
  }
  /** base(x) + Δy. */
  apply(base: Linear, x: Tensor): Tensor {
    return A.add(base.forward(x), this.delta(x));
  }
}
