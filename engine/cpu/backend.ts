/**
 * The CPU backend: TypeScript loops over typed arrays, in f32 and f64, with f32 matmuls (and
 * through them f32 attention) in a WebAssembly SIMD kernel (cpu/wasm/gemm.wat). It is the oracle
 * every WebGPU kernel is tested against and where gradient checks run in f64 (plain loops).
 */
import type {
  Precision,
  AdamWHyper, AttentionDims, AttentionGrads, AttentionOut, Backend, BinaryOp, LayerNormGrads, LayerNormOut, NormModulateDims,
  GatedAddGrads, NormModulateGrads, ReduceOp, Storage, UnaryOp,
} from '../backend.ts';
import { BYTES_PER_ELEMENT, type DType, type TypedArray } from '../dtype.ts';
import { BackendError, ShapeError } from '../errors.ts';
import { broadcastStrides, matmulDims, sizeOf, stridesOf, type Shape } from '../shape.ts';
import { forEachBroadcast, forEachRow, forEachStridedRow } from './indexing.ts';
import * as fused from './fused.ts';
import { transpose2d } from './matmul.ts';
import { gatherRows, gatherRowsMany, scatterRows, scatterRowsMany } from './attention-layout.ts';
import type { RowLayout } from '../../kernels/attention-layout.ts';
import { KERNELS } from './parallel-kernels.ts';
import { pool } from './threads.ts';
import { wasmGemmAvailable } from './wasm/gemm.ts';
import { binaryWasm, colSumWasm, unaryWasm } from './wasm/elementwise.ts';
import { ArrayPool } from './array-pool.ts';
import { binaryFn, unaryFn } from './scalar-math.ts';

export class CpuStorage implements Storage {
  refs = 0;
  /** Set by free(): the array went back to the pool. */
  freed = false;
  constructor(readonly backend: Backend, readonly dtype: DType, readonly data: TypedArray) {}
  get size(): number {
    return this.data.length;
  }
}

const arr = (s: Storage): TypedArray => (s as CpuStorage).data;

/*
 * Thread parts. A worker idle for a few ms starts ~0.2 ms after a job is posted, and a split job
 * copies its operands to shared memory, so a job pays to split from ~0.5 ms of one-thread work
 * (bench/RESULTS.md, 2026-11-26). Matmul parts are at least 2^23 multiply-adds (~0.5 ms in the
 * WebAssembly kernel): products of 2^24 and up are split. Attention parts are at least 2^18 of
 * l·s·(dqk + dv) (~0.25 ms on the matrix kernels, which spend as long again on the softmax's exps):
 * calls of 2^19 and up are split.
 */
const MATMUL_PART = 2 ** 23;
/**
 * Elements per part of a threaded GELU (forward or backward): at a few ns an element, 2^16 is
 * ~0.3 ms of work against the copies to and from shared memory (threads.ts) and a wake-up.
 */
const ELEMENTWISE_PART = 2 ** 16;
/** Smallest share of a normal fill worth a thread (a draw costs ~50 ns, a job's setup tens of µs). */
const RANDOM_PART = 2 ** 14;
const ATTENTION_PART = 2 ** 18;

/** Attention heads per thread part. */
const headsPerPart = (d: AttentionDims): number => Math.ceil(ATTENTION_PART / (d.l * d.s * (d.dqk + d.dv)));

/** out[o0 + j] = f(a[ia + j·sa], b[ib + j·sb]) for j < n: a binary op through its scalar definition. */
function binaryLoop(f: (x: number, y: number) => number, O: TypedArray, A: TypedArray, B: TypedArray, o0: number, ia: number, ib: number, sa: number, sb: number, n: number): void {
  for (let j = 0; j < n; j++, ia += sa, ib += sb) O[o0 + j] = f(A[ia]!, B[ib]!);
}

class CpuBackend implements Backend {
  readonly name = 'cpu';
  /** What computes: the WebAssembly kernels unless off (AVDIT_CPU_WASM=0) or missing (no SIMD). */
  get device(): string {
    return wasmGemmAvailable() ? 'TypeScript loops, WebAssembly SIMD kernels' : 'TypeScript loops (WebAssembly off)';
  }
  readonly precision = 'f32' as const;

  /** The CPU computes in the tensors' own dtype; mixed precision is a GPU option. */
  setPrecision(p: Precision): void {
    if (p !== 'f32') throw new BackendError(`precision ${p}: the cpu backend computes in f32/f64 only`);
  }
  #live = 0;
  #peak = 0;

  supportsDtype(): boolean {
    return true;
  }

  #make(dtype: DType, data: TypedArray): CpuStorage {
    this.#live += data.length * BYTES_PER_ELEMENT[dtype];
    if (this.#live > this.#peak) this.#peak = this.#live;
    return new CpuStorage(this, dtype, data);
  }
  /** Freed arrays for reuse (AVDIT_CPU_POOL_MB, default 512; 0 = off). */
  readonly #freeArrays = new ArrayPool(Number(process.env.AVDIT_CPU_POOL_MB ?? 512) * 2 ** 20);

  /** A zeroed output array; `overwritten`: the op assigns every element, so a reused one is not zeroed first. */
  #alloc(dtype: DType, n: number, overwritten = false): CpuStorage {
    return this.#make(dtype, this.#freeArrays.take(dtype, n, overwritten));
  }

  fromArray(data: TypedArray, dtype: DType): Storage {
    const out = this.#alloc(dtype, data.length, true);
    out.data.set(data);
    return out;
  }
  async read(s: Storage): Promise<TypedArray> {
    return this.readSync(s);
  }
  readSync(s: Storage): TypedArray {
    return arr(s).slice();
  }
  free(s: Storage): void {
    const c = s as CpuStorage;
    if (c.freed) return;
    c.freed = true;
    this.#live -= s.size * BYTES_PER_ELEMENT[s.dtype];
    this.#freeArrays.give(s.dtype, c.data);
  }
  fill(size: number, dtype: DType, value: number): Storage {
    const s = this.#alloc(dtype, size);
    if (value !== 0) s.data.fill(value);
    return s;
  }
  cast(x: Storage, to: DType): Storage {
    const out = this.#alloc(to, x.size, true);
    const src = arr(x);
    if (to === 'i32') {
      // As WGSL converts: rounded toward zero and saturated (for f32 the top is the largest f32
      // below 2^31), where an Int32Array store would wrap around 2^32; NaN gives 0.
      const hi = src instanceof Float32Array ? 2147483520 : 2147483647;
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        out.data[i] = v !== v ? 0 : Math.trunc(Math.min(hi, Math.max(-2147483648, v)));
      }
    } else out.data.set(src);
    return out;
  }
  random(dist: 'uniform' | 'normal', size: number, dtype: DType, seed: number, offset: number): Storage {
    const s = this.#alloc(dtype, size, true);
    // A draw costs tens of ns (Philox's ten rounds, Box–Muller's log and cos): big fills are split
    // across the threads (counter-based: the same numbers); small ones run here (pool.run's one part).
    pool.run('philox', [s.data], { seed, offset, normal: dist === 'normal' ? 1 : 0 }, size, RANDOM_PART, KERNELS.philox, [0]);
    return s;
  }

  unary(op: UnaryOp, x: Storage, a: number, b: number): Storage {
    const src = arr(x);
    const out = this.#alloc(x.dtype, x.size, true);
    const O = out.data;
    if (op === 'gelu' && x.dtype === 'f32') {
      // A few ns an element even on the fast path: worth splitting across threads when big.
      pool.run('gelu', [src, O], {}, src.length, ELEMENTWISE_PART, KERNELS.gelu, [1]);
      return out;
    }
    // f32 affine, square, neg, abs, relu: four lanes at a time in WebAssembly, the same values.
    if (x.dtype === 'f32' && unaryWasm(op, src as Float32Array, O as Float32Array, a, b)) return out;
    // The inner loop specialised for the common ops (a call per element through unaryFn's closure
    // costs more than Math.exp itself).
    switch (op) {
      case 'affine': for (let i = 0; i < src.length; i++) O[i] = a * src[i]! + b; break;
      case 'exp': for (let i = 0; i < src.length; i++) O[i] = Math.exp(src[i]!); break;
      case 'log': for (let i = 0; i < src.length; i++) O[i] = Math.log(src[i]!); break;
      case 'sqrt': for (let i = 0; i < src.length; i++) O[i] = Math.sqrt(src[i]!); break;
      case 'tanh': for (let i = 0; i < src.length; i++) O[i] = Math.tanh(src[i]!); break;
      // i32 squares wrap as WGSL's do (Math.imul: exact low 32 bits; x·x in f64 rounds past 2^53).
      case 'square':
        if (O instanceof Int32Array) for (let i = 0; i < src.length; i++) O[i] = Math.imul(src[i]!, src[i]!);
        else for (let i = 0; i < src.length; i++) O[i] = src[i]! * src[i]!;
        break;
      default: {
        const f = unaryFn(op, a, b);
        for (let i = 0; i < src.length; i++) O[i] = f(src[i]!);
      }
    }
    return out;
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const A = arr(a), B = arr(b);
    const out = this.#alloc(a.dtype, sizeOf(outShape), true);
    const O = out.data;
    const f32 = a.dtype === 'f32';
    // GELU's backward (same shapes, as autograd makes it): the f32 fast path, split across threads.
    if (op === 'geluBwd' && f32 && A.length === O.length && B.length === O.length) {
      pool.run('geluBwd', [A, B, O], {}, O.length, ELEMENTWISE_PART, KERNELS.geluBwd, [2]);
      return out;
    }
    // f32 arithmetic and comparisons: rows four lanes at a time in WebAssembly, the same values.
    if (f32 && binaryWasm(op, O as Float32Array, A as Float32Array, aShape, B as Float32Array, bShape, outShape)) return out;
    // Row by row with the inner loop specialised per op (a closure call per element is the slow part).
    forEachRow(outShape, [aShape, bShape], (o0, offs, inner, n) => {
      let ia = offs[0]!, ib = offs[1]!;
      const sa = inner[0]!, sb = inner[1]!;
      switch (op) {
        case 'add': for (let j = 0; j < n; j++, ia += sa, ib += sb) O[o0 + j] = A[ia]! + B[ib]!; return;
        case 'sub': for (let j = 0; j < n; j++, ia += sa, ib += sb) O[o0 + j] = A[ia]! - B[ib]!; return;
        case 'mul':
          // i32 products wrap as WGSL's do (Math.imul: exact low 32 bits; x·y in f64 rounds past 2^53).
          if (O instanceof Int32Array) for (let j = 0; j < n; j++, ia += sa, ib += sb) O[o0 + j] = Math.imul(A[ia]!, B[ib]!);
          else for (let j = 0; j < n; j++, ia += sa, ib += sb) O[o0 + j] = A[ia]! * B[ib]!;
          return;
        case 'div': for (let j = 0; j < n; j++, ia += sa, ib += sb) O[o0 + j] = A[ia]! / B[ib]!; return;
        default:
          binaryLoop(binaryFn(op, f32), O, A, B, o0, ia, ib, sa, sb, n);
      }
    });
    return out;
  }

  where(c: Storage, cShape: Shape, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const C = arr(c), A = arr(a), B = arr(b);
    const out = this.#alloc(a.dtype, sizeOf(outShape), true);
    const O = out.data;
    // Row by row, as binary: a closure call per element was most of its time.
    forEachRow(outShape, [cShape, aShape, bShape], (o0, offs, inner, n) => {
      let ic = offs[0]!, ia = offs[1]!, ib = offs[2]!;
      const sc = inner[0]!, sa = inner[1]!, sb = inner[2]!;
      for (let j = 0; j < n; j++, ic += sc, ia += sa, ib += sb) O[o0 + j] = C[ic] !== 0 ? A[ia]! : B[ib]!;
    });
    return out;
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = this.#alloc(x.dtype, sizeOf(outShape));
    const O = out.data, X = arr(x);
    // A sum over the leading axes (bias gradients) in WebAssembly, rows in the same order: the same bits.
    const lead = axes.length;
    if (op === 'sum' && X instanceof Float32Array && lead > 0 && lead < shape.length && [...axes].sort((a, b) => a - b).every((a, i) => a === i)) {
      const R = sizeOf(shape.slice(0, lead));
      if (R > 1 && colSumWasm(X, O as Float32Array, R, out.size)) return out;
    }
    if (op === 'max') O.fill(O instanceof Int32Array ? -(2 ** 31) : -Infinity); // (an Int32Array stores −∞ as 0)
    // Walk the input row by row; the output offset uses stride 0 along reduced axes.
    forEachRow(shape, [outShape], (i0, offs, inner, n) => {
      let j = offs[0]!;
      const sj = inner[0]!;
      if (op === 'sum') {
        if (sj === 0) {
          let acc = 0;
          for (let k = 0; k < n; k++) acc += X[i0 + k]!;
          O[j]! += acc;
        } else for (let k = 0; k < n; k++, j += sj) O[j]! += X[i0 + k]!;
      } else {
        for (let k = 0; k < n; k++, j += sj) {
          const v = X[i0 + k]!;
          if (v > O[j]! || Number.isNaN(v)) O[j] = v;
        }
      }
    });
    return out;
  }

  matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, transA: boolean, transB: boolean, outShape: Shape, bias: Storage | null = null): Storage {
    const { M, N, K, batchShape } = matmulDims(aShape, outShape, transA);
    const out = this.#alloc(a.dtype, sizeOf(outShape));
    const A = arr(a), B = arr(b);
    // The kernel wants A as [M,K] and B as Bt [N,K]: transposed B is already that.
    // Transposition scratch comes from (and goes back to) the array pool.
    const aT = transA ? this.#freeArrays.take(a.dtype, M * K) : null;
    const bT = transB ? null : this.#freeArrays.take(b.dtype, K * N);
    const aBatch = aShape.slice(0, -2), bBatch = bShape.slice(0, -2);
    forEachBroadcast(batchShape, [aBatch, bBatch], (i, o) => {
      const aOff = o[0]! * M * K, bOff = o[1]! * K * N;
      let Am: TypedArray = A, am = aOff, Bm: TypedArray = B, bm = bOff;
      if (aT) { transpose2d(A, aOff, aT, 0, K, M); Am = aT; am = 0; }
      if (bT) { transpose2d(B, bOff, bT, 0, K, N); Bm = bT; bm = 0; }
      // Threads take 4-row blocks of C, each part at least MATMUL_PART multiply-adds. This batch
      // item's slices only: a split job copies its arrays whole into shared memory.
      const Aw = Am.subarray(am, am + M * K), Bw = Bm.subarray(bm, bm + K * N), Cw = out.data.subarray(i * M * N, (i + 1) * M * N);
      pool.run('gemmABt', [Aw, Bw, Cw], { aOff: 0, btOff: 0, cOff: 0, M, K, N }, Math.ceil(M / 4), Math.ceil(MATMUL_PART / (4 * K * N)), KERNELS.gemmABt, [2]);
    });
    if (aT) this.#freeArrays.give(a.dtype, aT);
    if (bT) this.#freeArrays.give(b.dtype, bT);
    if (bias) {
      const C = out.data, Bv = arr(bias);
      // f32: the row-broadcast add in WebAssembly (in place: the module copies C in first), the same bits.
      if (!(C instanceof Float32Array && Bv instanceof Float32Array && binaryWasm('add', C, C, [C.length / N, N], Bv, [N], [C.length / N, N]))) {
        for (let o = 0; o < C.length; o += N) for (let c = 0; c < N; c++) C[o + c]! += Bv[c]!;
      }
    }
    return out;
  }

  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage {
    const outShape = perm.map((p) => shape[p]!);
    const inStrides = stridesOf(shape);
    // Reading input stride perm[d] while walking output dim d.
    const viewStrides = perm.map((p) => inStrides[p]!);
    return this.#gatherView(x, outShape, viewStrides, 0);
  }

  /** out[i] = x[offset + Σ coord_d · strides_d] over outShape. */
  #gatherView(x: Storage, outShape: Shape, strides: readonly number[], offset: number): CpuStorage {
    const out = this.#alloc(x.dtype, sizeOf(outShape), true);
    const X = arr(x), O = out.data;
    // Row by row over the merged dims: a contiguous row is one copy, a broadcast row one fill.
    forEachStridedRow(outShape, [[...strides]], (o0, offs, inner, n) => {
      const i0 = offset + offs[0]!, s = inner[0]!;
      if (s === 1) O.set(X.subarray(i0, i0 + n), o0);
      else if (s === 0) O.fill(X[i0]!, o0, o0 + n);
      else for (let j = 0, i = i0; j < n; j++, i += s) O[o0 + j] = X[i]!;
    });
    return out;
  }

  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[], perm?: readonly number[]): Storage {
    const st = stridesOf(shape);
    const offset = begin.reduce((acc, b, i) => acc + b * st[i]!, 0);
    const p = perm ?? size.map((_, i) => i);
    return this.#gatherView(x, p.map((a) => size[a]!), p.map((a) => st[a]!), offset);
  }

  padSlice(x: Storage, shape: Shape, outShape: Shape, begin: readonly number[]): Storage {
    const out = this.#alloc(x.dtype, sizeOf(outShape));
    const st = stridesOf(outShape);
    const base = begin.reduce((acc, b, i) => acc + b * st[i]!, 0);
    const X = arr(x), O = out.data;
    // Walk x row by row; its elements land at base + Σ coord·outStrides (a "view" of the output).
    forEachStridedRow(shape, [[...st]], (x0, offs, inner, n) => {
      const o0 = base + offs[0]!, s = inner[0]!;
      if (s === 1) O.set(X.subarray(x0, x0 + n), o0);
      else for (let j = 0, o = o0; j < n; j++, o += s) O[o] = X[x0 + j]!;
    });
    return out;
  }

  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number, perms?: readonly (readonly number[] | null)[]): Storage {
    const outShape = [...shapes[0]!];
    outShape[axis] = shapes.reduce((acc, s) => acc + s[axis]!, 0);
    const out = this.#alloc(xs[0]!.dtype, sizeOf(outShape), true);
    const os = stridesOf(outShape);
    const O = out.data;
    let at = 0;
    xs.forEach((s, k) => {
      const X = arr(s);
      // Walk the part as stored (its axes permuted, or not); an element lands at at + Σ coord·(the
      // output's stride of its axis), a run of contiguous ones as one copy.
      const p = perms?.[k] ?? outShape.map((_, i) => i);
      forEachStridedRow(p.map((a) => shapes[k]![a]!), [p.map((a) => os[a]!)], (x0, offs, inner, n) => {
        const o0 = at + offs[0]!, st = inner[0]!;
        if (st === 1) O.set(X.subarray(x0, x0 + n), o0);
        else for (let j = 0, o = o0; j < n; j++, o += st) O[o] = X[x0 + j]!;
      });
      at += shapes[k]![axis]! * os[axis]!;
    });
    return out;
  }

  expand(x: Storage, shape: Shape, outShape: Shape): Storage {
    return this.#gatherView(x, outShape, broadcastStrides(shape, outShape), 0);
  }

  gather(table: Storage, tableShape: Shape, idx: Storage): Storage {
    const [V, D] = tableShape as [number, number];
    const I = arr(idx), T = arr(table);
    const out = this.#alloc(table.dtype, I.length * D);
    for (let r = 0; r < I.length; r++) {
      const v = I[r]!;
      if (v < 0 || v >= V) throw new ShapeError(`gather: index ${v} at position ${r} is out of range for a table of ${V} rows`);
      out.data.set(T.subarray(v * D, (v + 1) * D), r * D);
    }
    return out;
  }

  scatterAdd(src: Storage, srcShape: Shape, idx: Storage, rows: number): Storage {
    const D = srcShape[1]!;
    const I = arr(idx), S = arr(src);
    const out = this.#alloc(src.dtype, rows * D);
    for (let r = 0; r < I.length; r++) {
      const v = I[r]!;
      if (v < 0 || v >= rows) throw new ShapeError(`scatterAdd: index ${v} at position ${r} is out of range for ${rows} rows`);
      for (let d = 0; d < D; d++) out.data[v * D + d]! += S[r * D + d]!;
    }
    return out;
  }

  softmax(x: Storage, shape: Shape, scale = 1): Storage {
    const D = shape.at(-1)!;
    const X = arr(x);
    const out = this.#alloc(x.dtype, x.size);
    for (let r = 0; r * D < X.length; r++) {
      const o = r * D;
      let m = -Infinity;
      for (let j = 0; j < D; j++) m = Math.max(m, X[o + j]!);
      let s = 0;
      // max(scale·x) = scale·max(x) for scale > 0
      for (let j = 0; j < D; j++) s += out.data[o + j] = Math.exp((X[o + j]! - m) * scale);
      for (let j = 0; j < D; j++) out.data[o + j]! /= s;
    }
    return out;
  }

  softmaxBwd(y: Storage, dy: Storage, shape: Shape, scale = 1): Storage {
    const D = shape.at(-1)!;
    const Y = arr(y), G = arr(dy);
    const out = this.#alloc(y.dtype, y.size);
    for (let o = 0; o < Y.length; o += D) {
      let dot = 0;
      for (let j = 0; j < D; j++) dot += G[o + j]! * Y[o + j]!;
      for (let j = 0; j < D; j++) out.data[o + j] = scale * Y[o + j]! * (G[o + j]! - dot);
    }
    return out;
  }

  layerNorm(x: Storage, shape: Shape, w: Storage | null, b: Storage | null, eps: number): LayerNormOut {
    const D = shape.at(-1)!;
    const rows = x.size / D;
    const X = arr(x), W = w && arr(w), B = b && arr(b);
    const y = this.#alloc(x.dtype, x.size), mean = this.#alloc(x.dtype, rows), rstd = this.#alloc(x.dtype, rows);
    for (let r = 0; r < rows; r++) {
      const o = r * D;
      const [mu, rs] = fused.rowMeanRstd(X, o, D, eps);
      mean.data[r] = mu;
      rstd.data[r] = rs;
      for (let j = 0; j < D; j++) {
        const xhat = (X[o + j]! - mu) * rs;
        y.data[o + j] = xhat * (W ? W[j]! : 1) + (B ? B[j]! : 0);
      }
    }
    return { y, mean, rstd };
  }

  /**
   * With x̂ = (x − μ)·r and g = dy ⊙ w:  dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),
   * dw = Σ_rows dy ⊙ x̂, db = Σ_rows dy.
   */
  layerNormBwd(dy: Storage, x: Storage, mean: Storage, rstd: Storage, w: Storage | null, shape: Shape, withBias: boolean): LayerNormGrads {
    const D = shape.at(-1)!;
    const rows = x.size / D;
    const X = arr(x), G = arr(dy), MU = arr(mean), RS = arr(rstd), W = w && arr(w);
    const dx = this.#alloc(x.dtype, x.size);
    const dw = W ? this.#alloc(x.dtype, D) : null;
    const db = withBias ? this.#alloc(x.dtype, D) : null;
    for (let r = 0; r < rows; r++) {
      const o = r * D, mu = MU[r]!, rs = RS[r]!;
      let mg = 0, mgx = 0;
      for (let j = 0; j < D; j++) {
        const xhat = (X[o + j]! - mu) * rs;
        const g = G[o + j]! * (W ? W[j]! : 1);
        mg += g;
        mgx += g * xhat;
        if (dw) dw.data[j]! += G[o + j]! * xhat;
        if (db) db.data[j]! += G[o + j]!;
      }
      mg /= D;
      mgx /= D;
      for (let j = 0; j < D; j++) {
        const xhat = (X[o + j]! - mu) * rs;
        const g = G[o + j]! * (W ? W[j]! : 1);
        dx.data[o + j] = rs * (g - mg - xhat * mgx);
      }
    }
    return { dx, dw, db };
  }

  // ---- fused ops: references in fused.ts ----

  /**
   * Operands in a strided layout (kernels/attention-layout.ts) are gathered to contiguous rows in
   * scratch arrays from the pool, and results scattered back.
   */
  attention(q: Storage, k: Storage, v: Storage, d: AttentionDims): AttentionOut {
    const { layout: L, ...dims } = d;
    const o = this.#alloc(q.dtype, d.n * d.l * d.dv), lse = this.#alloc(q.dtype, d.n * d.l);
    if (!L) {
      pool.run('attentionFwd', [arr(q), arr(k), arr(v), o.data, lse.data], { ...dims }, d.n, headsPerPart(d), KERNELS.attentionFwd, [3, 4]);
      return { o, lse };
    }
    const scratch = this.#scratch(q.dtype);
    const ins = scratch.qkv(q, k, v, d);
    const oc = scratch.take(o.size);
    pool.run('attentionFwd', [...ins, oc, lse.data], { ...dims }, d.n, headsPerPart(d), KERNELS.attentionFwd, [3, 4]);
    scatterRows(oc, o.data, L.o, L.H, d.n, d.l, d.dv);
    scratch.giveAll();
    return { o, lse };
  }

  /** With a packed layout (q, k, v one buffer) dq, dk and dv are one storage too. */
  attentionBwd(q: Storage, k: Storage, v: Storage, o: Storage, lse: Storage, dO: Storage, d: AttentionDims): AttentionGrads {
    const { layout: L, ...dims } = d;
    if (!L) {
      const dq = this.#alloc(q.dtype, q.size), dk = this.#alloc(q.dtype, k.size), dv = this.#alloc(q.dtype, v.size);
      const arrays = [q, k, v, o, lse, dO].map(arr);
      pool.run('attentionBwd', [...arrays, dq.data, dk.data, dv.data], { ...dims }, d.n, headsPerPart(d), KERNELS.attentionBwd, [6, 7, 8]);
      return { dq, dk, dv };
    }
    const scratch = this.#scratch(q.dtype);
    const ins = [...scratch.qkv(q, k, v, d), scratch.rows(o, L.o, L.H, d.n, d.l, d.dv), arr(lse), scratch.rows(dO, L.o, L.H, d.n, d.l, d.dv)];
    const [dqc, dkc, dvc] = [scratch.take(d.n * d.l * d.dqk), scratch.take(d.n * d.s * d.dqk), scratch.take(d.n * d.s * d.dv)];
    pool.run('attentionBwd', [...ins, dqc, dkc, dvc], { ...dims }, d.n, headsPerPart(d), KERNELS.attentionBwd, [6, 7, 8]);
    const dq = this.#alloc(q.dtype, q.size);
    const dk = L.packed ? dq : this.#alloc(q.dtype, k.size), dv = L.packed ? dq : this.#alloc(q.dtype, v.size);
    const parts = [{ r: L.q, len: d.l, w: d.dqk }, { r: L.k, len: d.s, w: d.dqk }, { r: L.v, len: d.s, w: d.dv }];
    // Packed: the three gradients are one array, written in one pass (one copy of it in WebAssembly).
    if (L.packed) scatterRowsMany(dq.data, L.H, d.n, parts, [dqc, dkc, dvc]);
    else [dqc, dkc, dvc].forEach((c, i) => scatterRows(c, [dq, dk, dv][i]!.data, parts[i]!.r, L.H, d.n, parts[i]!.len, parts[i]!.w));
    scratch.giveAll();
    return { dq, dk, dv };
  }

  /** Scratch arrays of one dtype from the array pool, all handed back by giveAll(). */
  #scratch(dtype: DType): {
    take(n: number): TypedArray;
    rows(s: Storage, r: RowLayout, H: number, n: number, len: number, w: number): TypedArray;
    qkv(q: Storage, k: Storage, v: Storage, d: AttentionDims): TypedArray[];
    giveAll(): void;
  } {
    const taken: TypedArray[] = [];
    const take = (n: number): TypedArray => {
      const a = this.#freeArrays.take(dtype, n);
      taken.push(a);
      return a;
    };
    return {
      take,
      rows: (s, r, H, n, len, w) => gatherRows(arr(s), r, H, n, len, w, take(n * len * w)),
      // q, k, v contiguous; when they are one packed projection, gathered in one pass over it.
      qkv: (q, k, v, d) => {
        const L = d.layout!;
        const parts = [{ r: L.q, len: d.l, w: d.dqk }, { r: L.k, len: d.s, w: d.dqk }, { r: L.v, len: d.s, w: d.dv }];
        const outs = parts.map((p) => take(d.n * p.len * p.w));
        if (q === k && k === v) gatherRowsMany(arr(q), L.H, d.n, parts, outs);
        else [q, k, v].forEach((s, i) => gatherRows(arr(s), parts[i]!.r, L.H, d.n, parts[i]!.len, parts[i]!.w, outs[i]!));
        return outs;
      },
      giveAll: () => taken.forEach((a) => this.#freeArrays.give(dtype, a)),
    };
  }

  normModulate(x: Storage, shift: Storage, scale: Storage, d: NormModulateDims, eps: number): LayerNormOut {
    const rows = d.N * d.L;
    const y = this.#alloc(x.dtype, x.size), mean = this.#alloc(x.dtype, rows), rstd = this.#alloc(x.dtype, rows);
    fused.normModulateFwd(arr(x), arr(shift), arr(scale), d, eps, y.data, mean.data, rstd.data);
    return { y, mean, rstd };
  }

  normModulateBwd(dy: Storage, x: Storage, mean: Storage, rstd: Storage, scale: Storage, d: NormModulateDims): NormModulateGrads {
    const dx = this.#alloc(x.dtype, x.size), dshift = this.#alloc(x.dtype, d.N * d.D), dscale = this.#alloc(x.dtype, d.N * d.D);
    fused.normModulateBwd(arr(dy), arr(x), arr(mean), arr(rstd), arr(scale), d, dx.data, dshift.data, dscale.data);
    return { dx, dshift, dscale };
  }

  gatedAdd(x: Storage, gate: Storage, y: Storage, d: NormModulateDims): Storage {
    const out = this.#alloc(x.dtype, x.size);
    fused.gatedAddFwd(arr(x), arr(gate), arr(y), d, out.data);
    return out;
  }

  gatedAddBwd(g: Storage, gate: Storage, y: Storage | null, d: NormModulateDims): GatedAddGrads {
    const dgate = y ? this.#alloc(g.dtype, d.N * d.D) : null, dy = this.#alloc(g.dtype, g.size);
    fused.gatedAddBwd(arr(g), arr(gate), y ? arr(y) : null, d, dgate?.data ?? null, dy.data);
    return { dgate, dy };
  }

  adamw(params: readonly Storage[], grads: readonly Storage[], m: readonly Storage[], v: readonly Storage[], hp: AdamWHyper): void {
    params.forEach((p, i) => fused.adamwStep(arr(p), arr(grads[i]!), arr(m[i]!), arr(v[i]!), hp));
  }

  async sync(): Promise<void> {}
  memory(): { liveBytes: number; pooledBytes: number; peakBytes: number } {
    return { liveBytes: this.#live, pooledBytes: this.#freeArrays.bytes, peakBytes: this.#peak };
  }
  resetPeak(): void {
    this.#peak = this.#live;
  }
  async destroy(): Promise<void> {
    throw new BackendError('the cpu backend cannot be destroyed');
  }
}

export const cpuBackend: Backend = new CpuBackend();
