/**
 * Copies of weight operands made once and reused by every product that reads the weight:
 *   - f16 copies, for mixed precision's matmul form that reads f16 straight from memory
 *     (kernels/matmul.ts directVariant): a frozen weight is converted once and then read as f16,
 *     forward and backward, instead of being rounded while staged each time;
 *   - transposed f32 copies (AVDIT_MATMUL_WEIGHT_T, kernels/matmul.ts weightTransposeOn): the
 *     forward's x·Wᵀ then runs as x·(Wᵀ), an NN product, which the f32 kernel stages without
 *     transposing B in workgroup memory.
 *
 * Validity: a storage's contents change only through the AdamW update (the backend's one in-place
 * write; `assign` swaps storages rather than writing them), so an entry lives until its storage is
 * updated or freed (`drop`). Trainable weights are therefore copied again after each step; frozen
 * ones, most of a model built on a frozen backbone, once.
 */
import type { Storage } from '../backend.ts';
import { encodeToF16, f16Bytes } from '../../kernels/cast-f16.ts';
import { encodeGatherView } from '../../kernels/movement.ts';
import type { WebGpuContext } from './context.ts';

/** Derived copies of storages, keyed by the storage and a tag saying how the copy was made. */
class CopyCache {
  readonly #copies = new Map<Storage, { tag: string; buf: GPUBuffer }>();

  constructor(protected readonly ctx: WebGpuContext) {}

  /** Entries held. */
  get size(): number {
    return this.#copies.size;
  }

  has(s: Storage): boolean {
    return this.#copies.has(s);
  }

  /** The copy of `s` tagged `tag`, made by `make` on first use (or when `s` was last copied another way). */
  protected copy(s: Storage, tag: string, make: () => GPUBuffer): GPUBuffer {
    const hit = this.#copies.get(s);
    if (hit?.tag === tag) return hit.buf;
    if (hit) this.drop(s);
    const buf = make();
    this.#copies.set(s, { tag, buf });
    return buf;
  }

  /** Forget `s`'s copy (it was updated or freed); the buffer goes back to the pool. */
  drop(s: Storage): void {
    const hit = this.#copies.get(s);
    if (!hit) return;
    this.#copies.delete(s);
    this.ctx.release(hit.buf);
  }
}

/** f16 copies of weights (mixed precision's direct matmul form). */
export class F16Cache extends CopyCache {
  /** The f16 copy of `s` (whose f32 data is in `buf`, `n` elements), made on first use. */
  get(s: Storage, buf: GPUBuffer, n: number): GPUBuffer {
    return this.copy(s, 'f16', () => {
      const copy = this.ctx.alloc(f16Bytes(n), 'f16-copy');
      encodeToF16(this.ctx, buf, copy, n);
      return copy;
    });
  }
}

/** Transposed f32 copies of weights: [rows, cols] → [cols, rows]. */
export class TransposedCache extends CopyCache {
  /** Wᵀ [cols, rows] of the row-major [rows, cols] matrix `s` (data in `buf`), made on first use. */
  get(s: Storage, buf: GPUBuffer, rows: number, cols: number): GPUBuffer {
    return this.copy(s, `${rows}x${cols}`, () => {
      const copy = this.ctx.alloc(rows * cols * 4, 'weight-transposed');
      // out[c][r] = in[r][c]: along out's rows step 1 in the input, along its columns step cols.
      encodeGatherView(this.ctx, buf, copy, [cols, rows], [1, cols], 0);
      return copy;
    });
  }
}
