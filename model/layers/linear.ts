/** Linear layers: y = x Wᵀ + b, and LoRA's low-rank update beside a frozen one. */
import * as A from '../../autograd/index.ts';
import { scope } from '../../engine/scope.ts';
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
  /** The frozen weight with the update folded in (`merge`), and the layer it belongs to. */
  #merged: { base: Linear; weight: Tensor } | null = null;

  /** The update Δy for input x [..., in] → [..., out]. */
  delta(x: Tensor): Tensor {
    return A.linear(A.linear(x, this.down), this.up);
  }
  /** base(x) + Δy; once merged, one product with the folded weight (the same maths). */
  apply(base: Linear, x: Tensor): Tensor {
    const m = this.#merged;
    if (!m) return A.add(base.forward(x), this.delta(x));
    if (m.base !== base) throw new Error('LoRA: merged into another layer than the one it is applied to');
    if (A.isRecording()) throw new Error('LoRA: merged for inference, so no gradient would reach down and up; run under noGrad, or unmerge first');
    return A.linear(x, m.weight, base.bias);
  }

  /**
   * For inference: fold the update into a copy of base's weight, W' = W + up·down (x·W'ᵀ =
   * x·Wᵀ + (x·downᵀ)·upᵀ), so that `apply` runs one product instead of three ops. The copy is
   * made from the weights as they are now; `unmerge` frees it (and must follow any change to
   * them). Applying a merged LoRA while the tape records is an error.
   */
  merge(base: Linear): void {
    if (base.weight.shape[0] !== this.up.shape[0] || base.weight.shape[1] !== this.down.shape[1]) {
      throw new Error(`LoRA: update [${this.up.shape[0]}, ${this.down.shape[1]}] does not fit weight [${base.weight.shape.join(', ')}]`);
    }
    this.unmerge();
    const weight = scope(() => A.noGrad(() => A.add(base.weight, A.matmul(this.up, this.down)))).keep();
    this.#merged = { base, weight };
  }

  /** Drop the folded weight (no-op when not merged). */
  unmerge(): void {
    this.#merged?.weight.dispose();
    this.#merged = null;
  }

  get merged(): boolean {
    return this.#merged !== null;
  }
}
