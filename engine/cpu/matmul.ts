/**
 * CPU matmul C[M,N] = A[M,K]·B[K,N] on typed arrays.
 *
 * B is first transposed into Bt [N,K] so that both operands are read along K contiguously.
 * The work is then cut into 4×4 blocks of C, each computed by a micro-kernel that keeps its 16
 * sums in registers (locals) and reads 4 values of A and 4 of Bt per k: 8 loads for 16
 * multiply-adds, instead of 2 loads per multiply-add in the triple loop. Columns are walked in
 * panels of NB so the panel of Bt in use stays in cache while every row block reuses it.
 * gemmABt hands f32 products that are big enough to a WebAssembly SIMD kernel (wasm/gemm.wat).
 */
import { allocArray, type DType, type TypedArray } from '../dtype.ts';
import { gemmABtWasm } from './wasm/gemm.ts';
import { transposeWasm } from './wasm/elementwise.ts';

const NB = 64;

export function gemmBlocked(
  A: TypedArray, aOff: number, B: TypedArray, bOff: number, C: TypedArray, cOff: number,
  M: number, K: number, N: number,
): void {
  const Bt = allocArray(dtypeOf(B), N * K);
  transpose2d(B, bOff, Bt, 0, K, N);
  gemmABt(A, aOff, Bt, 0, C, cOff, M, K, N);
}

function dtypeOf(x: TypedArray): DType {
  return x instanceof Float64Array ? 'f64' : x instanceof Int32Array ? 'i32' : 'f32';
}

/**
 * C[M,N] += A[M,K]·Bt[N,K]ᵀ. f32 operands with N·K ≥ WASM_MIN_NK go to the WebAssembly SIMD
 * kernel (wasm/gemm.ts), the rest (f64, i32, small f32) to the JS kernel below. The choice
 * depends on N and K only, never on M: thread parts (parallel-kernels.ts) are row ranges of one
 * product, and every part must take the same kernel for results to be bit-identical for any
 * thread count.
 */
export function gemmABt(A: TypedArray, aOff: number, Bt: TypedArray, btOff: number, C: TypedArray, cOff: number, M: number, K: number, N: number): void {
  if (N * K >= WASM_MIN_NK && A instanceof Float32Array && Bt instanceof Float32Array && C instanceof Float32Array
    && gemmABtWasm(A, aOff, Bt, btOff, C, cOff, M, K, N)) return;
  gemmABtJs(A, aOff, Bt, btOff, C, cOff, M, K, N);
}

/**
 * Below this N·K the JS kernel goes first: the WebAssembly call's fixed cost (~0.4 µs) and its
 * copies lose to it on small products when M is small too. At N·K = 256 the two tie for M = 1 and
 * the kernel wins from M = 2 (bench/RESULTS.md, 2026-11-26).
 */
export const WASM_MIN_NK = 256;

/** C[M,N] += A[M,K]·Bt[N,K]ᵀ with 4×4 register blocks, in JS (any typed array). */
export function gemmABtJs(A: TypedArray, aOff: number, Bt: TypedArray, btOff: number, C: TypedArray, cOff: number, M: number, K: number, N: number): void {
  const M4 = M - (M % 4), N4 = N - (N % 4);
  for (let j0 = 0; j0 < N; j0 += NB) {
    const jEnd = Math.min(N, j0 + NB), jEnd4 = Math.min(jEnd, N4);
    for (let i = 0; i < M4; i += 4) {
      const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      let j = j0;
      for (; j < jEnd4; j += 4) {
        const b0 = btOff + j * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let k = 0; k < K; k++) {
          const x0 = A[a0 + k]!, x1 = A[a1 + k]!, x2 = A[a2 + k]!, x3 = A[a3 + k]!;
          const y0 = Bt[b0 + k]!, y1 = Bt[b1 + k]!, y2 = Bt[b2 + k]!, y3 = Bt[b3 + k]!;
          c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
          c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
          c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
          c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
        }
        const r0 = cOff + i * N + j, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;
        C[r0] += c00; C[r0 + 1] += c01; C[r0 + 2] += c02; C[r0 + 3] += c03;
        C[r1] += c10; C[r1 + 1] += c11; C[r1 + 2] += c12; C[r1 + 3] += c13;
        C[r2] += c20; C[r2 + 1] += c21; C[r2 + 2] += c22; C[r2 + 3] += c23;
        C[r3] += c30; C[r3 + 1] += c31; C[r3 + 2] += c32; C[r3 + 3] += c33;
      }
      for (; j < jEnd; j++) for (let r = 0; r < 4; r++) C[cOff + (i + r) * N + j] += dot(A, aOff + (i + r) * K, Bt, btOff + j * K, K);
    }
    for (let i = M4; i < M; i++) for (let j = j0; j < jEnd; j++) C[cOff + i * N + j] += dot(A, aOff + i * K, Bt, btOff + j * K, K);
  }
}

function dot(x: TypedArray, xo: number, y: TypedArray, yo: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += x[xo + k]! * y[yo + k]!;
  return s;
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

/** out = transpose of x ([rows, cols] → [cols, rows]) at the given offsets. */
export function transpose2d(x: TypedArray, xOff: number, out: TypedArray, outOff: number, rows: number, cols: number): void {
  // f32 in WebAssembly (4×4 blocks of shuffles, ~5× the JavaScript loop's speed) where it takes them.
  if (x instanceof Float32Array && out instanceof Float32Array && transposeWasm(x, xOff, out, outOff, rows, cols)) return;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[outOff + c * rows + r] = x[xOff + r * cols + c]!;
}
