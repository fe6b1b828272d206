/**
 * Opening a Dawn device: pick the adapter (a hardware GPU first, else lavapipe), ask for its
 * real limits (the defaults are small) and the features kernels specialise on (f16, subgroups,
 * subgroup matrices), plus timestamp queries for the kernel profiler.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { create, globals } from 'webgpu';
import { isSoftwareAdapter } from './software-adapter.ts';
import type { GpuFeatures } from '../../kernels/context.ts';
import { BackendError } from '../errors.ts';

/**
 * Instance flags. On NVIDIA, shader-f16 and the f16 subgroup-matrix configs appear only with
 * these toggles (ANCHORS §9); elsewhere they change nothing.
 */
const DAWN_ENABLE = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];

/**
 * Safety nets for untrusted shaders that every kernel pays for, off by default as native Dawn
 * users do for their own shaders (Chrome's Skia Graphite, ONNX Runtime's WebGPU EP):
 * - `disable_robustness`: Tint clamps every array index it cannot prove in range, min(i, n − 1)
 *   for workgroup arrays and against arrayLength for storage buffers; in a matmul's inner loop that
 *   is an add and a min per workgroup-memory load that the driver can no longer fold into the
 *   load's address (seen in the SPIR-V, `dump_shaders`). Our kernels check their global
 *   reads and writes themselves and index workgroup memory within its size by construction.
 * - `disable_workgroup_init`: workgroup memory is zeroed at every workgroup's start (up to 48 KiB
 *   per matmul or attention workgroup); our kernels write what they read first.
 * AVDIT_ROBUSTNESS=1 keeps both (a kernel bug then reads clamped values instead of stray ones).
 */
const FAST_SHADERS = ['disable_robustness', 'disable_workgroup_init'];

/**
 * The instance flags, the fast-shader toggles unless `robust`, plus Dawn toggles named in
 * AVDIT_DAWN_ENABLE (comma-separated) for experiments. A name that cannot be a toggle is an error.
 */
export function dawnFlags(env: string | undefined = process.env.AVDIT_DAWN_ENABLE, robust = process.env.AVDIT_ROBUSTNESS === '1'): string[] {
  const extra = (env ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  const bad = extra.filter((t) => !/^[a-z0-9_]+$/.test(t));
  if (bad.length) throw new BackendError(`AVDIT_DAWN_ENABLE: ${bad.map((t) => JSON.stringify(t)).join(', ')} cannot be a Dawn toggle (names are lowercase letters, digits and _, comma-separated)`);
  const toggles = [...DAWN_ENABLE, ...(robust ? [] : FAST_SHADERS), ...extra];
  return [`enable-dawn-features=${[...new Set(toggles)].join(',')}`, 'disable-dawn-features=timestamp_quantization'];
}

/**
 * Toggles of `flags` that the loaded Dawn binary does not name. Dawn ignores a toggle it does not
 * know without a word, so a typo in AVDIT_DAWN_ENABLE would silently change nothing; every toggle
 * Dawn knows is a NUL-terminated string in its binary, which this looks for (null: no binary found).
 */
export function unknownToggles(flags: readonly string[], binary = dawnBinary()): string[] | null {
  if (!binary) return null;
  const names = flags.flatMap((f) => (/^(enable|disable)-dawn-features=/.test(f) ? f.slice(f.indexOf('=') + 1).split(',') : []));
  return names.filter((t) => t && !binary.includes(Buffer.from(`\0${t}\0`)));
}

function dawnBinary(): Buffer | null {
  try {
    const dir = dirname(createRequire(import.meta.url).resolve('webgpu'));
    const arch = process.platform === 'darwin' ? 'universal' : process.arch;
    return readFileSync(join(dir, 'dist', `${process.platform}-${arch}`, 'dawn.node'));
  } catch {
    return null;
  }
}

function warnUnknownToggles(flags: readonly string[]): void {
  if (!process.env.AVDIT_DAWN_ENABLE) return; // ours are known; read the binary only for experiments
  const unknown = unknownToggles(flags);
  if (unknown?.length) console.error(`warning: AVDIT_DAWN_ENABLE: this Dawn does not know ${unknown.join(', ')} (ignored by Dawn)`);
}

const WANTED_FEATURES = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix', 'timestamp-query'] as const;

export interface OpenedDevice {
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  features: GpuFeatures;
  /** "vendor: description (architecture)". */
  description: string;
}

/** Dawn's adapter info carries the subgroup-matrix configs when the feature is offered. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

function describe(a: GPUAdapter): string {
  const i = a.info;
  const arch = i.architecture ? ` (${i.architecture})` : '';
  return `${i.vendor || 'unknown vendor'}: ${i.description || 'unknown adapter'}${arch}`;
}

function isSoftware(a: GPUAdapter): boolean {
  return isSoftwareAdapter(`${a.info.vendor} ${a.info.description}`);
}

async function pickAdapter(gpu: GPU): Promise<GPUAdapter> {
  const seen: string[] = [];
  const tries: GPURequestAdapterOptions[] = [{ powerPreference: 'high-performance' }, {}, { forceFallbackAdapter: true }];
  let fallback: GPUAdapter | null = null;
  for (const opts of tries) {
    let a: GPUAdapter | null = null;
    try {
      a = await gpu.requestAdapter(opts);
    } catch (e) {
      seen.push(`requestAdapter(${JSON.stringify(opts)}) threw: ${(e as Error).message}`);
    }
    if (!a) {
      seen.push(`requestAdapter(${JSON.stringify(opts)}) gave no adapter`);
      continue;
    }
    if (!isSoftware(a)) return a;
    seen.push(`software adapter ${describe(a)}`);
    fallback ??= a;
  }
  if (fallback) return fallback;
  throw new BackendError(
    'webgpu: Dawn found no adapter. Install a Vulkan driver: an NVIDIA driver for a GPU, or for CPU-only machines ' +
      "Mesa's lavapipe (Debian 12: `apt-get install -t bookworm-backports mesa-vulkan-drivers`; Mesa 22 is too old for Dawn). " +
      `Also set XDG_RUNTIME_DIR if it is unset. Dawn saw: ${seen.join('; ')}`,
  );
}

/** Every numeric limit the adapter reports, to be requested as-is. */
function adapterLimits(a: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  const limits = a.limits as unknown as Record<string, unknown>;
  for (const k in limits) {
    const v = limits[k];
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}

export function pickSubgroupMatrix(a: GPUAdapter, granted: boolean): GpuFeatures['subgroupMatrix'] {
  if (!granted) return null;
  const configs = ((a.info as unknown as { subgroupMatrixConfigs?: SubgroupMatrixConfig[] }).subgroupMatrixConfigs ?? []);
  const c = configs.find((x) => x.componentType === 'f16' && x.resultComponentType === 'f32' && x.M === 16 && x.N === 16)
    ?? configs.find((x) => x.componentType === 'f16' && x.resultComponentType === 'f32');
  return c ? { M: c.M, N: c.N, K: c.K } : null;
}

/** The adapter's subgroup size if it has exactly one (a power of two dividing 256), else null. */
export function fixedSubgroupSize(a: GPUAdapter, granted: boolean): number | null {
  const info = a.info as unknown as { subgroupMinSize?: number; subgroupMaxSize?: number };
  const n = info.subgroupMinSize;
  return granted && n !== undefined && n === info.subgroupMaxSize && n >= 4 && n <= 128 && (n & (n - 1)) === 0 ? n : null;
}

export async function openDevice(): Promise<OpenedDevice> {
  // WebGPU's enums (GPUBufferUsage, GPUMapMode, ...) are globals in a browser; the package ships them.
  Object.assign(globalThis, globals);
  const flags = dawnFlags();
  warnUnknownToggles(flags);
  const gpu = create(flags);
  const adapter = await pickAdapter(gpu);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits: adapterLimits(adapter) });
  } catch (e) {
    throw new BackendError(`webgpu: requestDevice failed on ${describe(adapter)}: ${(e as Error).message}`);
  }
  const has = (f: string): boolean => device.features.has(f);
  return {
    gpu,
    adapter,
    device,
    description: describe(adapter),
    features: {
      f16: has('shader-f16'),
      subgroups: has('subgroups'),
      subgroupSize: fixedSubgroupSize(adapter, has('subgroups')),
      subgroupMatrix: pickSubgroupMatrix(adapter, has('chromium-experimental-subgroup-matrix')),
      timestamps: has('timestamp-query'),
      software: isSoftware(adapter),
    },
  };
}
