/**
 * The GpuContext kernels record into. Dispatches are kept as plain records and encoded into one
 * command encoder / compute pass when the batch is submitted (every BATCH dispatches, or before a
 * read). At submit time the batch's uniforms are packed into the context's uniform ring at aligned
 * offsets and written once (queue order makes reuse safe: the write lands after the previous
 * batch ran); each dispatch's bind group comes from a cache (bind-groups.ts) and takes its uniform
 * offset dynamically.
 *
 * Errors: pipeline creation runs inside an error scope, so a WGSL compile error becomes a
 * BackendError naming the kernel key; uncaptured errors and device loss are kept and thrown at
 * the next dispatch or read. Pipelines, layouts and bind groups are labelled with the kernel key,
 * so when Dawn's message names one of them (`[BindGroup "key"]`, `[ComputePipeline "key"]`) the
 * error names that kernel (`kernelNamedIn`); otherwise it says which batch was being submitted
 * (Dawn reports encoding and submit errors synchronously, inside `flush`), or, for a device loss,
 * which batch was submitted last: with 64 dispatches a batch, the last one recorded is seldom the
 * culprit.
 */
import { type Dispatch, fold1d, type GpuContext, type GpuFeatures, wgslOf } from '../../kernels/context.ts';
import { entry, GROUP_INDEX_WGSL, WG } from '../../kernels/grid.ts';
import { BackendError } from '../errors.ts';
import { BindGroupCache, layoutEntries } from './bind-groups.ts';
import { gentleWaits, waitGently } from './gentle-wait.ts';
import { BufferPool } from './pool.ts';
import { poisonWorkgroupMemory } from './poison-wgsl.ts';
import { KernelProfiler, type KernelTime } from './profiler.ts';
import { STAGING_USAGE, STORAGE_USAGE, UNIFORM_USAGE } from './usage.ts';

/** Kinds of Dawn objects that carry a kernel key as their label. */
const KERNEL_OBJECT = /\[(?:Invalid )?(?:ComputePipeline|BindGroup|BindGroupLayout|PipelineLayout|ShaderModule) "([^"]+)"\]/;

/** The kernel key a Dawn error message names through one of our labels, or null (buffers' labels are op names, not kernels). */
export function kernelNamedIn(message: string): string | null {
  return KERNEL_OBJECT.exec(message)?.[1] ?? null;
}

/** Dispatches per submit. */
export const BATCH = 64;
/** Released bytes waiting for a submit that make `release` submit at once (the default of quarantineFlushBytes). */
export const QUARANTINE_FLUSH_BYTES = 256 * 2 ** 20;

/** What poison mode fills buffers with: a NaN as f32, 2 142 935 981 as i32 (any index is out of range). */
export const POISON_WORD = 0x7fbadbad;
const POISON_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> b: array<u32>;
struct U { words: u32 }
@group(0) @binding(1) var<uniform> u: U;
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi < u.words) { b[gi] = ${POISON_WORD}u; }
}`;

interface Recorded {
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  buffers: readonly GPUBuffer[];
  uniforms: ArrayBuffer | undefined;
  workgroups: readonly [number, number?, number?];
}

export class WebGpuContext implements GpuContext {
  readonly pool: BufferPool;
  readonly #pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  #recorded: Recorded[] = [];
  /**
   * Scratch buffers of the batch being recorded, and of the one submitted before it. A kernel's
   * dispatches may straddle a submit (a batch fills up between the row-dot and the dQ pass of the
   * attention backward), so a scratch buffer is released one submit late: released at the submit
   * that cut its op in two, it could be handed to an upload whose queue write lands before the rest
   * of that op runs.
   */
  #scratch: GPUBuffer[] = [];
  #scratchSubmitted: GPUBuffer[] = [];
  /** Error-scope results of pipelines created since the last check. */
  #compileChecks: Promise<void>[] = [];
  #error: Error | null = null;
  #compileFailed = false;
  #lost = false;
  #destroyed = false;
  /** The last kernel recorded, to name it in errors outside a submit. */
  #lastKey = '';
  /** Kernel keys of the batch being encoded and submitted (set only inside `flush`). */
  #submitting: readonly string[] | null = null;
  /** The last kernel of the last batch submitted, to place a device loss. */
  #lastSubmittedKey = '';
  #profiler: KernelProfiler | null = null;
  readonly bindGroups: BindGroupCache;
  /** Uniforms of the batch being encoded (the ring: one buffer, rewritten each submit). */
  #ring: GPUBuffer | null = null;
  /** Released bytes waiting for a submit that make `release` submit at once (256 MiB). */
  quarantineFlushBytes = QUARANTINE_FLUSH_BYTES;
  /**
   * Debug mode (`AVDIT_POISON=1`): every buffer a tensor or a kernel's scratch gets is first filled
   * with a NaN pattern (POISON_WORD) over its whole size, the size-class slack included, and every
   * kernel fills its workgroup arrays likewise before it starts (poison-wgsl.ts). A kernel that
   * reads an element nothing wrote (an output assumed to start at zero, a partial sum not cleared,
   * workgroup memory before its first write) or reads past its tensor inside the buffer then yields
   * NaN, or an index far out of range, instead of the zeros that happen to be there. The fills are
   * not counted in `dispatches`. `poison` covers buffers, `poisonWorkgroups` kernels (dear on
   * lavapipe, where it multiplies some kernels' time: the test suite poisons buffers throughout and
   * workgroups in test/webgpu/poison.test.ts); AVDIT_POISON=1 sets both.
   */
  poison = process.env['AVDIT_POISON'] === '1';
  poisonWorkgroups = process.env['AVDIT_POISON'] === '1';
  /**
   * AVDIT_COMPILE_LOG=1: print each kernel's first-dispatch time (#logCompile). Each new kernel is
   * then submitted alone, so errors surface at its dispatch rather than at the batch's submit (tests
   * of batching turn it off).
   */
  compileLog = !!process.env['AVDIT_COMPILE_LOG'];
  /** Whether waits for the GPU slow dawn.node's event loop after a moment (gentle-wait.ts): on software adapters. */
  readonly gentle: boolean;
  /** Dispatches recorded and queue submissions made since the device opened (for benchmarks). */
  dispatches = 0;
  submits = 0;

  constructor(
    readonly device: GPUDevice,
    readonly features: GpuFeatures,
    memoryBudgetBytes = Infinity,
  ) {
    this.gentle = gentleWaits(features.software);
    this.pool = new BufferPool(device, memoryBudgetBytes);
    this.bindGroups = new BindGroupCache(device);
    this.pool.onDestroy = (b) => this.bindGroups.forget(b);
    device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      // Fallout of a kernel that failed to compile (already reported with its compiler message).
      if (this.#compileFailed && /invalid due to a previous error/.test(msg)) return;
      this.#error ??= new BackendError(`webgpu: device error ${this.#where(msg)}: ${msg}`);
    });
    void device.lost.then((info) => {
      this.#lost = true;
      if (!this.#destroyed) {
        const named = kernelNamedIn(info.message);
        const where = named
          ? `in kernel "${named}"`
          : this.#lastSubmittedKey
            ? `(Dawn's message names no kernel; the last batch submitted ended with kernel "${this.#lastSubmittedKey}")`
            : '(before any work was submitted)';
        this.#error ??= new BackendError(`webgpu: device lost (${info.reason}) ${where}: ${info.message}`);
      }
    });
  }

  /** Where an uncaptured error arose, for its message: the kernel Dawn names, else the batch being submitted. */
  #where(msg: string): string {
    const named = kernelNamedIn(msg);
    if (named) return `in kernel "${named}"`;
    const batch = this.#submitting;
    if (!batch) return `outside a submit (last kernel recorded: "${this.#lastKey || 'none'}")`;
    if (batch.length === 0) return `in a read-back copy (Dawn's message names no kernel; the last batch submitted ended with "${this.#lastSubmittedKey || 'none'}")`;
    return `in the batch of ${batch.length} dispatches ending with kernel "${batch[batch.length - 1]}" (Dawn's message names no kernel)`;
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** Throw the first error seen (once), or if the device is gone. */
  throwIfFailed(): void {
    const e = this.#error;
    if (e) {
      this.#error = null;
      throw e;
    }
    if (this.#destroyed) throw new BackendError('webgpu: the backend was destroyed');
    if (this.#lost) throw new BackendError('webgpu: the device was lost');
  }

  /** Poison mode compiles its own copy of each kernel, its workgroup arrays filled with poison first. */
  #cacheKey(kernelKey: string): string {
    return this.poisonWorkgroups ? `${kernelKey}#poison` : kernelKey;
  }

  #pipeline(kernelKey: string, source: Dispatch['code']): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const key = this.#cacheKey(kernelKey);
    let p = this.#pipelines.get(key);
    if (p) return p;
    const code = this.poisonWorkgroups ? poisonWorkgroupMemory(wgslOf({ code: source })) : wgslOf({ code: source });
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: key });
    const layout = this.device.createBindGroupLayout({ entries: layoutEntries(code), label: key });
    const pipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: key });
    const pipeline = this.device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint: 'main' }, label: key });
    p = { pipeline, layout };
    this.#pipelines.set(key, p);
    this.#compileChecks.push(
      this.device.popErrorScope().then((err) => {
        if (!err) return;
        this.#pipelines.delete(key);
        this.#compileFailed = true;
        // Takes precedence over the "invalid due to a previous error" reports it causes downstream.
        this.#error = new BackendError(`webgpu: kernel "${key}" failed to compile: ${err.message}`);
      }),
    );
    return p;
  }

  dispatch(d: Dispatch): void {
    this.throwIfFailed();
    const [x, y = 1, z = 1] = d.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new BackendError(`webgpu: kernel "${d.key}" asks for ${x}×${y}×${z} workgroups; the limit is ${max} per dimension`);
    }
    const fresh = this.compileLog && !this.#pipelines.has(this.#cacheKey(d.key));
    if (fresh) this.flush(); // (AVDIT_COMPILE_LOG: the new kernel is submitted alone, see #logCompile)
    const { pipeline, layout } = this.#pipeline(d.key, d.code);
    this.#lastKey = d.key;
    this.#recorded.push({ key: d.key, pipeline, layout, buffers: d.buffers, uniforms: d.uniforms, workgroups: d.workgroups });
    this.dispatches++;
    if (fresh) this.#logCompile(d.key);
    else if (this.#recorded.length >= BATCH) this.flush();
  }

  /**
   * AVDIT_COMPILE_LOG=1: a kernel's first dispatch, submitted alone, timed from when the GPU has
   * finished the work before it to when it has run, printed as `[compile] MS KEY` on stderr. On
   * lavapipe that is LLVM compiling it (done at the first dispatch, not at pipeline creation)
   * unless Mesa's shader cache has it, plus one run at test sizes: what makes a cold test run slow.
   */
  #logCompile(key: string): void {
    let ready = performance.now();
    void this.device.queue.onSubmittedWorkDone().then(() => (ready = performance.now()));
    this.flush();
    void this.device.queue.onSubmittedWorkDone().then(() => {
      process.stderr.write(`[compile] ${(performance.now() - ready).toFixed(0)} ms ${key}\n`);
    });
  }

  scratch(bytes: number): GPUBuffer {
    const b = this.pool.acquire(bytes, STORAGE_USAGE(), 'scratch');
    this.#scratch.push(b);
    if (this.poison) this.#poisonRecorded(b);
    return b;
  }

  /**
   * Give a tensor's buffer back to the pool. Released buffers wait for the next submit before
   * reuse (commands recorded before may still read them), so when large ones pile up (a block's
   * activations freed in the backward) the recorded work is submitted at once: otherwise the next
   * allocations make new buffers while gigabytes sit in quarantine.
   */
  release(buf: GPUBuffer): void {
    this.pool.release(buf);
    if (this.pool.quarantinedBytes >= this.quarantineFlushBytes) this.flush();
  }

  /**
   * A pooled storage buffer (for tensors). `upload`: its contents will come from a queue write
   * (which lands before recorded work), so in poison mode it is poisoned by a queue write too.
   */
  alloc(bytes: number, label: string, upload = false): GPUBuffer {
    const b = this.pool.acquire(bytes, STORAGE_USAGE(), label);
    if (this.poison) {
      if (upload) this.device.queue.writeBuffer(b, 0, new Uint32Array(b.size / 4).fill(POISON_WORD));
      else this.#poisonRecorded(b);
    }
    return b;
  }

  /** Record a fill of the whole buffer with POISON_WORD (before whatever is recorded next). */
  #poisonRecorded(buf: GPUBuffer): void {
    const words = buf.size / 4;
    const { pipeline, layout } = this.#pipeline('debug/poison', POISON_WGSL);
    const workgroups = fold1d(Math.ceil(words / WG), this.limits.maxComputeWorkgroupsPerDimension);
    this.#recorded.push({ key: 'debug/poison', pipeline, layout, buffers: [buf], uniforms: new Uint32Array([words]).buffer, workgroups });
    if (this.#recorded.length >= BATCH) this.flush();
  }

  /** Encode and submit what was recorded, plus `extra` commands after it. */
  flush(extra?: (enc: GPUCommandEncoder) => void): void {
    if (this.#recorded.length === 0 && !extra) {
      // Nothing pending reads the quarantined buffers (everything recorded was submitted), so
      // they may be reused (and trimmed) now.
      this.pool.afterSubmit();
      return;
    }
    const keys = this.#recorded.map((r) => r.key);
    // Dawn reports validation errors of encoding and submitting synchronously: #where names this batch.
    this.#submitting = keys;
    let afterSubmit: (() => void) | undefined;
    try {
      const enc = this.device.createCommandEncoder();
      afterSubmit = this.#recorded.length > 0 ? this.#encode(enc) : undefined;
      extra?.(enc);
      this.device.queue.submit([enc.finish()]);
    } finally {
      this.#submitting = null;
    }
    if (keys.length > 0) this.#lastSubmittedKey = keys[keys.length - 1]!;
    afterSubmit?.();
    this.submits++;
    for (const b of this.#scratchSubmitted) this.pool.release(b);
    this.#scratchSubmitted = this.#scratch;
    this.#scratch = [];
    this.pool.afterSubmit();
  }

  /**
   * Per-kernel GPU times from now until `stopProfile` (every dispatch in its own timestamped pass:
   * engine/webgpu/profiler.ts). Needs the timestamp-query feature.
   */
  startProfile(): void {
    if (!this.features.timestamps) throw new BackendError('webgpu: this device has no timestamp-query feature, so kernels cannot be profiled');
    this.flush();
    this.#profiler = new KernelProfiler(this.device);
  }

  /** Waits for the GPU and returns the GPU time per kernel key since `startProfile`, largest first. */
  async stopProfile(): Promise<KernelTime[]> {
    const p = this.#profiler;
    if (!p) throw new BackendError('webgpu: stopProfile without startProfile');
    await this.sync();
    this.#profiler = null;
    return p.results();
  }

  /** Encode the recorded dispatches; returns what to run once they are submitted (the profiler's read-back). */
  #encode(enc: GPUCommandEncoder): (() => void) | undefined {
    const align = this.limits.minUniformBufferOffsetAlignment;
    const offsets: number[] = [];
    let total = 0;
    for (const r of this.#recorded) {
      offsets.push(total);
      if (r.uniforms) total += Math.ceil(r.uniforms.byteLength / align) * align;
    }
    if (total > 0) {
      if (!this.#ring || this.#ring.size < total) {
        if (this.#ring) {
          this.bindGroups.forget(this.#ring);
          this.#ring.destroy();
        }
        this.#ring = this.device.createBuffer({ size: Math.max(total, BATCH * align), usage: UNIFORM_USAGE(), label: 'uniforms' });
      }
      const packed = new Uint8Array(total);
      this.#recorded.forEach((r, i) => r.uniforms && packed.set(new Uint8Array(r.uniforms), offsets[i]!));
      this.device.queue.writeBuffer(this.#ring, 0, packed);
    }
    const ring = this.#ring;
    const record = (pass: GPUComputePassEncoder, i: number): void => {
      const r = this.#recorded[i]!;
      const uniform = r.uniforms && ring ? { buffer: ring, size: r.uniforms.byteLength } : null;
      pass.setPipeline(r.pipeline);
      pass.setBindGroup(0, this.bindGroups.get(r.layout, r.buffers, uniform, r.key), uniform ? [offsets[i]!] : []);
      const [x, y = 1, z = 1] = r.workgroups;
      pass.dispatchWorkgroups(x, y, z);
    };
    let afterSubmit: (() => void) | undefined;
    if (this.#profiler) {
      afterSubmit = this.#profiler.encode(enc, this.#recorded.map((r) => r.key), record);
    } else {
      const pass = enc.beginComputePass();
      for (let i = 0; i < this.#recorded.length; i++) record(pass, i);
      pass.end();
    }
    this.#recorded = [];
    return afterSubmit;
  }

  /** Submit everything and wait until the GPU is idle; throws errors seen on the way. */
  async sync(): Promise<void> {
    this.flush();
    await this.#wait(this.device.queue.onSubmittedWorkDone());
    await this.#checkCompiles();
    this.throwIfFailed();
  }

  async #checkCompiles(): Promise<void> {
    const checks = this.#compileChecks;
    if (checks.length === 0) return;
    this.#compileChecks = [];
    await this.#wait(Promise.all(checks));
  }

  /** Await a promise dawn.node settles, gently where this context does (gentle-wait.ts). */
  #wait<T>(p: Promise<T>): Promise<T> {
    return this.gentle ? waitGently(p) : p;
  }

  /** Copy `bytes` from the start of each buffer to host memory (one staging copy, one map). */
  async read(buffers: readonly { buffer: GPUBuffer; bytes: number }[]): Promise<ArrayBuffer[]> {
    this.throwIfFailed();
    const offsets: number[] = [];
    let total = 0;
    for (const b of buffers) {
      offsets.push(total);
      total += Math.ceil(b.bytes / 4) * 4;
    }
    const staging = this.pool.acquire(Math.max(4, total), STAGING_USAGE(), 'staging');
    this.flush((enc) => buffers.forEach((b, i) => b.bytes > 0 && enc.copyBufferToBuffer(b.buffer, 0, staging, offsets[i]!, Math.ceil(b.bytes / 4) * 4)));
    await this.#checkCompiles();
    try {
      await this.#wait(staging.mapAsync(GPUMapMode.READ, 0, Math.max(4, total)));
    } catch (e) {
      this.throwIfFailed();
      throw new BackendError(`webgpu: reading back failed: ${(e as Error).message}`);
    }
    const mapped = staging.getMappedRange(0, Math.max(4, total));
    const out = buffers.map((b, i) => mapped.slice(offsets[i]!, offsets[i]! + b.bytes));
    staging.unmap();
    this.pool.release(staging);
    this.throwIfFailed();
    return out;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#recorded = [];
    this.#destroyed = true;
    this.pool.destroyAll();
    this.device.destroy();
  }
}
