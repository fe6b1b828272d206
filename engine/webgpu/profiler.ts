/**
 * Per-kernel GPU time: while a profile is running, each recorded dispatch gets its own compute
 * pass with timestamp writes at its beginning and end (WebGPU `timestampWrites`), the batch's
 * query set is resolved and copied to a mappable buffer after the passes, and once the GPU is done
 * the differences are added up per kernel key. Keys name a kernel and its compile-time variant,
 * not its sizes, so a training step's profile says which kernels (matmul NN/NT/TN, attention
 * passes, reductions, …) its time goes to.
 *
 * A pass per dispatch costs some launch overhead (≈ 8 µs instead of 4 µs per dispatch on the
 * H200), so a profiled step is slower end to end; the per-kernel times are the GPU's own.
 * Needs the `timestamp-query` feature; Dawn quantizes timestamps unless the instance is created
 * with `disable-dawn-features=timestamp_quantization` (engine/webgpu/device.ts does).
 */

import { QUERY_USAGE, STAGING_USAGE } from './usage.ts';

export interface KernelTime {
  key: string;
  dispatches: number;
  ms: number;
}


/** One batch's query set and the buffers its timestamps pass through; reused, never churned. */
interface Slot {
  querySet: GPUQuerySet;
  resolved: GPUBuffer;
  readable: GPUBuffer;
  capacity: number;
}

export class KernelProfiler {
  readonly #totals = new Map<string, { dispatches: number; ns: number }>();
  readonly #pending: Promise<void>[] = [];
  /** Slots whose read-back finished (Dawn on the H200 dislikes creating and destroying objects per batch). */
  readonly #free: Slot[] = [];
  readonly #all: Slot[] = [];

  constructor(readonly device: GPUDevice) {}

  #slot(n: number): Slot {
    const i = this.#free.findIndex((s) => s.capacity >= n);
    if (i >= 0) return this.#free.splice(i, 1)[0]!;
    const capacity = Math.max(n, 64);
    const slot = {
      querySet: this.device.createQuerySet({ type: 'timestamp', count: 2 * capacity }),
      resolved: this.device.createBuffer({ size: 16 * capacity, usage: QUERY_USAGE() }),
      readable: this.device.createBuffer({ size: 16 * capacity, usage: STAGING_USAGE() }),
      capacity,
    };
    this.#all.push(slot);
    return slot;
  }

  /**
   * Encode `n` dispatches, pass by pass, with timestamps; `record(pass, i)` sets the pipeline,
   * bind group and workgroups of dispatch i. Returns what to call after the command buffer is
   * submitted (it maps the timestamps and adds them up when the GPU gets there).
   */
  encode(enc: GPUCommandEncoder, keys: readonly string[], record: (pass: GPUComputePassEncoder, i: number) => void): () => void {
    const n = keys.length;
    const slot = this.#slot(n);
    for (let i = 0; i < n; i++) {
      const pass = enc.beginComputePass({ timestampWrites: { querySet: slot.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      record(pass, i);
      pass.end();
    }
    enc.resolveQuerySet(slot.querySet, 0, 2 * n, slot.resolved, 0);
    enc.copyBufferToBuffer(slot.resolved, 0, slot.readable, 0, 16 * n);
    return () => {
      this.#pending.push(
        slot.readable.mapAsync(GPUMapMode.READ, 0, 16 * n).then(() => {
          const t = new BigInt64Array(slot.readable.getMappedRange(0, 16 * n));
          for (let i = 0; i < n; i++) {
            const ns = Number(t[2 * i + 1]! - t[2 * i]!);
            const e = this.#totals.get(keys[i]!) ?? { dispatches: 0, ns: 0 };
            e.dispatches++;
            // A reset or reordered counter gives a negative or absurd span: count the dispatch, not the time.
            if (ns > 0 && ns < 60e9) e.ns += ns;
            this.#totals.set(keys[i]!, e);
          }
          slot.readable.unmap();
          this.#free.push(slot);
        }),
      );
    };
  }

  /** Wait for every batch submitted so far, then the totals per key, largest first; the profiler's GPU objects are destroyed. */
  async results(): Promise<KernelTime[]> {
    await Promise.all(this.#pending.splice(0));
    for (const s of this.#all) {
      s.querySet.destroy();
      s.resolved.destroy();
      s.readable.destroy();
    }
    this.#all.length = 0;
    this.#free.length = 0;
    return [...this.#totals].map(([key, v]) => ({ key, dispatches: v.dispatches, ms: v.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
  }
}

/** A profile as text: one line per kernel key (ms, share, dispatches, µs per dispatch), then the total. */
export function formatProfile(times: readonly KernelTime[], top = 30): string {
  const total = times.reduce((s, t) => s + t.ms, 0);
  const lines = times.slice(0, top).map((t) =>
    `${t.ms.toFixed(2).padStart(10)} ms ${((100 * t.ms) / (total || 1)).toFixed(1).padStart(5)}%  ${String(t.dispatches).padStart(6)} × ${((1000 * t.ms) / t.dispatches).toFixed(1).padStart(8)} µs  ${t.key}`,
  );
  const rest = times.slice(top);
  if (rest.length) lines.push(`${rest.reduce((s, t) => s + t.ms, 0).toFixed(2).padStart(10)} ms in ${rest.length} more kernels`);
  lines.push(`${total.toFixed(2).padStart(10)} ms of GPU time in ${times.reduce((s, t) => s + t.dispatches, 0)} dispatches`);
  return lines.join('\n');
}
