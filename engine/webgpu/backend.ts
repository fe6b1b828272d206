/**
 * The WebGPU backend: every Backend method encodes kernels from kernels/ into the batched
 * context; only `read` and `sync` wait. Storages own pooled GPUBuffers and give them back when
 * their last tensor lets go.
 */
import { memoryBudget } from './memory-budget.ts';
import type {
  AdamWHyper, AttentionDims, AttentionGrads, AttentionOut, Backend, BinaryOp, LayerNormGrads, LayerNormOut, NormModulateDims,
  GatedAddGrads, NormModulateGrads, ReduceOp, Storage, UnaryOp,
  Precision,
} from '../backend.ts';
import { BYTES_PER_ELEMENT, toTypedArray, type DType, type TypedArray } from '../dtype.ts';
import { BackendError, DTypeError, ShapeError } from '../errors.ts';
import { broadcastStrides, matmulDims, sizeOf, stridesOf, type Shape } from '../shape.ts';
import { encodeBinary, encodeUnary, encodeWhere, type ElemType } from '../../kernels/elementwise.ts';
import { encodeGather, encodeScatterAdd, FLAG_GATHER_OOB, FLAG_SCATTER_OOB } from '../../kernels/gather.ts';
import { directVariant, encodeMatmul, weightTransposeOn } from '../../kernels/matmul.ts';
import { encodeToF16, f16Bytes } from '../../kernels/cast-f16.ts';
import { encodeAdamW } from '../../kernels/adamw.ts';
import { encodeAttention } from '../../kernels/attention.ts';
import { encodeAttentionBwd } from '../../kernels/attention-bwd.ts';
import { encodeAttentionBwdMixed, encodeAttentionMixed, mixedAttentionOptions, x3AttentionOptions, type MixedOptions } from '../../kernels/attention-sgmat.ts';
import { encodeNormModulate, encodeNormModulateBwd } from '../../kernels/norm-modulate.ts';
import { encodeGatedAdd, encodeGatedAddBwd } from '../../kernels/gated-add.ts';
import { encodeLayerNorm, encodeLayerNormBwd } from '../../kernels/layernorm.ts';
import { encodeCast, encodeFill, encodeGatherView, encodeScatterBox, encodeStridedCopy } from '../../kernels/movement.ts';
import { encodeReduce } from '../../kernels/reduce.ts';
import { encodeRandom } from '../../kernels/rng.ts';
import { encodeSoftmax, encodeSoftmaxBwd } from '../../kernels/softmax.ts';
import { WebGpuContext } from './context.ts';
import { F16Cache, TransposedCache } from './f16-cache.ts';
import { openDevice } from './device.ts';
import { classCap } from './pool.ts';

export class GpuStorage implements Storage {
  refs = 0;
  constructor(
    readonly backend: Backend,
    readonly dtype: DType,
    readonly size: number,
    public buffer: GPUBuffer | null,
  ) {}
}

const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * Refuse a tensor of n elements that a kernel could not bind: bind groups bind a tensor's whole
 * pooled buffer, so the limit is the pool's largest class (classCap: maxStorageBufferBindingSize
 * and maxBufferSize, rounded down to 256 bytes), which `sizeClass` never rounds a smaller request past.
 */
export function checkBindable(op: string, dtype: DType, n: number, limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>): void {
  const bytes = n * BYTES_PER_ELEMENT[dtype];
  const cap = classCap(limits);
  if (bytes > cap) {
    throw new BackendError(
      `${op}: a ${dtype} tensor of ${n} elements (${MiB(bytes)}) exceeds this device's largest storage binding ` +
        `(maxStorageBufferBindingSize ${MiB(limits.maxStorageBufferBindingSize)}, maxBufferSize ${MiB(limits.maxBufferSize)}: ` +
        `${cap} bytes at most); split the work into smaller tensors`,
    );
  }
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  precision: Precision = 'f32';
  #live = 0;
  /** Device-side assertion codes (gather/scatter index checks), read with every read. */
  readonly #flags: GPUBuffer;
  /** Messages for the codes in #flags, set by the launch that could raise them. */
  readonly #flagMessages = new Map<number, string>();
  /** The Dawn instance, dropped at destroy so Node can exit. */
  #gpu: GPU | null;
  /** f16 copies of weight operands (mixed precision's direct matmul form). */
  readonly f16Copies: F16Cache;
  /** Transposed copies of weight operands (f32 forward products as NN: AVDIT_MATMUL_WEIGHT_T). */
  readonly transposedWeights: TransposedCache;

  constructor(
    readonly ctx: WebGpuContext,
    readonly device: string,
    gpu: GPU,
  ) {
    this.#gpu = gpu;
    this.f16Copies = new F16Cache(ctx);
    this.transposedWeights = new TransposedCache(ctx);
    this.#flags = ctx.alloc(4, 'assert-flags');
    encodeFill(ctx, this.#flags, 1, 'i32', 0);
  }

  get hardwareGpu(): boolean {
    return !this.ctx.features.software;
  }

  /** The pool's largest class: what checkBindable lets a tensor be. */
  get maxTensorBytes(): number {
    return classCap(this.ctx.limits);
  }

  supportsDtype(dtype: DType): boolean {
    return dtype === 'f32' || dtype === 'i32';
  }

  /** 'mixed' needs shader-f16 (the tensor-core kernel also needs subgroup matrices, else a plain f16 one runs). */
  setPrecision(p: Precision): void {
    if (p === 'mixed' && !this.ctx.features.f16) throw new BackendError(`precision mixed: ${this.device} has no shader-f16`);
    this.precision = p;
  }

  // ---- memory ----

  /** A new storage of n elements; refuses sizes a kernel could not bind. */
  #alloc(op: string, dtype: DType, n: number, upload = false): GpuStorage {
    if (!this.supportsDtype(dtype)) throw new DTypeError(`${op}: the webgpu backend has no ${dtype} (f32 and i32 only)`);
    const bytes = n * BYTES_PER_ELEMENT[dtype];
    checkBindable(op, dtype, n, this.ctx.limits);
    this.ctx.throwIfFailed();
    this.#live += bytes;
    return new GpuStorage(this, dtype, n, this.ctx.alloc(bytes, op, upload));
  }

  #buf(s: Storage): GPUBuffer {
    const b = (s as GpuStorage).buffer;
    if (!b) throw new BackendError('webgpu: use of a freed storage');
    return b;
  }

  fromArray(data: TypedArray, dtype: DType): Storage {
    const s = this.#alloc('fromArray', dtype, data.length, true);
    if (data.length > 0) {
      const typed = data instanceof (dtype === 'f32' ? Float32Array : Int32Array) ? data : toTypedArray(data, dtype);
      // writeBuffer runs before work recorded but not yet submitted; the pool only hands out buffers no pending work touches.
      this.ctx.device.queue.writeBuffer(this.#buf(s), 0, typed.buffer, typed.byteOffset, typed.byteLength);
    }
    return s;
  }

  async read(s: Storage): Promise<TypedArray> {
    const bytes = s.size * BYTES_PER_ELEMENT[s.dtype];
    const [data, flags] = await this.ctx.read([{ buffer: this.#buf(s), bytes }, { buffer: this.#flags, bytes: 4 }]);
    this.#checkFlags(new Uint32Array(flags!)[0]!);
    return s.dtype === 'f32' ? new Float32Array(data!) : new Int32Array(data!);
  }

  #checkFlags(code: number): void {
    if (code === 0) return;
    encodeFill(this.ctx, this.#flags, 1, 'i32', 0);
    throw new ShapeError(this.#flagMessages.get(code) ?? `webgpu: a kernel reported error code ${code}`);
  }

  free(s: Storage): void {
    const g = s as GpuStorage;
    if (!g.buffer) return;
    this.f16Copies.drop(g);
    this.transposedWeights.drop(g);
    this.#live -= g.size * BYTES_PER_ELEMENT[g.dtype];
    this.ctx.release(g.buffer);
    g.buffer = null;
  }

  fill(size: number, dtype: DType, value: number): Storage {
    const s = this.#alloc('fill', dtype, size);
    encodeFill(this.ctx, this.#buf(s), size, dtype as ElemType, value);
    return s;
  }

  cast(x: Storage, to: DType): Storage {
    const out = this.#alloc('cast', to, x.size);
    encodeCast(this.ctx, this.#buf(x), this.#buf(out), x.size, x.dtype as ElemType, to as ElemType);
    return out;
  }

  random(dist: 'uniform' | 'normal', size: number, dtype: DType, seed: number, offset: number): Storage {
    if (dtype !== 'f32') throw new DTypeError(`random: the webgpu backend draws f32 only, not ${dtype}`);
    const out = this.#alloc('random', dtype, size);
    encodeRandom(this.ctx, this.#buf(out), dist, size, seed, offset);
    return out;
  }

  // ---- elementwise ----

  unary(op: UnaryOp, x: Storage, a: number, b: number): Storage {
    const out = this.#alloc(op, x.dtype, x.size);
    encodeUnary(this.ctx, op, this.#buf(x), this.#buf(out), x.dtype as ElemType, x.size, a, b);
    return out;
  }

  #input(s: Storage, shape: Shape, outShape: Shape): { buffer: GPUBuffer; type: ElemType; strides: number[] } {
    return { buffer: this.#buf(s), type: s.dtype as ElemType, strides: broadcastStrides(shape, outShape) };
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const out = this.#alloc(op, a.dtype, sizeOf(outShape));
    encodeBinary(this.ctx, op, this.#input(a, aShape, outShape), this.#input(b, bShape, outShape), this.#buf(out), a.dtype as ElemType, outShape);
    return out;
  }

  where(c: Storage, cShape: Shape, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const out = this.#alloc('where', a.dtype, sizeOf(outShape));
    encodeWhere(
      this.ctx, this.#input(c, cShape, outShape), this.#input(a, aShape, outShape), this.#input(b, bShape, outShape),
      this.#buf(out), a.dtype as ElemType, outShape,
    );
    return out;
  }

  // ---- reductions ----

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = this.#alloc(op, x.dtype, sizeOf(outShape));
    encodeReduce(this.ctx, op, this.#buf(x), this.#buf(out), x.dtype as ElemType, shape, axes);
    return out;
  }

  // ---- matmul ----

  /**
   * Batched matmul. An operand whose batch dims equal the output's walks with stride M·K; one
   * with a single matrix uses stride 0; any other broadcast (e.g. [B,1] against [1,H]) is first
   * expanded to the full batch shape.
   */
  matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, transA: boolean, transB: boolean, outShape: Shape, bias: Storage | null = null): Storage {
    const { M, N, K, batchShape } = matmulDims(aShape, outShape, transA);
    const batch = sizeOf(batchShape);
    const out = this.#alloc('matmul', 'f32', sizeOf(outShape));
    const temps: Storage[] = [];
    const operand = (s: Storage, shape: Shape): { buf: GPUBuffer; stride: number } => {
      const mat = shape.slice(-2);
      const n = sizeOf(shape.slice(0, -2));
      const per = sizeOf(mat);
      if (n === batch) return { buf: this.#buf(s), stride: per };
      if (n === 1) return { buf: this.#buf(s), stride: 0 };
      const full = [...batchShape, ...mat];
      const e = this.expand(s, shape, full);
      temps.push(e);
      return { buf: this.#buf(e), stride: per };
    };
    const A = operand(a, aShape), B = operand(b, bShape);
    const p = { batch, M, N, K, transA, transB, strideA: A.stride, strideB: B.stride, precision: this.precision };
    // Mixed precision with a weight as B (a Linear's: seen transposed, the forward's form, or
    // already copied; not broadcast by expand): its f16 copy, read straight from memory.
    const direct = temps.length === 0 && (transB || this.f16Copies.has(b)) ? directVariant(this.ctx, p, out.size * 4) : null;
    if (direct) {
      const bh = this.f16Copies.get(b, B.buf, b.size);
      let ah = A.buf;
      if (direct.a16) {
        ah = this.ctx.scratch(f16Bytes(a.size));
        encodeToF16(this.ctx, A.buf, ah, a.size);
      }
      encodeMatmul(this.ctx, ah, bh, this.#buf(out), { ...p, variant: direct.variant }, bias ? this.#buf(bias) : null);
      return out;
    }
    // One weight matrix as B, seen transposed (x·Wᵀ), where the precision asks for it: its transposed copy, as NN.
    const copyT = transB && sizeOf(bShape.slice(0, -2)) === 1 && weightTransposeOn(this.precision);
    const bBuf = copyT ? this.transposedWeights.get(b, B.buf, N, K) : B.buf;
    encodeMatmul(this.ctx, A.buf, bBuf, this.#buf(out), copyT ? { ...p, transB: false } : p, bias ? this.#buf(bias) : null);
    for (const t of temps) this.free(t);
    return out;
  }

  // ---- data movement ----

  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage {
    const outShape = perm.map((p) => shape[p]!);
    const st = stridesOf(shape);
    const out = this.#alloc('permute', x.dtype, x.size);
    encodeGatherView(this.ctx, this.#buf(x), this.#buf(out), outShape, perm.map((p) => st[p]!), 0);
    return out;
  }

  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[], perm?: readonly number[]): Storage {
    const st = stridesOf(shape);
    const out = this.#alloc('slice', x.dtype, sizeOf(size));
    const p = perm ?? size.map((_, i) => i);
    encodeGatherView(this.ctx, this.#buf(x), this.#buf(out), p.map((a) => size[a]!), p.map((a) => st[a]!), begin.reduce((acc, b, i) => acc + b * st[i]!, 0));
    return out;
  }

  padSlice(x: Storage, shape: Shape, outShape: Shape, begin: readonly number[]): Storage {
    const out = this.#alloc('padSlice', x.dtype, sizeOf(outShape));
    encodeFill(this.ctx, this.#buf(out), out.size, x.dtype as ElemType, 0);
    encodeScatterBox(this.ctx, this.#buf(x), this.#buf(out), shape, outShape, begin);
    return out;
  }

  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number, perms?: readonly (readonly number[] | null)[]): Storage {
    const outShape = [...shapes[0]!];
    outShape[axis] = shapes.reduce((acc, s) => acc + s[axis]!, 0);
    const out = this.#alloc('concat', xs[0]!.dtype, sizeOf(outShape));
    const os = stridesOf(outShape);
    let at = 0;
    xs.forEach((s, k) => {
      // The part as stored (its axes permuted, or not), each element to the output's stride of its axis.
      const p = perms?.[k] ?? outShape.map((_, i) => i);
      const stored = p.map((a) => shapes[k]![a]!);
      encodeStridedCopy(this.ctx, this.#buf(s), this.#buf(out), stored, stridesOf(stored), 0, p.map((a) => os[a]!), at * os[axis]!);
      at += shapes[k]![axis]!;
    });
    return out;
  }

  expand(x: Storage, shape: Shape, outShape: Shape): Storage {
    const out = this.#alloc('expand', x.dtype, sizeOf(outShape));
    encodeGatherView(this.ctx, this.#buf(x), this.#buf(out), outShape, broadcastStrides(shape, outShape), 0);
    return out;
  }

  gather(table: Storage, tableShape: Shape, idx: Storage): Storage {
    const [V, D] = tableShape as [number, number];
    const out = this.#alloc('gather', table.dtype, idx.size * D);
    this.#flagMessages.set(FLAG_GATHER_OOB, `gather: an index is out of range for a table of ${V} rows`);
    encodeGather(this.ctx, this.#buf(table), this.#buf(idx), this.#buf(out), this.#flags, idx.size, V, D);
    return out;
  }

  scatterAdd(src: Storage, srcShape: Shape, idx: Storage, rows: number): Storage {
    const D = srcShape[1]!;
    const out = this.#alloc('scatterAdd', src.dtype, rows * D);
    this.#flagMessages.set(FLAG_SCATTER_OOB, `scatterAdd: an index is out of range for ${rows} rows`);
    encodeScatterAdd(this.ctx, this.#buf(src), this.#buf(idx), this.#buf(out), this.#flags, src.dtype as ElemType, idx.size, rows, D);
    return out;
  }

  // ---- fused nn ops ----

  softmax(x: Storage, shape: Shape, scale = 1): Storage {
    const D = shape.at(-1) ?? 1;
    const out = this.#alloc('softmax', x.dtype, x.size);
    encodeSoftmax(this.ctx, this.#buf(x), this.#buf(out), D === 0 ? 0 : x.size / D, D, scale);
    return out;
  }

  softmaxBwd(y: Storage, dy: Storage, shape: Shape, scale = 1): Storage {
    const D = shape.at(-1) ?? 1;
    const out = this.#alloc('softmaxBwd', y.dtype, y.size);
    encodeSoftmaxBwd(this.ctx, this.#buf(y), this.#buf(dy), this.#buf(out), D === 0 ? 0 : y.size / D, D, scale);
    return out;
  }

  layerNorm(x: Storage, shape: Shape, w: Storage | null, b: Storage | null, eps: number): LayerNormOut {
    const D = shape.at(-1) ?? 1;
    const rows = D === 0 ? 0 : x.size / D;
    const y = this.#alloc('layerNorm', x.dtype, x.size);
    const mean = this.#alloc('layerNorm', x.dtype, rows);
    const rstd = this.#alloc('layerNorm', x.dtype, rows);
    encodeLayerNorm(this.ctx, this.#buf(x), w && this.#buf(w), b && this.#buf(b), { y: this.#buf(y), mean: this.#buf(mean), rstd: this.#buf(rstd) }, rows, D, eps);
    return { y, mean, rstd };
  }

  layerNormBwd(dy: Storage, x: Storage, mean: Storage, rstd: Storage, w: Storage | null, shape: Shape, withBias: boolean): LayerNormGrads {
    const D = shape.at(-1) ?? 1;
    const rows = D === 0 ? 0 : x.size / D;
    const dx = this.#alloc('layerNormBwd', x.dtype, x.size);
    const dw = w ? this.#alloc('layerNormBwd', x.dtype, D) : null;
    const db = withBias ? this.#alloc('layerNormBwd', x.dtype, D) : null;
    encodeLayerNormBwd(
      this.ctx, this.#buf(dy), this.#buf(x), this.#buf(mean), this.#buf(rstd), w && this.#buf(w),
      { dx: this.#buf(dx), dw: dw && this.#buf(dw), db: db && this.#buf(db) }, rows, D,
    );
    return { dx, dw, db };
  }

  // ---- fused attention, norm + modulate, AdamW ----

  /**
   * Mixed precision runs attention on tensor cores where the device has them, and f32 where the x3
   * split is on for this shape (kernels/attention-sgmat.ts); else the f32 kernels.
   */
  #mixedAttention(d: AttentionDims): MixedOptions | null {
    return this.precision === 'mixed' ? mixedAttentionOptions(this.ctx) : x3AttentionOptions(this.ctx, d);
  }

  attention(q: Storage, k: Storage, v: Storage, d: AttentionDims): AttentionOut {
    const o = this.#alloc('attention', q.dtype, d.n * d.l * d.dv);
    const lse = this.#alloc('attention', q.dtype, d.n * d.l);
    const mixed = this.#mixedAttention(d);
    if (mixed) encodeAttentionMixed(this.ctx, this.#buf(q), this.#buf(k), this.#buf(v), this.#buf(o), this.#buf(lse), d, mixed);
    else encodeAttention(this.ctx, this.#buf(q), this.#buf(k), this.#buf(v), this.#buf(o), this.#buf(lse), d);
    return { o, lse };
  }

  attentionBwd(q: Storage, k: Storage, v: Storage, o: Storage, lse: Storage, dO: Storage, d: AttentionDims): AttentionGrads {
    // A packed q, k, v (one buffer, kernels/attention-layout.ts) gets one packed gradient buffer.
    const packed = d.layout?.packed ?? false;
    const dq = this.#alloc('attentionBwd', q.dtype, q.size);
    const dk = packed ? dq : this.#alloc('attentionBwd', q.dtype, k.size);
    const dv = packed ? dq : this.#alloc('attentionBwd', q.dtype, v.size);
    const bufs = [q, k, v, o, lse, dO].map((x) => this.#buf(x)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const out = { dq: this.#buf(dq), dk: this.#buf(dk), dv: this.#buf(dv) };
    const mixed = this.#mixedAttention(d);
    if (mixed) encodeAttentionBwdMixed(this.ctx, ...bufs, out, d, mixed);
    else encodeAttentionBwd(this.ctx, ...bufs, out, d);
    return { dq, dk, dv };
  }

  normModulate(x: Storage, shift: Storage, scale: Storage, d: NormModulateDims, eps: number): LayerNormOut {
    const y = this.#alloc('normModulate', x.dtype, x.size);
    const mean = this.#alloc('normModulate', x.dtype, d.N * d.L);
    const rstd = this.#alloc('normModulate', x.dtype, d.N * d.L);
    encodeNormModulate(this.ctx, this.#buf(x), this.#buf(shift), this.#buf(scale), { y: this.#buf(y), mean: this.#buf(mean), rstd: this.#buf(rstd) }, d, eps);
    return { y, mean, rstd };
  }

  normModulateBwd(dy: Storage, x: Storage, mean: Storage, rstd: Storage, scale: Storage, d: NormModulateDims): NormModulateGrads {
    const dx = this.#alloc('normModulateBwd', x.dtype, x.size);
    const dshift = this.#alloc('normModulateBwd', x.dtype, d.N * d.D);
    const dscale = this.#alloc('normModulateBwd', x.dtype, d.N * d.D);
    encodeNormModulateBwd(
      this.ctx, this.#buf(dy), this.#buf(x), this.#buf(mean), this.#buf(rstd), this.#buf(scale),
      { dx: this.#buf(dx), dshift: this.#buf(dshift), dscale: this.#buf(dscale) }, d,
    );
    return { dx, dshift, dscale };
  }

  gatedAdd(x: Storage, gate: Storage, y: Storage, d: NormModulateDims): Storage {
    const out = this.#alloc('gatedAdd', x.dtype, x.size);
    encodeGatedAdd(this.ctx, this.#buf(x), this.#buf(gate), this.#buf(y), this.#buf(out), d);
    return out;
  }

  gatedAddBwd(g: Storage, gate: Storage, y: Storage | null, d: NormModulateDims): GatedAddGrads {
    const dgate = y ? this.#alloc('gatedAddBwd', g.dtype, d.N * d.D) : null;
    const dy = this.#alloc('gatedAddBwd', g.dtype, g.size);
    encodeGatedAddBwd(this.ctx, this.#buf(g), this.#buf(gate), y ? this.#buf(y) : null, { dgate: dgate ? this.#buf(dgate) : null, dy: this.#buf(dy) }, d);
    return { dgate, dy };
  }

  adamw(params: readonly Storage[], grads: readonly Storage[], m: readonly Storage[], v: readonly Storage[], hp: AdamWHyper): void {
    for (const p of params) {
      // updated in place: their copies are stale
      this.f16Copies.drop(p);
      this.transposedWeights.drop(p);
    }
    const tensors = params.map((p, i) => ({ p: this.#buf(p), g: this.#buf(grads[i]!), m: this.#buf(m[i]!), v: this.#buf(v[i]!), size: p.size }));
    encodeAdamW(this.ctx, tensors, hp);
  }

  // ---- lifetime ----

  async sync(): Promise<void> {
    await this.ctx.sync();
  }

  /** peakBytes: the pool's peak of buffers in use (size classes, so ≥ the tensors' bytes). */
  memory(): { liveBytes: number; pooledBytes: number; peakBytes: number; budgetBytes: number } {
    return { liveBytes: this.#live, pooledBytes: this.ctx.pool.allocatedBytes, peakBytes: this.ctx.pool.peakInUseBytes, budgetBytes: this.ctx.pool.budgetBytes };
  }

  resetPeak(): void {
    this.ctx.pool.resetPeak();
  }

  async destroy(): Promise<void> {
    try {
      await this.ctx.sync();
    } catch {
      // tearing down anyway
    }
    this.ctx.destroy();
    // Drop the instance so Node can exit (a referenced create() object keeps it alive).
    this.#gpu = null;
  }
}

/** Open the Dawn device and return the backend (throws BackendError when there is no adapter). */
export async function openWebGpuBackend(): Promise<Backend> {
  const opened = await openDevice();
  const ctx = new WebGpuContext(opened.device, opened.features, memoryBudget(opened.description));
  return new WebGpuBackend(ctx, opened.description, opened.gpu);
}
