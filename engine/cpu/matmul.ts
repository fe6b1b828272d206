/**
 * Blocked matmul on typed arrays. C[M,N] += A[M,K]·B[K,N] in the i-k-j order (the inner loop
 * streams a row of B and a row of C), tiled so a KB×NB panel of B stays in cache while every
 * row of the block reuses it.
 */
import type { TypedArray } from '../dtype.ts';

const MB = 64;
const KB = 128;
const NB = 256;

export function gemmBlocked(
  A: TypedArray, aOff: number, B: TypedArray, bOff: number, C: TypedArray, cOff: number,
  M: number, K: number, N: number,
): void {
  for (let i0 = 0; i0 < M; i0 += MB) {
    const i1 = Math.min(M, i0 + MB);
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = Math.min(K, k0 + KB);
      for (let j0 = 0; j0 < N; j0 += NB) {
        const j1 = Math.min(N, j0 + NB);
        for (let i = i0; i < i1; i++) {
          const cRow = cOff + i * N;
          const aRow = aOff + i * K;
          for (let k = k0; k < k1; k++) {
            const a = A[aRow + k]!;
            if (a === 0) continue;
            const bRow = bOff + k * N;
            for (let j = j0; j < j1; j++) C[cRow + j]! += a * B[bRow + j]!;
          }
        }
      }
    }
  }
}

/** The textbook triple loop, kept only as the benchmark baseline. */
export function gemmNaive(A: TypedArray, B: TypedArray, C: TypedArray, M: number, K: number, N: number): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[i * K + k]! * B[k * N + j]!;
      C[i * N + j] = s;
    }
  }
}

/** out = transpose of the last two dims of x ([rows, cols] → [cols, rows]) at the given offsets. */
export function transpose2d(x: TypedArray, xOff: number, out: TypedArray, outOff: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[outOff + c * rows + r] = x[xOff + r * cols + c]!;
}
