// The f64 reference of the matmul kernel tests (matmul.test.ts, matmul-x3.test.ts).
import type { MatmulParams } from '../../kernels/matmul.ts';

/** Reference in f64: values and Σ|a·b| per output (+ bias[n] and its magnitude). */
export function matmulReference(a: Float32Array, b: Float32Array, p: MatmulParams, bias: Float32Array | null): { val: Float64Array; mag: Float64Array } {
  const { batch, M, N, K, transA, transB, strideA, strideB } = p;
  const val = new Float64Array(batch * M * N);
  const mag = new Float64Array(batch * M * N);
  for (let i = 0; i < batch; i++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = bias ? bias[n]! : 0;
        let g = Math.abs(s);
        for (let k = 0; k < K; k++) {
          const x = a[i * strideA + (transA ? k * M + m : m * K + k)]!;
          const y = b[i * strideB + (transB ? n * K + k : k * N + n)]!;
          s += x * y;
          g += Math.abs(x * y);
        }
        val[(i * M + m) * N + n] = s;
        mag[(i * M + m) * N + n] = g;
      }
    }
  }
  return { val, mag };
}

/**
 * `h` dressed as an NVIDIA GPU for the automatic variant choice: 48 KiB of workgroup memory, 1024
 * invocations, f16 and 16×16×16 subgroup matrices, not a software adapter.
 */
export function tensorCoreContext<T extends { limits: GPUSupportedLimits; features: object }>(h: T): T {
  return {
    limits: { ...h.limits, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 },
    features: { ...h.features, f16: true, software: false, subgroupMatrix: { M: 16, N: 16, K: 16 } },
  } as unknown as T;
}
