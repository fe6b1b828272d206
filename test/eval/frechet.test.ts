import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frechetBetween, frechetDistance, meanCov, sqrtPsd, standardizer } from '../../data/eval/frechet.ts';
import { Prng } from '../../data/prng.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('FD: zero for identical Gaussians, |Δμ|² for a shift, closed form for diagonal covariances', () => {
  const s = [[2, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 3]];
  close(frechetDistance([1, 2, 3], s, [1, 2, 3], s), 0, 1e-4, 'same');
  close(frechetDistance([0, 0, 0], s, [1, 2, 2], s), 9, 1e-4, 'shift');
  // Diagonal: Σ (√a − √b)².
  const a = [1, 4, 9];
  const b = [4, 1, 16];
  const diag = (v: number[]) => v.map((x, i) => v.map((_, j) => (i === j ? x : 0)));
  close(frechetDistance([0, 0, 0], diag(a), [0, 0, 0], diag(b)), 1 + 1 + 1, 1e-4, 'diagonal');
  // 1-D: (μ1 − μ2)² + (σ1 − σ2)².
  close(frechetDistance([3], [[4]], [1], [[1]]), 4 + 1, 1e-5, '1-D');
});

test('FD: general case against Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) by the eigenvalues of Σ1 Σ2 (2×2 closed form)', () => {
  const s1 = [[2, 1], [1, 2]];
  const s2 = [[1, 0.3], [0.3, 0.5]];
  // Σ1Σ2 has real non-negative eigenvalues; Tr sqrt = Σ √λ.
  const p = [[2 * 1 + 1 * 0.3, 2 * 0.3 + 1 * 0.5], [1 * 1 + 2 * 0.3, 1 * 0.3 + 2 * 0.5]];
  const tr = p[0]![0]! + p[1]![1]!;
  const det = p[0]![0]! * p[1]![1]! - p[0]![1]! * p[1]![0]!;
  const l1 = tr / 2 + Math.sqrt((tr * tr) / 4 - det);
  const l2 = tr / 2 - Math.sqrt((tr * tr) / 4 - det);
  const want = 4 + 1.5 - 2 * (Math.sqrt(l1) + Math.sqrt(l2));
  close(frechetDistance([0, 0], s1, [0, 0], s2), want, 1e-5, '2×2');
});

test('FD: singular covariances (fewer samples than dimensions) still give a finite, near-zero self distance', () => {
  const rng = new Prng(1);
  const x = Array.from({ length: 5 }, () => Array.from({ length: 8 }, () => rng.normal()));
  const d = frechetBetween(x, x);
  assert.ok(Number.isFinite(d) && d < 1e-3, `self FD ${d}`);
  const y = x.map((r) => r.map((v) => v + 1));
  close(frechetBetween(x, y), 8, 1e-2, 'shifted by 1 in 8 dims');
  const s = sqrtPsd([[1, 1], [1, 1]]);
  close(s[0]![0]!, Math.SQRT1_2, 1e-6, 'sqrt of a singular PSD matrix');
});

test('meanCov and standardizer', () => {
  const { mean, cov } = meanCov([[1, 2], [3, 6]]);
  assert.deepEqual(mean, [2, 4]);
  assert.deepEqual(cov, [[2, 4], [4, 8]]);
  const z = standardizer([[1, 5], [3, 5]]);
  const [a, b] = z([3, 5]);
  close(a!, Math.SQRT1_2, 1e-12, 'standardised');
  assert.equal(b, 0);
  assert.throws(() => meanCov([[1]]), /at least 2/);
});
