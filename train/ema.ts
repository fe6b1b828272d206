/**
 * Exponential moving average of parameters (as DiT's update_ema): ema ← d·ema + (1 − d)·p after
 * each optimizer step. Sampling from the EMA weights gives smoother results.
 */
import * as A from '../autograd/index.ts';
import type { Tensor } from '../engine/tensor.ts';

export class EMA {
  readonly shadow: Tensor[];
  constructor(readonly params: readonly Tensor[], readonly decay = 0.9999) {
    this.shadow = params.map((p) => A.noGrad(() => A.affine(p, 1, 0)).keep());
  }
  update(): void {
    A.noGrad(() => {
      this.params.forEach((p, i) => {
        const s = this.shadow[i]!;
        const next = A.add(A.mul(s, this.decay), A.mul(p, 1 - this.decay));
        s.assign(next);
        next.dispose();
      });
    });
  }
  /** Swap the EMA values into the parameters (call again to swap back). */
  swap(): void {
    this.params.forEach((p, i) => {
      const s = this.shadow[i]!;
      const tmp = p.view(p.shape);
      p.assign(s);
      s.assign(tmp);
      tmp.dispose();
    });
  }
  dispose(): void {
    for (const s of this.shadow) s.dispose();
  }
}
