/**
 * What a kernel launcher needs from the engine, and nothing more: kernels never import the
 * engine. The WebGPU backend (engine/webgpu) implements this; every launcher in kernels/ takes
 * a `GpuContext` and GPU buffers and encodes dispatches.
 */

/** What the adapter offers that kernels may specialise on. */
export interface GpuFeatures {
  /** `shader-f16` was granted (WGSL `enable f16;`). */
  f16: boolean;
  /** `subgroups` was granted. */
  subgroups: boolean;
  /**
   * The subgroup size when `subgroups` was granted and the adapter has one size only (min = max:
   * 32 on NVIDIA, 8 on lavapipe), so kernels may build it in as a constant; else null.
   */
  subgroupSize: number | null;
  /** `chromium-experimental-subgroup-matrix` with an f16×f16→f32 M×N×K config (tensor cores). */
  subgroupMatrix: { M: number; N: number; K: number } | null;
  /** `timestamp-query` was granted (per-kernel GPU times: engine/webgpu/profiler.ts). */
  timestamps: boolean;
  /**
   * The adapter runs on the CPU (lavapipe): the same WGSL, but tricks that buy a big GPU more
   * parallelism (matmul split-K) only cost it work.
   */
  software: boolean;
}

export interface Dispatch {
  /** Cache key of the pipeline: equal keys must mean equal WGSL (sizes go in uniforms, not keys). */
  key: string;
  /**
   * WGSL source, read only on a cache miss: a function is called only then (generating a kernel's
   * source costs several µs, a cached dispatch's whole recording about twenty).
   */
  code: string | (() => string);
  /** Storage buffers at @group(0) @binding(0..n-1), in order. */
  buffers: readonly GPUBuffer[];
  /**
   * Optional uniform data bound at @binding(n) (after the storage buffers). Build it with
   * `uniforms()` below so the layout matches the WGSL struct (u32/i32/f32, 4 bytes each).
   */
  uniforms?: ArrayBuffer;
  /** Workgroup counts. Each must be ≤ limits.maxComputeWorkgroupsPerDimension (fold larger grids). */
  workgroups: readonly [number, number?, number?];
}

/** The WGSL of a dispatch (calls its generator if it has one). */
export const wgslOf = (d: Pick<Dispatch, 'code'>): string => (typeof d.code === 'function' ? d.code() : d.code);

export interface GpuContext {
  readonly device: GPUDevice;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  /** Record one dispatch into the current batch (submitted later; nothing waits). */
  dispatch(d: Dispatch): void;
  /** A scratch storage buffer of at least `bytes`, valid until the batch is submitted. */
  scratch(bytes: number): GPUBuffer;
}

/** Pack numbers into a uniform buffer: each entry is [kind, value], 4 bytes, in WGSL struct order. */
export function uniforms(entries: readonly (readonly ['u32' | 'i32' | 'f32', number])[]): ArrayBuffer {
  // Uniform structs are sized to a multiple of 16 bytes.
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((entries.length * 4) / 16) * 16));
  const view = new DataView(buf);
  entries.forEach(([kind, v], i) => {
    if (kind === 'u32') view.setUint32(i * 4, v >>> 0, true);
    else if (kind === 'i32') view.setInt32(i * 4, v | 0, true);
    else view.setFloat32(i * 4, v, true);
  });
  return buf;
}

/**
 * Fold a 1-D count of workgroups into (x, y) with x ≤ maxPerDim, so grids beyond 65535 work;
 * the shader linearises with `wid.x + wid.y * nwg.x` (from @builtin(num_workgroups)) and skips the overshoot.
 */
export function fold1d(groups: number, maxPerDim = 65535): [number, number] {
  if (groups <= maxPerDim) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
