/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), with the exact
 * semantics of torch.optim.AdamW (defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay
 * 1e-2): per parameter, with t its own step count (a parameter without a gradient is skipped and
 * its t does not advance, as in torch),
 *   p ← p·(1 − lr·wd);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *   p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).
 * The update is one fused backend call (kernels/adamw.ts on the GPU: several tensors per
 * dispatch); parameters, m and v are updated in place, so modules keep their tensors.
 */
import * as raw from '../engine/ops.ts';
import { zeros } from '../engine/creation.ts';
import { ShapeError } from '../engine/errors.ts';
import { fmt } from '../engine/shape.ts';
import type { Tensor } from '../engine/tensor.ts';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** What a checkpoint needs to resume: per parameter (in constructor order) its t, m and v. */
export interface AdamWState {
  /** Number of `step()` calls. */
  step: number;
  /** Per-parameter step counts t (0 = never updated; m and v are then null). */
  steps: number[];
  m: (Tensor | null)[];
  v: (Tensor | null)[];
}

export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly params: readonly Tensor[];
  #step = 0;
  #steps: number[];
  #m: (Tensor | null)[];
  #v: (Tensor | null)[];

  constructor(params: readonly Tensor[], opts: AdamWOptions = {}) {
    this.params = [...params];
    this.lr = opts.lr ?? 1e-3;
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 1e-2;
    this.#steps = params.map(() => 0);
    this.#m = params.map(() => null);
    this.#v = params.map(() => null);
  }

  /** One update of every parameter that has a `.grad`. */
  step(): void {
    this.#step++;
    // Group by the per-parameter t (usually one group): one fused call per group.
    const groups = new Map<number, number[]>();
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      if (p.grad.size !== p.size) throw new ShapeError(`AdamW: grad ${fmt(p.grad.shape)} does not match param ${p.name || i} ${fmt(p.shape)}`);
      if (!this.#m[i]) {
        const opts = { dtype: p.dtype, backend: p.backend };
        this.#m[i] = zeros(p.shape, opts).keep();
        this.#v[i] = zeros(p.shape, opts).keep();
      }
      const t = ++this.#steps[i]!;
      let g = groups.get(t);
      if (!g) groups.set(t, (g = []));
      g.push(i);
    });
    for (const [t, idx] of groups) {
      raw.adamw(
        idx.map((i) => this.params[i]!),
        idx.map((i) => this.params[i]!.grad!),
        idx.map((i) => this.#m[i]!),
        idx.map((i) => this.#v[i]!),
        { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step: t },
      );
    }
  }

  /** The live state (tensors owned by the optimizer: copy or serialise, do not dispose). */
  stateDict(): AdamWState {
    return { step: this.#step, steps: [...this.#steps], m: [...this.#m], v: [...this.#v] };
  }

  /** Restore from a state dict (tensors are copied onto each parameter's backend). */
  async loadStateDict(s: AdamWState): Promise<void> {
    if (s.steps.length !== this.params.length || s.m.length !== this.params.length || s.v.length !== this.params.length) {
      throw new ShapeError(`AdamW.loadStateDict: state for ${s.steps.length} parameters, optimizer has ${this.params.length}`);
    }
    const copy = async (t: Tensor | null, p: Tensor): Promise<Tensor | null> => {
      if (!t) return null;
      if (t.size !== p.size) throw new ShapeError(`AdamW.loadStateDict: state ${fmt(t.shape)} does not match param ${fmt(p.shape)}`);
      const typed = raw.cast(t, p.dtype); // on the source backend (the CPU holds any dtype)
      const moved = typed.backend === p.backend ? raw.unary('affine', typed, 1, 0) : await raw.toBackend(typed, p.backend);
      return raw.reshape(moved, p.shape).keep();
    };
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const [m, v] = [await copy(s.m[i] ?? null, p), await copy(s.v[i] ?? null, p)];
      this.#m[i]?.dispose();
      this.#v[i]?.dispose();
      this.#m[i] = m;
      this.#v[i] = v;
      this.#steps[i] = s.steps[i]!;
    }
    this.#step = s.step;
  }

  /** Free m and v. */
  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t?.dispose();
    this.#m = this.params.map(() => null);
    this.#v = this.params.map(() => null);
  }
}
