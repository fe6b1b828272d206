/**
 * f16 copies of weight operands, for mixed precision's matmul form that reads f16 straight from
 * memory (kernels/matmul.ts directVariant): a frozen weight is converted once and then read as f16
 * by every product that uses it, forward and backward, instead of being rounded while staged each
 * time.
 *
 * Validity: a storage's contents change only through the AdamW update (the backend's one in-place
 * write; `assign` swaps storages rather than writing them), so an entry lives until its storage is
 * updated or freed (`drop`). Trainable weights are therefore re-converted after each step; frozen
 * ones, most of a model built on a frozen backbone, once.
 */
import type { Storage } from '../backend.ts';
import { encodeToF16, f16Bytes } from '../../kernels/cast-f16.ts';
import type { WebGpuContext } from './context.ts';

export class F16Cache {
  readonly #copies = new Map<Storage, GPUBuffer>();

  constructor(private readonly ctx: WebGpuContext) {}

  /** Entries held. */
  get size(): number {
    return this.#copies.size;
  }

  has(s: Storage): boolean {
    return this.#copies.has(s);
  }

  /** The f16 copy of `s` (whose f32 data is in `buf`, `n` elements), made on first use. */
  get(s: Storage, buf: GPUBuffer, n: number): GPUBuffer {
    let copy = this.#copies.get(s);
    if (!copy) {
      copy = this.ctx.alloc(f16Bytes(n), 'f16-copy');
      encodeToF16(this.ctx, buf, copy, n);
      this.#copies.set(s, copy);
    }
    return copy;
  }

  /** Forget `s`'s copy (it was updated or freed); the buffer goes back to the pool. */
  drop(s: Storage): void {
    const copy = this.#copies.get(s);
    if (!copy) return;
    this.#copies.delete(s);
    this.ctx.release(copy);
  }
}
