/**
 * A size-class buffer pool. Sizes round up to the next of 2^k·{1, 1.25, 1.5, 1.75} bytes (at most
 * a quarter wasted, an eighth on average), so a training step that frees and re-makes tensors of the
 * same shapes reuses the same GPUBuffers and never destroys one mid-run (Dawn on the H200 dislikes
 * churn, DESIGN.md). (Classes of 2^k and 1.5·2^k, used before, rounded XL's common tensors, 1152 or
 * 4608 floats × 65536 tokens, up by a third.)
 *
 * A released buffer is not reusable at once: commands still recorded (not yet submitted) may read
 * it, while a `queue.writeBuffer` into a reused buffer would land before them. So releases wait in
 * `quarantine` until the batch is submitted (`afterSubmit`).
 */

import { BackendError } from '../errors.ts';

const MIN_CLASS = 256;

export class OutOfMemoryError extends BackendError {
  override name = 'OutOfMemoryError';
}

/** A capped class is rounded down to a multiple of this (like every class, a multiple of 64 bytes). */
const CLASS_ALIGN = 256;

/**
 * The largest buffer a tensor may get: the storage binding limit (bind groups bind a tensor's
 * whole buffer, size-class slack included) and the buffer size limit, rounded down to CLASS_ALIGN.
 * The backend refuses larger tensors (engine/webgpu/backend.ts `#alloc`).
 */
export function classCap(limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>): number {
  return Math.floor(Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / CLASS_ALIGN) * CLASS_ALIGN;
}

/**
 * NVIDIA's cap (binding limit 2 GiB − 4 under Vulkan, so 2 GiB − 256): the default of `sizeClass`,
 * so the memory-accounting backend (engine/meta/memory-backend.ts), which models the pool on the
 * GPU an XL run trains on, rounds as that pool does. (On lavapipe, 128 MiB is a class itself: the
 * cap changes nothing there.)
 */
export const NVIDIA_CLASS_CAP = 2 ** 31 - CLASS_ALIGN;

/**
 * The smallest size class ≥ bytes: a quarter-octave step above the power of two below it (multiples of 64 bytes).
 * A request of at most `cap` bytes never gets more than `cap` (classes between the two are cut to
 * `cap`): without that, a legal 1.8 GiB tensor on NVIDIA would get a 2 GiB buffer, 4 bytes over the
 * binding limit, and fail at its first bind group. Requests over `cap` (staging buffers, which
 * are never bound) keep their class.
 */
export function sizeClass(bytes: number, cap = NVIDIA_CLASS_CAP): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const half = 2 ** (Math.ceil(Math.log2(bytes)) - 1);
  const step = half / 4;
  const c = half + Math.ceil((bytes - half) / step) * step;
  return c > cap && bytes <= cap ? cap : c;
}

export class BufferPool {
  /**
   * Idle buffers per size class and usage, each list in descending creation order: acquire takes
   * the oldest. So the buffer a request gets depends only on which buffers are idle, not on the
   * order they were released in, and a step that repeats the previous one gets the same buffers
   * for the same tensors (the context's bind-group cache then hits every time).
   */
  readonly #free = new Map<string, GPUBuffer[]>();
  readonly #serial = new WeakMap<GPUBuffer, number>();
  #created = 0;
  #quarantine: { key: string; buf: GPUBuffer }[] = [];
  /** Bytes of every buffer this pool has created and not destroyed. */
  allocatedBytes = 0;
  /** Bytes sitting in free lists (allocated, not in use). */
  idleBytes = 0;
  /** The most bytes in use (allocated − idle) at once since the last resetPeak(). */
  peakInUseBytes = 0;
  /** Bytes of buffers handed out and not yet back in a free list (quarantined ones included). */
  get inUseBytes(): number {
    return this.allocatedBytes - this.idleBytes;
  }
  /** Bytes released and waiting for the next submit before they can be reused. */
  quarantinedBytes = 0;
  /** Called with each buffer just before the pool destroys it (the context drops its cached bind groups). */
  onDestroy: ((buf: GPUBuffer) => void) | null = null;

  /**
   * `budgetBytes`: how much device memory the pool may hold. Dawn reports running out only
   * asynchronously, so the pool keeps its own account: when a new buffer would pass the budget,
   * idle buffers of other sizes are destroyed first (largest first), and if that is not enough
   * the request fails at once with a message giving the figures.
   */
  constructor(private readonly device: GPUDevice, readonly budgetBytes = Infinity) {
    this.maxClassBytes = classCap(device.limits);
  }

  /** The largest buffer a tensor may get (classCap of the device's limits). */
  readonly maxClassBytes: number;

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = ''): GPUBuffer {
    const size = sizeClass(bytes, this.maxClassBytes);
    const list = this.#free.get(`${size}:${usage}`);
    const reused = list?.pop();
    if (reused) {
      this.idleBytes -= reused.size;
      this.#notePeak();
      return reused;
    }
    if (this.allocatedBytes + size > this.budgetBytes) this.trim(this.allocatedBytes + size - this.budgetBytes);
    if (this.allocatedBytes + size > this.budgetBytes) {
      const gib = (b: number) => (b / 2 ** 30).toFixed(2);
      throw new OutOfMemoryError(
        `out of GPU memory: ${gib(size)} GiB requested (${label || 'buffer'}) with ${gib(this.allocatedBytes - this.idleBytes)} GiB in use of a ${gib(this.budgetBytes)} GiB budget ` +
          '(set AVDIT_GPU_MEMORY_GB to change it; use a smaller batch or activation checkpointing)',
      );
    }
    this.allocatedBytes += size;
    const buf = this.device.createBuffer({ size, usage, label });
    this.#serial.set(buf, this.#created++);
    this.#notePeak();
    return buf;
  }

  #notePeak(): void {
    this.peakInUseBytes = Math.max(this.peakInUseBytes, this.allocatedBytes - this.idleBytes);
  }

  resetPeak(): void {
    this.peakInUseBytes = this.allocatedBytes - this.idleBytes;
  }

  /** Destroy idle buffers, largest first, until `bytes` are freed (or none is left). */
  trim(bytes = Infinity): number {
    const idle = [...this.#free.entries()].flatMap(([key, list]) => list.map((b) => ({ key, b }))).sort((x, y) => y.b.size - x.b.size);
    let freed = 0;
    for (const { key, b } of idle) {
      if (freed >= bytes) break;
      const list = this.#free.get(key)!;
      list.splice(list.indexOf(b), 1);
      this.onDestroy?.(b);
      b.destroy();
      freed += b.size;
    }
    this.allocatedBytes -= freed;
    this.idleBytes -= freed;
    return freed;
  }

  /** Give a buffer back; reusable after the next submit. */
  release(buf: GPUBuffer): void {
    this.#quarantine.push({ key: `${buf.size}:${buf.usage}`, buf });
    this.quarantinedBytes += buf.size;
  }

  /** The current batch was submitted: quarantined buffers may be reused now. */
  afterSubmit(): void {
    for (const { key, buf } of this.#quarantine) {
      let list = this.#free.get(key);
      if (!list) this.#free.set(key, (list = []));
      // Insert keeping descending serials (binary search; the oldest buffer stays last).
      const serial = this.#serial.get(buf) ?? -1;
      let lo = 0, hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((this.#serial.get(list[mid]!) ?? -1) > serial) lo = mid + 1;
        else hi = mid;
      }
      list.splice(lo, 0, buf);
      this.idleBytes += buf.size;
    }
    this.#quarantine = [];
    this.quarantinedBytes = 0;
  }

  /** Destroy every pooled buffer (at teardown). */
  destroyAll(): void {
    this.afterSubmit();
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.onDestroy?.(b);
        b.destroy();
      }
    }
    this.#free.clear();
    this.allocatedBytes = 0;
    this.idleBytes = 0;
  }
}
