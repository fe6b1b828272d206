/**
 * A minimal GpuContext for kernel tests and benchmarks (independent of engine/webgpu):
 * opens Dawn through the `webgpu` package with the toggles the mixed-precision kernels need,
 * requests every useful feature and the adapter's real limits, caches pipelines by key, records
 * dispatches into one command encoder (one compute pass per batch) and submits on demand.
 *
 *   const h = await GpuHarness.open();
 *   const a = h.upload(new Float32Array(...));
 *   encodeMatmul(h, a, b, out, {...});
 *   await h.checkErrors();              // compile / validation errors of what was recorded
 *   const r = await h.read(out);        // submits, then reads back through a staging buffer
 *   h.destroy();
 *
 * Errors: pipeline creation and every submit run inside validation / internal / out-of-memory
 * error scopes; `checkErrors()` awaits them and throws the first one, naming the kernel key.
 *
 * Timing: `time(fn)` records what `fn` dispatches into one compute pass between two timestamp
 * writes (when `timestamp-query` was granted) and returns GPU nanoseconds, else the wall time of
 * submit → onSubmittedWorkDone.
 */
import { dawnFlags, fixedSubgroupSize, pickSubgroupMatrix, type SubgroupMatrixConfig } from '../engine/webgpu/device.ts';
import { gentleWaits, waitGently } from '../engine/webgpu/gentle-wait.ts';
import { isSoftwareAdapter } from '../engine/webgpu/software-adapter.ts';
import { create, globals } from 'webgpu';
import { type Dispatch, type GpuContext, type GpuFeatures, wgslOf } from '../kernels/context.ts';

Object.assign(globalThis, globals);

export interface HarnessOptions {
  /** Extra Dawn flags for `create()`. */
  flags?: string[];
  /** Ask for the timestamp-query feature (default true). */
  timestamps?: boolean;
}

/** The backend's instance flags (engine/webgpu/device.ts), AVDIT_DAWN_ENABLE included. */
export const DEFAULT_FLAGS = dawnFlags();

export class GpuHarness implements GpuContext {
  readonly device: GPUDevice;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  readonly adapterInfo: GPUAdapterInfo;
  readonly timestamps: boolean;
  #gpu: GPU | null;
  #pipelines = new Map<string, GPUComputePipeline>();
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #uniforms = new Map<string, GPUBuffer>();
  #scratch: GPUBuffer[] = [];
  #pending: Promise<string | null>[] = [];
  #lastKey = '';
  /** Whether waits are gentle (gentle-wait.ts: software adapters unless AVDIT_GPU_WAIT says otherwise). */
  readonly #gentle: boolean;

  private constructor(gpu: GPU, device: GPUDevice, info: GPUAdapterInfo, features: GpuFeatures, timestamps: boolean) {
    this.#gentle = gentleWaits(features.software);
    this.#gpu = gpu;
    this.device = device;
    this.adapterInfo = info;
    this.features = features;
    this.limits = device.limits;
    this.timestamps = timestamps;
  }

  static async open(opts: HarnessOptions = {}): Promise<GpuHarness> {
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    const gpu = create([...DEFAULT_FLAGS, ...(opts.flags ?? [])]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no WebGPU adapter (is a Vulkan driver installed? lavapipe: mesa-vulkan-drivers)');
    const want: GPUFeatureName[] = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix' as GPUFeatureName];
    if (opts.timestamps !== false) want.push('timestamp-query');
    const requiredFeatures = want.filter((f) => adapter.features.has(f));
    // Every numeric limit the adapter offers (the defaults are small).
    const requiredLimits: Record<string, number> = {};
    for (const k in adapter.limits) {
      const v = (adapter.limits as unknown as Record<string, unknown>)[k];
      if (typeof v === 'number') requiredLimits[k] = v;
    }
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    const info = adapter.info;
    const has = (f: string) => device.features.has(f);
    const features: GpuFeatures = {
      f16: has('shader-f16'), subgroups: has('subgroups'), subgroupSize: fixedSubgroupSize(adapter, has('subgroups')),
      subgroupMatrix: pickSubgroupMatrix(adapter, has('chromium-experimental-subgroup-matrix')), timestamps: has('timestamp-query'),
      software: isSoftwareAdapter(`${info.vendor} ${info.description}`),
    };
    return new GpuHarness(gpu, device, info, features, has('timestamp-query'));
  }

  /** One line naming the adapter and what it offers. */
  describe(): string {
    const i = this.adapterInfo;
    const sm = this.features.subgroupMatrix;
    return `${i.vendor} ${i.architecture} ${i.device} ${i.description} | f16=${this.features.f16} subgroups=${this.features.subgroups} subgroupMatrix=${sm ? `${sm.M}x${sm.N}x${sm.K}` : 'none'} timestamps=${this.timestamps} smem=${this.limits.maxComputeWorkgroupStorageSize}`;
  }

  /** Subgroup-matrix configs the adapter lists (empty where there are none). */
  subgroupMatrixConfigs(): SubgroupMatrixConfig[] {
    return [...((this.adapterInfo as unknown as { subgroupMatrixConfigs?: SubgroupMatrixConfig[] }).subgroupMatrixConfigs ?? [])];
  }

  /** Await what dawn.node settles, gently on software adapters as the engine does (gentle-wait.ts; `time` keeps the busy loop). */
  #wait<T>(p: Promise<T>): Promise<T> {
    return this.#gentle ? waitGently(p) : p;
  }

  #scope<T>(fn: () => T): T {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('out-of-memory');
    const r = fn();
    const errs = [this.device.popErrorScope(), this.device.popErrorScope(), this.device.popErrorScope()];
    const label = this.#lastKey;
    this.#pending.push(Promise.all(errs).then((es) => {
      const e = es.find((x) => x !== null);
      return e ? `${label}: ${e.message}` : null;
    }));
    return r;
  }

  #pipeline(d: Dispatch): GPUComputePipeline {
    let p = this.#pipelines.get(d.key);
    if (!p) {
      this.#lastKey = d.key;
      p = this.#scope(() => {
        const module = this.device.createShaderModule({ code: wgslOf(d), label: d.key });
        return this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: d.key });
      });
      this.#pipelines.set(d.key, p);
    }
    return p;
  }

  #uniformBuffer(data: ArrayBuffer): GPUBuffer {
    const key = Buffer.from(data).toString('base64');
    let u = this.#uniforms.get(key);
    if (!u) {
      u = this.device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(u, 0, data);
      this.#uniforms.set(key, u);
    }
    return u;
  }

  #passEncoder(): GPUComputePassEncoder {
    if (!this.#pass) {
      this.#encoder ??= this.device.createCommandEncoder();
      this.#pass = this.#encoder.beginComputePass();
    }
    return this.#pass;
  }

  dispatch(d: Dispatch): void {
    const pipeline = this.#pipeline(d);
    this.#lastKey = d.key;
    const entries: GPUBindGroupEntry[] = d.buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    if (d.uniforms) entries.push({ binding: d.buffers.length, resource: { buffer: this.#uniformBuffer(d.uniforms) } });
    const bindGroup = this.#scope(() => this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    const pass = this.#passEncoder();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = d.workgroups;
    pass.dispatchWorkgroups(x, y, z);
  }

  scratch(bytes: number): GPUBuffer {
    const b = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    this.#scratch.push(b);
    return b;
  }

  /** Submit what has been recorded (no wait). */
  submit(): void {
    this.#pass?.end();
    this.#pass = null;
    if (this.#encoder) {
      const cb = this.#encoder.finish();
      this.#encoder = null;
      this.#scope(() => this.device.queue.submit([cb]));
    }
  }

  /** Submit and wait until the GPU is done. */
  async sync(): Promise<void> {
    this.submit();
    await this.#wait(this.device.queue.onSubmittedWorkDone());
    for (const b of this.#scratch) b.destroy();
    this.#scratch = [];
  }

  /** Await all error scopes opened so far; throw the first error found. */
  async checkErrors(): Promise<void> {
    const pending = this.#pending;
    this.#pending = [];
    const msgs = (await this.#wait(Promise.all(pending))).filter((m): m is string => m !== null);
    if (msgs.length) throw new Error(msgs[0]);
  }

  /** A storage buffer (STORAGE | COPY_SRC | COPY_DST), optionally filled. */
  buffer(bytes: number): GPUBuffer {
    return this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  }

  upload(data: Float32Array): GPUBuffer {
    const b = this.buffer(data.byteLength);
    this.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  }

  /** Submit pending work and read `count` f32 values (default: the whole buffer). */
  async read(buf: GPUBuffer, count?: number): Promise<Float32Array> {
    const bytes = count === undefined ? buf.size : count * 4;
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.submit();
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await this.#wait(staging.mapAsync(GPUMapMode.READ));
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    await this.checkErrors();
    return count === undefined ? out : out.subarray(0, count);
  }

  /**
   * GPU time in ns of everything `fn` dispatches (one compute pass with timestamps at its ends),
   * or wall time of submit → done when timestamps are unavailable. Waits for completion.
   */
  async time(fn: () => void): Promise<{ ns: number; source: 'timestamp' | 'wall' }> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    if (!this.timestamps) {
      fn();
      const t0 = process.hrtime.bigint();
      this.submit();
      await this.device.queue.onSubmittedWorkDone();
      return { ns: Number(process.hrtime.bigint() - t0), source: 'wall' };
    }
    const qs = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const staging = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.#encoder = this.device.createCommandEncoder();
    this.#pass = this.#encoder.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    fn();
    this.#pass.end();
    this.#pass = null;
    this.#encoder.resolveQuerySet(qs, 0, 2, resolve, 0);
    this.#encoder.copyBufferToBuffer(resolve, 0, staging, 0, 16);
    this.submit();
    await staging.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    resolve.destroy();
    qs.destroy();
    return { ns: Number(t[1]! - t[0]!), source: 'timestamp' };
  }

  /** Release everything (Node would not exit while the device lives). */
  destroy(): void {
    for (const u of this.#uniforms.values()) u.destroy();
    this.#uniforms.clear();
    for (const b of this.#scratch) b.destroy();
    this.#scratch = [];
    this.#pipelines.clear();
    this.device.destroy();
    this.#gpu = null;
  }
}

