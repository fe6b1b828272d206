/**
 * CPU references of the fused ops (attention, LayerNorm + adaLN modulate, AdamW): plain loops
 * over typed arrays, the oracle the WGSL kernels are tested against. Outputs are written into
 * arrays the caller allocated. f32 attention on small heads (the tiny models') runs whole parts of
 * heads in WebAssembly (wasm/attention.ts), on bigger heads its products per head through gemmABt
 * (the WebAssembly SIMD matmul) on an l×s scratch of scores; f64 (the gradient checks) and heads
 * of a few elements keep the row-at-a-time loops.
 */
import type { AdamWHyper, AttentionDims, NormModulateDims } from '../backend.ts';
import type { TypedArray } from '../dtype.ts';
import { gemmABt, transpose2d } from './matmul.ts';
import { attentionUsesGemm } from './attention-rule.ts';
import { attentionBwdWasm, attentionFwdWasm, smallHeads } from './wasm/attention.ts';
import { gatedAddBwdWasm, gatedAddWasm, normModulateBwdWasm, normModulateWasm } from './wasm/rows.ts';

/**
 * o_i = Σ_j p_ij v_j with p_ij = exp(s_ij − lse_i), s_ij = scale·q_i·k_j, lse_i = log Σ_j exp(s_ij)
 * (computed as m + log Σ exp(s − m), m = max_j s_ij). Heads h0 … h1 − 1 only (default: all).
 */
export function attentionFwd(Q: TypedArray, K: TypedArray, V: TypedArray, d: AttentionDims, O: TypedArray, LSE: TypedArray, h0 = 0, h1 = d.n): void {
  if (Q instanceof Float32Array && smallHeads(d) && attentionFwdWasm(Q, K as Float32Array, V as Float32Array, d, O as Float32Array, LSE as Float32Array, h0, h1)) return;
  if (Q instanceof Float32Array && attentionUsesGemm(d)) {
    attentionFwdGemm(Q, K as Float32Array, V as Float32Array, d, O as Float32Array, LSE as Float32Array, h0, h1);
    return;
  }
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
  const f32 = (x: TypedArray) => x as Float32Array;
  if (Q instanceof Float32Array && smallHeads(d) && attentionBwdWasm(Q, f32(K), f32(V), f32(O), f32(LSE), f32(dO), d, f32(dQ), f32(dK), f32(dV), h0, h1)) return;
  if (Q instanceof Float32Array && attentionUsesGemm(d)) {
    attentionBwdGemm(Q, f32(K), f32(V), f32(O), f32(LSE), f32(dO), d, f32(dQ), f32(dK), f32(dV), h0, h1);
    return;
  }
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

export { attentionUsesGemm } from './attention-rule.ts';

/** This thread's scratch (each worker has its own copy of this module), grown on demand and kept. */
let scratch = new Float32Array(0);
const scratchOf = (n: number): Float32Array => (scratch.length >= n ? scratch : (scratch = new Float32Array(Math.max(n, 2 * scratch.length))));
let rowScratch = new Float64Array(0);
const rowsOf = (n: number): Float64Array => (rowScratch.length >= n ? rowScratch : (rowScratch = new Float64Array(Math.max(n, 2 * rowScratch.length))));

/**
 * attentionFwd in f32 on gemmABt, head by head, with W = [P: l×s | Vᵀ: dv×s] in scratch:
 *   S = Q Kᵀ (into P),  P_ij = e_ij / Σ_j e_ij with e_ij = exp(scale·S_ij − m_i), m_i = max_j scale·S_ij,
 *   lse_i = m_i + log Σ_j e_ij,  O = P V (as P·(Vᵀ)ᵀ).
 */
export function attentionFwdGemm(Q: Float32Array, K: Float32Array, V: Float32Array, d: AttentionDims, O: Float32Array, LSE: Float32Array, h0: number, h1: number): void {
  const { l, s, dqk, dv, scale } = d;
  const ls = l * s;
  const W = scratchOf(ls + dv * s);
  for (let h = h0; h < h1; h++) {
    const qo = h * l * dqk, ko = h * s * dqk, vo = h * s * dv, oo = h * l * dv;
    W.fill(0, 0, ls);
    gemmABt(Q, qo, K, ko, W, 0, l, dqk, s);
    for (let i = 0, r = 0; i < l; i++, r += s) {
      let m = -Infinity;
      for (let j = 0; j < s; j++) {
        const x = W[r + j]! * scale;
        if (x > m) m = x;
      }
      let sum = 0;
      for (let j = 0; j < s; j++) sum += W[r + j] = Math.exp(W[r + j]! * scale - m);
      const inv = 1 / sum;
      for (let j = 0; j < s; j++) W[r + j]! *= inv;
      LSE[h * l + i] = m + Math.log(sum);
    }
    transpose2d(V, vo, W, ls, s, dv);
    O.fill(0, oo, oo + l * dv);
    gemmABt(W, 0, W, ls, O, oo, l, s, dv);
  }
}

/**
 * attentionBwd in f32 on gemmABt, head by head. The scores are kept transposed, [s, l], so that
 * Pᵀ and dSᵀ are the left operands of dV and dK as they stand; scratch W = [Pᵀ (then dS): s×l |
 * dSᵀ: s×l | an operand transposed: max(l, s)×max(dqk, dv)], and the row sums D_i in f64:
 *   D_i = Σ_c dO_ic O_ic,  Sᵀ = K Qᵀ,  Pᵀ_ji = exp(scale·Sᵀ_ji − lse_i),  dPᵀ = V dOᵀ,
 *   dSᵀ_ji = scale · Pᵀ_ji (dPᵀ_ji − D_i)  (the scale of dQ and dK folded in),
 *   dV = Pᵀ dO,  dK = dSᵀ Q,  dQ = dS K.
 */
export function attentionBwdGemm(
  Q: Float32Array, K: Float32Array, V: Float32Array, O: Float32Array, LSE: Float32Array, dO: Float32Array, d: AttentionDims,
  dQ: Float32Array, dK: Float32Array, dV: Float32Array, h0: number, h1: number,
): void {
  const { l, s, dqk, dv, scale } = d;
  const ls = l * s, t = 2 * ls;
  const W = scratchOf(t + Math.max(l, s) * Math.max(dqk, dv));
  const D = rowsOf(l);
  for (let h = h0; h < h1; h++) {
    const qo = h * l * dqk, ko = h * s * dqk, vo = h * s * dv, oo = h * l * dv, lo = h * l;
    for (let i = 0; i < l; i++) {
      let acc = 0;
      for (let c = 0; c < dv; c++) acc += dO[oo + i * dv + c]! * O[oo + i * dv + c]!;
      D[i] = acc;
    }
    W.fill(0, 0, t);
    gemmABt(K, ko, Q, qo, W, 0, s, dqk, l);
    gemmABt(V, vo, dO, oo, W, ls, s, dv, l);
    for (let j = 0, r = 0; j < s; j++, r += l) {
      for (let i = 0; i < l; i++) {
        const p = Math.exp(W[r + i]! * scale - LSE[lo + i]!);
        W[r + i] = p;
        W[ls + r + i] = scale * p * (W[ls + r + i]! - D[i]!);
      }
    }
    transpose2d(dO, oo, W, t, l, dv);
    dV.fill(0, vo, vo + s * dv);
    gemmABt(W, 0, W, t, dV, vo, s, l, dv);
    transpose2d(Q, qo, W, t, l, dqk);
    dK.fill(0, ko, ko + s * dqk);
    gemmABt(W, ls, W, t, dK, ko, s, l, dqk);
    transpose2d(W, ls, W, 0, s, l);
    transpose2d(K, ko, W, t, s, dqk);
    dQ.fill(0, qo, qo + l * dqk);
    gemmABt(W, 0, W, t, dQ, qo, l, s, dqk);
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
  // f32: the same steps in WebAssembly (four rows' sums at a time, y four lanes at a time): the same bits.
  if ([X, SH, SC, Y, MU, RS].every((a) => a instanceof Float32Array)
    && normModulateWasm(X as Float32Array, SH as Float32Array, SC as Float32Array, N, L, D, eps, Y as Float32Array, MU as Float32Array, RS as Float32Array)) return;
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
  // f32: the same steps in WebAssembly (x̂, g and the updates two f64 lanes at a time, the means in order): the same bits.
  const f = (a: TypedArray) => a as Float32Array;
  if ([G, X, MU, RS, SC, DX, DSH, DSC].every((a) => a instanceof Float32Array)
    && normModulateBwdWasm(f(G), f(X), f(MU), f(RS), f(SC), N, L, D, f(DX), f(DSH), f(DSC))) return;
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

/** DiT's gated residual out = x + gate_n ⊙ y over the L tokens of each sample n. */
export function gatedAddFwd(X: TypedArray, G: TypedArray, Y: TypedArray, d: NormModulateDims, O: TypedArray): void {
  const { N, L, D } = d;
  // f32: the same expression in WebAssembly, four elements at a time (the same bits).
  if (X instanceof Float32Array && G instanceof Float32Array && Y instanceof Float32Array && O instanceof Float32Array && gatedAddWasm(X, G, Y, N, L, D, O)) return;
  for (let b = 0; b < N; b++) {
    for (let t = 0, o = b * L * D; t < L; t++, o += D) for (let j = 0; j < D; j++) O[o + j] = X[o + j]! + G[b * D + j]! * Y[o + j]!;
  }
}

/** Its backward from the incoming gradient g: dgate_n = Σ_t g ⊙ y (Y, DG null: not wanted), dy = gate_n ⊙ g (dx = g). */
export function gatedAddBwd(Gr: TypedArray, G: TypedArray, Y: TypedArray | null, d: NormModulateDims, DG: TypedArray | null, DY: TypedArray): void {
  const { N, L, D } = d;
  const f32 = (a: TypedArray | null): a is Float32Array | null => a === null || a instanceof Float32Array;
  if (Gr instanceof Float32Array && G instanceof Float32Array && f32(Y) && f32(DG) && DY instanceof Float32Array && gatedAddBwdWasm(Gr, G, Y, N, L, D, DG, DY)) return;
  DG?.fill(0);
  for (let b = 0; b < N; b++) {
    for (let t = 0, o = b * L * D; t < L; t++, o += D) {
      for (let j = 0; j < D; j++) {
        if (DG && Y) DG[b * D + j]! += Gr[o + j]! * Y[o + j]!;
        DY[o + j] = G[b * D + j]! * Gr[o + j]!;
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
