/**
 * The memory-accounting backend: like the meta backend, storages have a size and no data, but
 * every op runs (making outputs of the right sizes, and the transient scratch the WebGPU kernels
 * take), and the backend keeps the bytes in use as the WebGPU buffer pool would count them
 * (each storage rounded up to its size class, engine/webgpu/pool.ts). So the peak memory of an XL
 * training step can be computed on any machine, in seconds, without a GPU: what changes to the
 * autograd or the model do to it is measured here before a GPU is at hand (bench/memory-xl.ts).
 * Reads return zeros: values mean nothing here.
 */
import type { AttentionDims, Backend, NormModulateDims, Storage } from '../backend.ts';
import { BYTES_PER_ELEMENT, allocArray, type DType, type TypedArray } from '../dtype.ts';
import { sizeClass } from '../webgpu/pool.ts';
import { directName, weightTransposeOn } from '../../kernels/matmul.ts';

class SizedStorage implements Storage {
  refs = 0;
  constructor(readonly backend: Backend, readonly dtype: DType, readonly size: number, readonly bytes: number) {}
}

const prod = (xs: readonly number[]): number => xs.reduce((p, d) => p * d, 1);

export interface MemoryBackend extends Backend {
  /** Storages made so far (for tests). */
  readonly allocations: number;
}

/**
 * The WebGPU context's quarantine (engine/webgpu/context.ts): a freed buffer stays in use until the
 * recorded work is submitted, every `batch` dispatches (modelled as one per output made) or once
 * `flushBytes` wait.
 */
export interface QuarantineModel {
  batch: number;
  flushBytes: number;
}

/**
 * A fresh memory-accounting backend; `roundUp` maps requested bytes to held bytes (default: the
 * pool's size classes); `quarantine` models buffers waiting for a submit (default: freed at once).
 */
export function createMemoryBackend(roundUp: (bytes: number) => number = sizeClass, quarantine?: QuarantineModel): MemoryBackend {
  let live = 0, peak = 0, allocations = 0;
  let waiting = 0, recorded = 0;
  const copies = new Map<Storage, number>(); // bytes of the weight copies held (weightCopy)
  const submit = (): void => {
    live -= waiting;
    waiting = 0;
    recorded = 0;
  };
  const b: MemoryBackend = {
    name: 'memory',
    device: 'shapes and byte counts only',
    get allocations() {
      return allocations;
    },
    supportsDtype: () => true,
    precision: 'f32',
    setPrecision(p) {
      this.precision = p;
    },
    fromArray: (data, dtype) => make(dtype, data.length),
    read: async (s) => {
      submit();
      return allocArray(s.dtype, s.size) as TypedArray;
    },
    free(s) {
      dropCopy(s);
      const bytes = (s as SizedStorage).bytes;
      if (!quarantine) {
        live -= bytes;
        return;
      }
      waiting += bytes;
      if (waiting >= quarantine.flushBytes) submit();
    },
    fill: (size, dtype) => make(dtype, size),
    cast: (x, to) => make(to, x.size),
    random: (_d, size, dtype) => make(dtype, size),
    unary: (_op, x) => make(x.dtype, x.size),
    binary: (_op, a, _as, _b, _bs, out) => make(a.dtype, prod(out)),
    where: (_c, _cs, a, _as, _b, _bs, out) => make(a.dtype, prod(out)),
    reduce: (_op, x, shape, axes) => make(x.dtype, prod(shape.filter((_, i) => !axes.includes(i)))),
    matmul(a, _as, w, ws, _ta, transB, out) {
      weightCopy(w, ws, transB);
      return make(a.dtype, prod(out));
    },
    permute: (x) => make(x.dtype, x.size),
    slice: (x, _s, _b, size) => make(x.dtype, prod(size)),
    padSlice: (x, _s, out) => make(x.dtype, prod(out)),
    concat: (xs) => make(xs[0]!.dtype, xs.reduce((n, x) => n + x.size, 0)),
    expand: (x, _s, out) => make(x.dtype, prod(out)),
    gather: (table, shape, idx) => make(table.dtype, idx.size * shape[shape.length - 1]!),
    scatterAdd: (src, shape, _idx, rows) => make(src.dtype, rows * shape[shape.length - 1]!),
    softmax: (x) => make(x.dtype, x.size),
    softmaxBwd: (y) => make(y.dtype, y.size),
    layerNorm(x, shape) {
      const rows = x.size / shape[shape.length - 1]!;
      return { y: make(x.dtype, x.size), mean: make(x.dtype, rows), rstd: make(x.dtype, rows) };
    },
    layerNormBwd(_dy, x, _m, _r, w, shape, withBias) {
      const D = shape[shape.length - 1]!;
      return { dx: make(x.dtype, x.size), dw: w ? make(x.dtype, D) : null, db: withBias ? make(x.dtype, D) : null };
    },
    attention: (q, _k, _v, d: AttentionDims) => ({ o: make(q.dtype, d.n * d.l * d.dv), lse: make(q.dtype, d.n * d.l) }),
    attentionBwd(q, k, v, _o, _lse, _dO, d: AttentionDims) {
      transient(q.dtype, d.n * d.l); // the row sums D (a scratch buffer on the GPU)
      if (d.layout?.packed) {
        const dqkv = make(q.dtype, q.size); // one gradient buffer for a packed q, k, v
        return { dq: dqkv, dk: dqkv, dv: dqkv };
      }
      return { dq: make(q.dtype, q.size), dk: make(k.dtype, k.size), dv: make(v.dtype, v.size) };
    },
    normModulate: (x, _sh, _sc, d: NormModulateDims) => ({ y: make(x.dtype, x.size), mean: make(x.dtype, d.N * d.L), rstd: make(x.dtype, d.N * d.L) }),
    normModulateBwd: (_dy, x, _m, _r, _sc, d: NormModulateDims) => ({ dx: make(x.dtype, x.size), dshift: make(x.dtype, d.N * d.D), dscale: make(x.dtype, d.N * d.D) }),
    gatedAdd: (x) => make(x.dtype, x.size),
    gatedAddBwd: (g, _gate, y, d: NormModulateDims) => ({ dgate: y ? make(g.dtype, d.N * d.D) : null, dy: make(g.dtype, g.size) }),
    adamw(params) {
      for (const p of params) dropCopy(p); // updated in place: their copies are stale
    },
    sync: async () => submit(),
    memory: () => ({ liveBytes: live, pooledBytes: live, peakBytes: peak }),
    resetPeak() {
      peak = live;
    },
    destroy: async () => {},
  };
  function make(dtype: DType, size: number): Storage {
    if (quarantine && ++recorded >= quarantine.batch) submit();
    const bytes = roundUp(size * BYTES_PER_ELEMENT[dtype]);
    live += bytes;
    peak = Math.max(peak, live);
    allocations++;
    return new SizedStorage(b, dtype, size, bytes);
  }
  /**
   * The copies of weights the WebGPU backend keeps (engine/webgpu/f16-cache.ts): in mixed
   * precision with a direct form named (AVDIT_MATMUL_DIRECT, MATMUL_DEFAULTS.direct), an f16 copy
   * of a single-matrix B seen transposed; else, where AVDIT_MATMUL_WEIGHT_T names the precision, a
   * transposed copy.
   * Each is held until its storage is freed or updated by AdamW.
   */
  function weightCopy(w: Storage, shape: readonly number[], transB: boolean): void {
    if (!transB || copies.has(w) || prod(shape.slice(0, -2)) !== 1) return;
    const copy = b.precision === 'mixed' && directName() ? 2 * w.size : weightTransposeOn(b.precision) ? 4 * w.size : 0;
    if (copy === 0) return;
    const bytes = roundUp(copy);
    copies.set(w, bytes);
    live += bytes;
    peak = Math.max(peak, live);
  }
  function dropCopy(s: Storage): void {
    const bytes = copies.get(s);
    if (bytes === undefined) return;
    copies.delete(s);
    live -= bytes;
  }
  function transient(dtype: DType, size: number): void {
    const bytes = roundUp(size * BYTES_PER_ELEMENT[dtype]);
    peak = Math.max(peak, live + bytes);
  }
  return b;
}
