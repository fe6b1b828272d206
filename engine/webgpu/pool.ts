/**
 * A size-class buffer pool. Sizes round up to the next of 2^k or 1.5·2^k bytes (at most a third
 * wasted), so a training step that frees and re-makes tensors of the same shapes reuses the same
 * GPUBuffers and never destroys one mid-run (Dawn on the H200 dislikes churn, DESIGN.md).
 *
 * A released buffer is not reusable at once: commands still recorded (not yet submitted) may read
 * it, while a `queue.writeBuffer` into a reused buffer would land before them. So releases wait in
 * `quarantine` until the batch is submitted (`afterSubmit`).
 */

const MIN_CLASS = 256;

/** The smallest size class ≥ bytes. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  const threeQuarters = (p / 4) * 3; // 1.5 · 2^(k−1)
  return bytes <= threeQuarters ? threeQuarters : p;
}

export class BufferPool {
  readonly #free = new Map<string, GPUBuffer[]>();
  #quarantine: { key: string; buf: GPUBuffer }[] = [];
  /** Bytes of every buffer this pool has created and not destroyed. */
  allocatedBytes = 0;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = ''): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(`${size}:${usage}`);
    const reused = list?.pop();
    if (reused) return reused;
    this.allocatedBytes += size;
    return this.device.createBuffer({ size, usage, label });
  }

  /** Give a buffer back; reusable after the next submit. */
  release(buf: GPUBuffer): void {
    this.#quarantine.push({ key: `${buf.size}:${buf.usage}`, buf });
  }

  /** The current batch was submitted: quarantined buffers may be reused now. */
  afterSubmit(): void {
    for (const { key, buf } of this.#quarantine) {
      let list = this.#free.get(key);
      if (!list) this.#free.set(key, (list = []));
      list.push(buf);
    }
    this.#quarantine = [];
  }

  /** Destroy every pooled buffer (at teardown). */
  destroyAll(): void {
    this.afterSubmit();
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
    this.allocatedBytes = 0;
  }
}
