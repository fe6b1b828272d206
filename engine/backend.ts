/**
 * The contract every backend implements. It speaks in storages (flat, contiguous buffers) and
 * shapes; the tensor layer (`ops.ts`) validates shapes and dtypes before calling it, so a
 * backend may assume its inputs are consistent. Every compute method returns a new storage.
 */
import type { AdamWScalars } from '../kernels/adamw.ts';
import type { AttentionShape } from '../kernels/attention.ts';
import type { DType, TypedArray } from './dtype.ts';
import type { Shape } from './shape.ts';

/** A flat buffer owned by a backend. Tensors share storages (reshape) and count references. */
export interface Storage {
  readonly backend: Backend;
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  /** Tensors holding this storage; the backend frees it when this drops to 0. */
  refs: number;
}

/** One-input elementwise ops. `affine` is a·x + b, `powScalar` is x^a, `clamp` clips to [a, b]. */
export const UNARY_OPS = [
  'neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'recip', 'square', 'sin', 'cos',
  'tanh', 'sigmoid', 'silu', 'gelu', 'relu', 'affine', 'powScalar', 'clamp',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/**
 * Two-input broadcasting ops. Comparisons give 1 or 0 in the input dtype. `geluBwd(x, dy)` and
 * `siluBwd(x, dy)` are the fused gradients dy·f'(x).
 */
export const BINARY_OPS = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'gt', 'ge', 'lt', 'le', 'geluBwd', 'siluBwd',
] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

export type ReduceOp = 'sum' | 'max';

export type Precision = 'f32' | 'mixed';

export interface LayerNormOut {
  y: Storage;
  /** Per-row mean and 1/sqrt(var + eps), kept for the backward pass. */
  mean: Storage;
  rstd: Storage;
}

export interface LayerNormGrads {
  dx: Storage;
  dw: Storage | null;
  db: Storage | null;
}

/**
 * Sizes of a fused attention call: n = batch·heads, l queries, s keys, head dims, softmax scale,
 * and optionally where the operands' rows lie inside their (contiguous) tensors.
 */
export type AttentionDims = AttentionShape;
export type { AttentionLayout, RowLayout } from '../kernels/attention-layout.ts';

export interface AttentionOut {
  /** [n, l, dv] */
  o: Storage;
  /** Shape [n, l]: logsumexp of each row of scale·QKᵀ, kept for the backward pass. */
  lse: Storage;
}

export interface AttentionGrads {
  dq: Storage;
  dk: Storage;
  dv: Storage;
}

/** Sizes of LayerNorm + adaLN modulate: x [N, L, D], shift/scale [N, D]. */
export interface NormModulateDims {
  N: number;
  L: number;
  D: number;
}

export interface NormModulateGrads {
  dx: Storage;
  dshift: Storage;
  dscale: Storage;
}

/** Gradients of the gated residual out = x + gate ⊙ y (the one of x is the incoming gradient itself). */
export interface GatedAddGrads {
  /** null when y was not given (a frozen gate). */
  dgate: Storage | null;
  dy: Storage;
}

/** torch.optim.AdamW's hyper-parameters for one step; `step` is t ≥ 1 (after incrementing). */
export type AdamWHyper = AdamWScalars;

export interface Backend {
  /** 'cpu' or 'webgpu'. */
  readonly name: string;
  /** What runs the kernels (the adapter's name, or the CPU backend's "TypeScript loops, WebAssembly SIMD kernels"). */
  readonly device: string;
  /** A hardware GPU (not the CPU backend, nor a software adapter such as lavapipe): model defaults that were measured on GPUs apply. */
  readonly hardwareGpu?: boolean;
  /** The largest tensor in bytes a kernel can bind (WebGPU: the storage binding limit); absent: no such limit. */
  readonly maxTensorBytes?: number;
  supportsDtype(dtype: DType): boolean;

  // ---- memory ----
  fromArray(data: TypedArray, dtype: DType): Storage;
  /** Copy out; waits for pending GPU work. */
  read(s: Storage): Promise<TypedArray>;
  /** Synchronous read where the backend can (CPU); undefined elsewhere. */
  readSync?(s: Storage): TypedArray;
  free(s: Storage): void;
  fill(size: number, dtype: DType, value: number): Storage;
  cast(x: Storage, to: DType): Storage;
  /** Fill with Philox-4x32-10 uniforms in [0,1) or Box–Muller normals; element i uses counter offset + i. */
  random(dist: 'uniform' | 'normal', size: number, dtype: DType, seed: number, offset: number): Storage;

  // ---- elementwise ----
  unary(op: UnaryOp, x: Storage, a: number, b: number): Storage;
  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;
  /** cond ≠ 0 ? a : b, all three broadcast to outShape. */
  where(c: Storage, cShape: Shape, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;

  // ---- reductions (result keeps reduced axes as size 1) ----
  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage;

  // ---- matmul: a [...batchA, M, K] (or [..., K, M] when transA), b [...batchB, K, N] (or [..., N, K]) ----
  /** With `bias` [N], added to every row of the product in the same pass (a linear layer's bias). */
  matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, transA: boolean, transB: boolean, outShape: Shape, bias?: Storage | null): Storage;

  // ---- data movement ----
  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage;
  /**
   * The box [begin, begin + size) of x; with `perm`, its axes then permuted (output axis i is box
   * axis perm[i]) in the same copy.
   */
  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[], perm?: readonly number[]): Storage;
  /** Zeros of outShape with x written at begin (the gradient of slice). */
  padSlice(x: Storage, shape: Shape, outShape: Shape, begin: readonly number[]): Storage;
  /**
   * The parts side by side along `axis`; `shapes` are their shapes as parts of the output. With
   * `perms`, part k is stored with its axes permuted (stored axis i is the part's axis perms[k][i]:
   * what slice with the same perm gathers), and lands un-permuted in the same copy.
   */
  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number, perms?: readonly (readonly number[] | null)[]): Storage;
  /** Broadcast copy of x to outShape. */
  expand(x: Storage, shape: Shape, outShape: Shape): Storage;
  /** rows of table [V, D] picked by idx (i32, n of them) → [n, D]. */
  gather(table: Storage, tableShape: Shape, idx: Storage): Storage;
  /** [V, D] zeros with src [n, D] rows added at idx (the gradient of gather). */
  scatterAdd(src: Storage, srcShape: Shape, idx: Storage, rows: number): Storage;

  // ---- fused nn ops (last axis) ----
  /** y = softmax(scale·x) over the last axis (scale > 0; 1 when absent). */
  softmax(x: Storage, shape: Shape, scale?: number): Storage;
  /** dx = scale·y ⊙ (dy − Σ dy ⊙ y), the gradient of softmax(scale·x) (y its output). */
  softmaxBwd(y: Storage, dy: Storage, shape: Shape, scale?: number): Storage;
  layerNorm(x: Storage, shape: Shape, w: Storage | null, b: Storage | null, eps: number): LayerNormOut;
  layerNormBwd(dy: Storage, x: Storage, mean: Storage, rstd: Storage, w: Storage | null, shape: Shape, withBias: boolean): LayerNormGrads;

  // ---- fused attention (flash style on the GPU): q [n,l,dqk], k [n,s,dqk], v [n,s,dv] ----
  /** o = softmax(scale·q kᵀ) v and the row logsumexp. */
  attention(q: Storage, k: Storage, v: Storage, dims: AttentionDims): AttentionOut;
  /** FA2 backward from the saved o and lse. */
  attentionBwd(q: Storage, k: Storage, v: Storage, o: Storage, lse: Storage, dO: Storage, dims: AttentionDims): AttentionGrads;

  // ---- LayerNorm (no affine) fused with adaLN modulate: y = LN(x)·(1 + scale) + shift ----
  normModulate(x: Storage, shift: Storage, scale: Storage, dims: NormModulateDims, eps: number): LayerNormOut;
  normModulateBwd(dy: Storage, x: Storage, mean: Storage, rstd: Storage, scale: Storage, dims: NormModulateDims): NormModulateGrads;

  // ---- DiT's gated residual: out = x + gate ⊙ y, x and y [N, L, D], gate [N, D] over the L tokens ----
  gatedAdd(x: Storage, gate: Storage, y: Storage, dims: NormModulateDims): Storage;
  /** dy = gate_n ⊙ g, and dgate_n = Σ_t g ⊙ y unless y is null (a frozen gate: y need not be kept). */
  gatedAddBwd(g: Storage, gate: Storage, y: Storage | null, dims: NormModulateDims): GatedAddGrads;

  // ---- optimizer ----
  /** One AdamW step, updating params, m and v in place (lists of equal-size storages). */
  adamw(params: readonly Storage[], grads: readonly Storage[], m: readonly Storage[], v: readonly Storage[], hp: AdamWHyper): void;

  /**
   * Matmul precision: 'f32' (default, the reference) or 'mixed' (f16 operands with f32
   * accumulation, on tensor cores where the GPU has them; DESIGN.md "Precision"). Backends
   * without it (the CPU) accept only 'f32'.
   */
  precision: Precision;
  setPrecision(p: Precision): void;

  /** Wait for queued work (no-op on CPU). */
  sync(): Promise<void>;
  /**
   * Bytes held by live storages, bytes allocated including the pool, and the most live bytes at
   * once since the last resetPeak() (for peak-memory benchmarks); `budgetBytes`, where the backend
   * has one, the most it may hold (WebGPU: its buffer pool's budget, engine/webgpu/memory-budget.ts).
   */
  memory(): { liveBytes: number; pooledBytes: number; peakBytes: number; budgetBytes?: number };
  resetPeak(): void;
  /** Release the device; the backend is unusable afterwards. */
  destroy(): Promise<void>;
}
