/** DiT's embedders: patches (a stride-p conv as patchify + matmul), timesteps, class labels. */
import * as A from '../../autograd/index.ts';
import { tensor } from '../../engine/creation.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { type InitContext, normal, xavierUniform, zeros } from '../init.ts';
import { Module } from '../module.ts';
import { Linear } from './linear.ts';

/**
 * Patch embedding: x [N, C, H, W] → [N, (H/p)(W/p), D], equal to Conv2d(C, D, p, stride p)
 * with weight `proj.weight` [D, C, p, p] (Xavier on its [D, C·p·p] view, as DiT) and `proj.bias`.
 */
export class PatchEmbed extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(ctx: InitContext, readonly channels: number, readonly dim: number, readonly patch: number) {
    super();
    const w = xavierUniform(ctx, [dim, channels * patch * patch]);
    this.weight = this.param('proj.weight', w.view([dim, channels, patch, patch]));
    w.dispose(); // the view keeps the storage
    this.bias = this.param('proj.bias', zeros(ctx, [dim]));
  }
  forward(x: Tensor): Tensor {
    const tokens = A.patchify(x, this.patch);
    const { dim, channels, patch } = this;
    return A.linear(tokens, A.reshape(this.weight, [dim, channels * patch * patch]), this.bias);
  }
}

/**
 * Timestep embedding: 256 sinusoidal frequencies → Linear(256, D) → SiLU → Linear(D, D) (keys
 * `mlp.0`, `mlp.2`). Frequencies f_i = 10000^(−i/128); features [cos(t f), sin(t f)] (DiT's order).
 */
export class TimestepEmbedder extends Module {
  static readonly FREQ = 256;
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(ctx: InitContext, dim: number) {
    super();
    // DiT: normal(0, 0.02) for both weights.
    this.fc1 = this.child('mlp.0', new Linear(ctx, TimestepEmbedder.FREQ, dim, { std: 0.02 }));
    this.fc2 = this.child('mlp.2', new Linear(ctx, dim, dim, { std: 0.02 }));
  }
  /** t: one (possibly fractional) timestep per sample → [N, 256]. */
  static frequencies(t: ArrayLike<number>, backend: Tensor['backend']): Tensor {
    const half = TimestepEmbedder.FREQ / 2;
    const out = new Float32Array(t.length * 2 * half);
    for (let n = 0; n < t.length; n++) {
      for (let i = 0; i < half; i++) {
        const a = t[n]! * Math.exp((-Math.log(10000) * i) / half);
        out[n * 2 * half + i] = Math.cos(a);
        out[n * 2 * half + half + i] = Math.sin(a);
      }
    }
    return tensor(out, [t.length, 2 * half], { backend });
  }
  forward(t: ArrayLike<number>): Tensor {
    const f = TimestepEmbedder.frequencies(t, this.fc1.weight.backend);
    return this.fc2.forward(A.silu(this.fc1.forward(f)));
  }
}

/** Class embedding table [classes + 1, D]; the last row is the null class (unconditional / CFG). */
export class LabelEmbedder extends Module {
  readonly table: Tensor;
  constructor(ctx: InitContext, readonly classes: number, dim: number) {
    super();
    this.table = this.param('embedding_table.weight', normal(ctx, [classes + 1, dim], 0.02));
  }
  get nullClass(): number {
    return this.classes;
  }
  /** Labels (i32 [N]) → [N, D]. */
  forward(y: Tensor): Tensor {
    return A.gather(this.table, y);
  }
}
