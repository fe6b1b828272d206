/**
 * Fréchet distance between two Gaussians fitted to feature sets (as FID/FVD/FAD do):
 *   FD(μ1, Σ1, μ2, Σ2) = |μ1 − μ2|² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}).
 * Tr (Σ1 Σ2)^{1/2} is computed as Tr (A Σ2 A)^{1/2} with A = Σ1^{1/2}: the same eigenvalues, but
 * the argument is symmetric positive semi-definite. Square roots by mathjs's `sqrtm`; covariances
 * of few samples are singular, so both get a ridge of 1e-6 × (mean variance) first (as pytorch-fid
 * adds an offset when the product is singular), falling back to an eigen-decomposition if `sqrtm`
 * still fails.
 */
import { eigs, sqrtm } from 'mathjs';

export type Matrix = number[][];

/** Mean [D] and unbiased covariance [D, D] of rows x [N][D] (N ≥ 2). */
export function meanCov(x: readonly ArrayLike<number>[]): { mean: number[]; cov: Matrix } {
  const n = x.length;
  if (n < 2) throw new Error(`meanCov: need at least 2 feature vectors, got ${n}`);
  const d = x[0]!.length;
  const mean = new Array<number>(d).fill(0);
  for (const r of x) {
    if (r.length !== d) throw new Error(`meanCov: feature vectors of ${r.length} and ${d} values`);
    for (let j = 0; j < d; j++) mean[j] = mean[j]! + r[j]! / n;
  }
  const cov: Matrix = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const r of x) {
    for (let i = 0; i < d; i++) {
      const a = r[i]! - mean[i]!;
      for (let j = i; j < d; j++) cov[i]![j] = cov[i]![j]! + (a * (r[j]! - mean[j]!)) / (n - 1);
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i]![j] = cov[j]![i]!;
  return { mean, cov };
}

const matmul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const trace = (a: Matrix): number => a.reduce((s, r, i) => s + r[i]!, 0);

function ridge(a: Matrix, eps: number): Matrix {
  return a.map((r, i) => r.map((v, j) => (i === j ? v + eps : v)));
}

/** Symmetric PSD square root: mathjs sqrtm, or V diag(√max(λ, 0)) Vᵀ if that fails. */
export function sqrtPsd(a: Matrix): Matrix {
  const sym = a.map((r, i) => r.map((v, j) => (v + a[j]![i]!) / 2));
  try {
    const s = sqrtm(sym) as unknown as Matrix;
    if (s.every((r) => r.every((v) => typeof v === 'number' && Number.isFinite(v)))) return s;
  } catch {
    // singular or not converging: fall through
  }
  const { eigenvectors } = eigs(sym);
  const d = sym.length;
  const out: Matrix = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const { value, vector } of eigenvectors as unknown as { value: number; vector: number[] }[]) {
    const s = Math.sqrt(Math.max(0, value));
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i]![j] = out[i]![j]! + s * vector[i]! * vector[j]!;
  }
  return out;
}

export function frechetDistance(mu1: readonly number[], s1: Matrix, mu2: readonly number[], s2: Matrix): number {
  const d = mu1.length;
  if (mu2.length !== d || s1.length !== d || s2.length !== d) throw new Error(`frechetDistance: dimensions ${d}, ${mu2.length}, ${s1.length}, ${s2.length} differ`);
  let dm = 0;
  for (let i = 0; i < d; i++) dm += (mu1[i]! - mu2[i]!) ** 2;
  const scale = (trace(s1) + trace(s2)) / (2 * d);
  const eps = 1e-6 * (scale > 0 ? scale : 1);
  const a = sqrtPsd(ridge(s1, eps));
  const m = matmul(matmul(a, ridge(s2, eps)), a);
  const trSqrt = trace(sqrtPsd(m));
  return Math.max(0, dm + trace(s1) + trace(s2) + 2 * d * eps - 2 * trSqrt);
}

/** FD between the Gaussians fitted to two feature sets [N][D]. */
export function frechetBetween(x: readonly ArrayLike<number>[], y: readonly ArrayLike<number>[]): number {
  const a = meanCov(x);
  const b = meanCov(y);
  return frechetDistance(a.mean, a.cov, b.mean, b.cov);
}

/**
 * Per-dimension affine map fitted on a reference set: v → (v − mean) / std, std floored at
 * 1e-3·(1 + |mean|) so constant features stay finite. Makes every feature count alike in the FD.
 */
export function standardizer(ref: readonly ArrayLike<number>[]): (v: ArrayLike<number>) => number[] {
  const { mean, cov } = meanCov(ref);
  const std = mean.map((m, i) => Math.max(Math.sqrt(cov[i]![i]!), 1e-3 * (1 + Math.abs(m))));
  return (v) => Array.from({ length: mean.length }, (_, i) => (v[i]! - mean[i]!) / std[i]!);
}
