/**
 * CPU references of the fused ops (attention, LayerNorm + adaLN modulate, AdamW): plain loops
 * over typed arrays, the oracle the WGSL kernels are tested against. Scores are materialised
 * one row at a time (fine on the CPU). Outputs are written into arrays the caller allocated.
 */
import type { AdamWHyper, AttentionDims, NormModulateDims } from '../backend.ts';
import type { TypedArray } from '../dtype.ts';

/**
 * o_i = Σ_j p_ij v_j with p_ij = exp(s_ij − lse_i), s_ij = scale·q_i·k_j, lse_i = log Σ_j exp(s_ij)
 * (computed as m + log Σ exp(s − m), m = max_j s_ij). Heads h0 … h1 − 1 only (default: all).
 */
export function attentionFwd(Q: TypedArray, K: TypedArray, V: TypedArray, d: AttentionDims, O: TypedArray, LSE: TypedArray, h0 = 0, h1 = d.n): void {
  const { l, s, dqk, dv, scale } = d;
  const row = new Float64Array(s);
  for (let h = h0; h < h1; h++) {
    for (let i = 0; i < l; i++) {
      const qo = (h * l + i) * dqk;
      let m = -Infinity;
      for (let j = 0; j < s; j++) {
        const ko = (h * s + j) * dqk;
        let acc = 0;
        for (let c = 0; c < dqk; c++) acc += Q[qo + c]! * K[ko + c]!;
        row[j] = acc * scale;
        if (row[j]! > m) m = row[j]!;
      }
      let sum = 0;
      for (let j = 0; j < s; j++) sum += row[j] = Math.exp(row[j]! - m);
      const oo = (h * l + i) * dv;
      for (let c = 0; c < dv; c++) {
        let acc = 0;
        for (let j = 0; j < s; j++) acc += row[j]! * V[(h * s + j) * dv + c]!;
        O[oo + c] = acc / sum;
      }
      LSE[h * l + i] = m + Math.log(sum);
    }
  }
}

/**
 * FA2's backward (Dao 2023, Alg. 2), here with whole rows: with P recomputed from lse,
 *   D_i = Σ_c dO_ic O_ic (= Σ_j P_ij dP_ij),  dV = Pᵀ dO,  dP = dO Vᵀ,
 *   dS = P ∘ (dP − D),  dQ = scale · dS K,  dK = scale · dSᵀ Q.
 * Heads h0 … h1 − 1 only (each head's gradients are its own rows of dQ, dK, dV).
 */
export function attentionBwd(
  Q: TypedArray, K: TypedArray, V: TypedArray, O: TypedArray, LSE: TypedArray, dO: TypedArray, d: AttentionDims,
  dQ: TypedArray, dK: TypedArray, dV: TypedArray, h0 = 0, h1 = d.n,
): void {
  const { l, s, dqk, dv, scale } = d;
  dQ.fill(0, h0 * l * dqk, h1 * l * dqk); dK.fill(0, h0 * s * dqk, h1 * s * dqk); dV.fill(0, h0 * s * dv, h1 * s * dv);
  for (let h = h0; h < h1; h++) {
    for (let i = 0; i < l; i++) {
      const qo = (h * l + i) * dqk, oo = (h * l + i) * dv;
      let D = 0;
      for (let c = 0; c < dv; c++) D += dO[oo + c]! * O[oo + c]!;
      const lse = LSE[h * l + i]!;
      for (let j = 0; j < s; j++) {
        const ko = (h * s + j) * dqk, vo = (h * s + j) * dv;
        let sc = 0;
        for (let c = 0; c < dqk; c++) sc += Q[qo + c]! * K[ko + c]!;
        const p = Math.exp(sc * scale - lse);
        let dp = 0;
        for (let c = 0; c < dv; c++) {
          dp += dO[oo + c]! * V[vo + c]!;
          dV[vo + c]! += p * dO[oo + c]!;
        }
        const ds = p * (dp - D) * scale;
        for (let c = 0; c < dqk; c++) {
          dQ[qo + c]! += ds * K[ko + c]!;
          dK[ko + c]! += ds * Q[qo + c]!;
        }
      }
    }
  }
}

/** Mean μ and r = 1/√(var + eps) of the row X[o … o + D) (two passes, for accuracy). */
export function rowMeanRstd(X: TypedArray, o: number, D: number, eps: number): [number, number] {
  let mu = 0;
  for (let j = 0; j < D; j++) mu += X[o + j]!;
  mu /= D;
  let v = 0;
  for (let j = 0; j < D; j++) v += (X[o + j]! - mu) ** 2;
  return [mu, 1 / Math.sqrt(v / D + eps)];
}

/** y = x̂·(1 + scale_n) + shift_n with x̂ = (x − μ)·r, r = 1/√(var + eps) over the last axis. */
export function normModulateFwd(
  X: TypedArray, SH: TypedArray, SC: TypedArray, d: NormModulateDims, eps: number, Y: TypedArray, MU: TypedArray, RS: TypedArray,
): void {
  const { N, L, D } = d;
  for (let b = 0; b < N; b++) {
    for (let t = 0; t < L; t++) {
      const r = b * L + t, o = r * D;
      const [mu, rs] = rowMeanRstd(X, o, D, eps);
      MU[r] = mu;
      RS[r] = rs;
      for (let j = 0; j < D; j++) Y[o + j] = (X[o + j]! - mu) * rs * (1 + SC[b * D + j]!) + SH[b * D + j]!;
    }
  }
}

/**
 * With g = dy ⊙ (1 + scale_n) (the LayerNorm's incoming gradient):
 *   dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),  dshift_n = Σ_t dy,  dscale_n = Σ_t dy ⊙ x̂.
 */
export function normModulateBwd(
  G: TypedArray, X: TypedArray, MU: TypedArray, RS: TypedArray, SC: TypedArray, d: NormModulateDims,
  DX: TypedArray, DSH: TypedArray, DSC: TypedArray,
): void {
  const { N, L, D } = d;
  DSH.fill(0); DSC.fill(0);
  for (let b = 0; b < N; b++) {
    for (let t = 0; t < L; t++) {
      const r = b * L + t, o = r * D, mu = MU[r]!, rs = RS[r]!;
      let mg = 0, mgx = 0;
      for (let j = 0; j < D; j++) {
        const xhat = (X[o + j]! - mu) * rs;
        const g = G[o + j]! * (1 + SC[b * D + j]!);
        mg += g;
        mgx += g * xhat;
        DSH[b * D + j]! += G[o + j]!;
        DSC[b * D + j]! += G[o + j]! * xhat;
      }
      mg /= D;
      mgx /= D;
      for (let j = 0; j < D; j++) {
        const xhat = (X[o + j]! - mu) * rs;
        DX[o + j] = rs * (G[o + j]! * (1 + SC[b * D + j]!) - mg - xhat * mgx);
      }
    }
  }
}

/**
 * One AdamW step (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), in the
 * order of torch.optim.AdamW (single-tensor path):
 *   p ← p·(1 − lr·wd);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + eps).
 * Values are computed in f64 and stored in the arrays' precision.
 */
export function adamwStep(P: TypedArray, G: TypedArray, M: TypedArray, V: TypedArray, hp: AdamWHyper): void {
  const { lr, beta1, beta2, eps, weightDecay, step } = hp;
  const bc1 = 1 - beta1 ** step, bc2sqrt = Math.sqrt(1 - beta2 ** step);
  const stepSize = lr / bc1, decay = 1 - lr * weightDecay;
  if (P instanceof Float32Array) {
    // f32: round after every operation, in torch.optim.AdamW's order (its single-tensor path),
    // so 100 steps agree with PyTorch's f32 run to ~1e-7 instead of drifting by 1e-6.
    const f = Math.fround;
    const [d, b1, c1, b2, c2, e, sz, bc] = [decay, beta1, 1 - beta1, beta2, 1 - beta2, eps, stepSize, bc2sqrt].map(f) as number[];
    for (let i = 0; i < P.length; i++) {
      const g = G[i]!;
      P[i] = f(P[i]! * d!);
      M[i] = f(f(M[i]! * b1!) + f(g * c1!));
      V[i] = f(f(V[i]! * b2!) + f(f(g * g) * c2!));
      const denom = f(f(f(Math.sqrt(V[i]!)) / bc!) + e!);
      P[i] = f(P[i]! - f(f(sz! * M[i]!) / denom));
    }
    return;
  }
  for (let i = 0; i < P.length; i++) {
    const g = G[i]!;
    M[i] = beta1 * M[i]! + (1 - beta1) * g;
    V[i] = beta2 * V[i]! + (1 - beta2) * g * g;
    P[i] = P[i]! * decay;
    P[i] = P[i]! - (stepSize * M[i]!) / (Math.sqrt(V[i]!) / bc2sqrt + eps);
  }
}
