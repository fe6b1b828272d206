/**
 * Finite-difference gradient checking in f64 on the CPU backend.
 *
 * The output is reduced to a scalar L = Σ out ⊙ r with a fixed random r, so every output
 * element is checked at once. For each input element, central differences
 *   ∂L/∂x_j ≈ (L(x + ε e_j) − L(x − ε e_j)) / 2ε      (error O(ε²) from truncation, O(u/ε) from rounding)
 * are compared with the analytic gradient from `backward()`. The error reported for an input is
 * max_j |analytic_j − numeric_j| / max(max_j |numeric_j|, max_j |analytic_j|, 1e-12): relative
 * to the gradient's scale, so tiny entries do not blow it up.
 */
import { cpuBackend } from '../engine/cpu/backend.ts';
import { tensor } from '../engine/creation.ts';
import type { DType } from '../engine/dtype.ts';
import { DTypeError } from '../engine/errors.ts';
import { philoxFill } from '../engine/rng.ts';
import type { Tensor } from '../engine/tensor.ts';
import { scope } from '../engine/scope.ts';
import { noGrad } from './grad-mode.ts';
import { mul, sum } from './index.ts';
import { backward } from './tape.ts';

export interface GradInput {
  shape: number[];
  data: ArrayLike<number>;
  /** Check the gradient with respect to this input (false for indices, masks). */
  grad: boolean;
  /** f64 when left out; the checked inputs (grad: true) must be f64, others may be i32 (indices). */
  dtype?: DType;
}

export interface GradcheckResult {
  /** Max over checked inputs of the scale-relative error. */
  maxRelError: number;
  perInput: number[];
}

function makeInputs(inputs: readonly GradInput[], override?: { i: number; data: Float64Array }): Tensor[] {
  return inputs.map((inp, i) => {
    const data = override?.i === i ? override.data : inp.data;
    const t = tensor(Array.from(data), inp.shape, { dtype: inp.dtype ?? 'f64', backend: cpuBackend });
    t.requiresGrad = inp.grad;
    return t;
  });
}

/** L = Σ fn(xs) ⊙ r, r a fixed pseudo-random tensor of the output's shape. */
function projected(fn: (...xs: Tensor[]) => Tensor, xs: Tensor[]): Tensor {
  const out = fn(...xs);
  const r = new Float64Array(out.size);
  philoxFill(r, 'normal', 1234, 0);
  return sum(mul(out, tensor(r, out.shape, { dtype: out.dtype, backend: cpuBackend })));
}

/**
 * Check the analytic gradient of `fn` with respect to every input with `grad: true` against
 * central differences (step `eps`) in f64 on the CPU backend; returns the scale-relative error
 * per input and its maximum. See docs/gradcheck.md.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly GradInput[], eps = 1e-6): GradcheckResult {
  inputs.forEach((inp, k) => {
    const dtype = inp.dtype ?? 'f64';
    if (!inp.grad) return;
    if (dtype === 'i32') throw new DTypeError(`gradcheck: input ${k} is i32 and cannot have grad: true (integer inputs such as indices take grad: false)`);
    if (dtype !== 'f64') {
      throw new DTypeError(`gradcheck: input ${k} is ${dtype}; the checked inputs (grad: true) must be f64 (leave dtype out): finite differences in ${dtype} are too coarse to check a gradient`);
    }
  });
  return scope(() => {
    const xs = makeInputs(inputs);
    const L = projected(fn, xs);
    backward(L);
    const perInput: number[] = [];
    inputs.forEach((inp, i) => {
      if (!inp.grad) return;
      const analytic = xs[i]!.grad ? Float64Array.from(xs[i]!.grad!.dataSync()) : new Float64Array(inp.data.length);
      xs[i]!.grad?.dispose();
      const numeric = new Float64Array(inp.data.length);
      const base = Float64Array.from(inp.data);
      for (let j = 0; j < base.length; j++) {
        const at = (delta: number): number =>
          noGrad(() =>
            scope(() => {
              const d = base.slice();
              d[j] = base[j]! + delta;
              return projected(fn, makeInputs(inputs, { i, data: d })).dataSync()[0]!;
            }),
          );
        numeric[j] = (at(eps) - at(-eps)) / (2 * eps);
      }
      let scale = 1e-12;
      let worst = 0;
      for (let j = 0; j < base.length; j++) {
        scale = Math.max(scale, Math.abs(numeric[j]!), Math.abs(analytic[j]!));
        worst = Math.max(worst, Math.abs(analytic[j]! - numeric[j]!));
      }
      perInput.push(worst / scale);
    });
    return { maxRelError: Math.max(0, ...perInput), perInput };
  });
}
