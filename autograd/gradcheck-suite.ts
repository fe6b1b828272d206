/**
 * Runs the whole gradient-check suite (OP_CASES). On the CPU: analytic vs finite differences in
 * f64. On another backend: its f32 forward and gradients vs the CPU backend's f32 ones on the
 * same cases.
 */
import fc from 'fast-check';
import { cpuBackend } from '../engine/cpu/backend.ts';
import type { Backend } from '../engine/backend.ts';
import { tensor } from '../engine/creation.ts';
import { philoxFill } from '../engine/rng.ts';
import { scopeAsync } from '../engine/scope.ts';
import { gradcheck } from './gradcheck.ts';
import { mul, sum } from './index.ts';
import { OP_CASES, type OpInstance } from './op-cases.ts';
import { backward } from './tape.ts';

export interface SuiteRow {
  op: string;
  cases: number;
  maxRelError: number;
  pass: boolean;
  /** The worst case's description. */
  worst: string;
}

export interface SuiteOptions {
  backend: Backend;
  casesPerOp?: number;
  seed?: number;
  /** Only ops whose name is listed. */
  only?: readonly string[];
  onRow?: (row: SuiteRow) => void;
}

/** Pass thresholds: f64 finite differences; f32 backend vs f32 CPU. */
export const TOL_F64 = 1e-6;
export const TOL_F32 = 1e-4;

/** Forward output and input gradients of L = Σ out ⊙ r on a backend, as f64 arrays. */
export async function gradsOn(backend: Backend, inst: OpInstance): Promise<{ out: Float64Array; grads: Float64Array[] }> {
  return scopeAsync(async () => {
    const xs = inst.inputs.map((inp) => {
      const t = tensor(Array.from(inp.data), inp.shape, { dtype: inp.dtype ?? 'f32', backend });
      t.requiresGrad = inp.grad;
      return t;
    });
    const out = inst.fn(...xs);
    const r = new Float32Array(out.size);
    philoxFill(r, 'normal', 1234, 0);
    const L = sum(mul(out, tensor(r, out.shape, { backend })));
    backward(L);
    const grads: Float64Array[] = [];
    for (let i = 0; i < xs.length; i++) {
      if (!inst.inputs[i]!.grad) continue;
      const g = xs[i]!.grad;
      grads.push(g ? Float64Array.from(await g.toArray()) : new Float64Array(xs[i]!.size));
      g?.dispose();
    }
    return { out: Float64Array.from(await out.toArray()), grads };
  });
}

/**
 * max |a − b| / max(max|b|, floor, 1e-6): the error relative to the array's own largest value, or
 * to `floor` where the array is (nearly) zero.
 */
export function scaledError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 0): number {
  let worst = 0;
  let scale = Math.max(floor, 1e-6);
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return worst / scale;
}

/** The largest |value| over a case's reference output and gradients. */
function caseScale(arrays: ArrayLike<number>[]): number {
  let m = 0;
  for (const x of arrays) for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/**
 * How small, relative to the case's largest value, an array's own scale may get before errors are
 * measured against the case's instead. A gradient that is zero in exact arithmetic (attention over
 * one key: P = 1, so dQ = dK = 0) comes out of f32 kernels as rounding residue of terms as large as
 * the case's values (dP − D there): on the H200 ~1e-7 of them (run 9), 0.13 "relative" to the zero
 * array's 1e-6 floor, though lavapipe happens to round to exact zeros. A real error is far above it.
 */
export const ZERO_FLOOR = 1e-2;

/**
 * Run `casesPerOp` cases of every op of OP_CASES (or `only` some) on `backend` and return one row
 * per op: the worst error, pass/fail against TOL_F64 (cpu) or TOL_F32 (other backends), and the
 * worst case note.
 */
export async function runSuite(opts: SuiteOptions): Promise<SuiteRow[]> {
  const n = opts.casesPerOp ?? 20;
  const rows: SuiteRow[] = [];
  const onCpu = opts.backend === cpuBackend;
  for (const c of OP_CASES) {
    if (opts.only && !opts.only.includes(c.op)) continue;
    const cases = fc.sample(c.arb, { numRuns: n, seed: opts.seed ?? 42 });
    let worstErr = 0;
    let worst = '';
    for (const inst of cases) {
      let err: number;
      if (onCpu) {
        err = gradcheck(inst.fn, inst.inputs).maxRelError;
      } else {
        const [gpu, ref] = [await gradsOn(opts.backend, inst), await gradsOn(cpuBackend, inst)];
        const floor = ZERO_FLOOR * caseScale([ref.out, ...ref.grads]);
        err = Math.max(scaledError(gpu.out, ref.out, floor), ...gpu.grads.map((g, i) => scaledError(g, ref.grads[i]!, floor)));
      }
      if (!(err <= worstErr)) {
        worstErr = err;
        worst = inst.note;
      }
    }
    const tol = onCpu ? TOL_F64 : TOL_F32;
    const row = { op: c.op, cases: cases.length, maxRelError: worstErr, pass: worstErr <= tol, worst };
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}
