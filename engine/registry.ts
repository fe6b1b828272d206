/**
 * Which backend new tensors go to. `cpu` is always there; `webgpu` is created on request
 * (async: it opens a Dawn device). `auto` takes a hardware GPU, else cpu: a software Vulkan
 * adapter (Mesa's lavapipe) runs the same WGSL but, on the 2-core machines we measured, about
 * half as fast as the CPU backend (bench/RESULTS.md, "auto"), so only `webgpu` picks it.
 */
import type { Backend } from './backend.ts';
import { cpuBackend } from './cpu/backend.ts';
import { isSoftwareAdapter } from './webgpu/software-adapter.ts';

export type BackendName = 'cpu' | 'webgpu' | 'auto';

let current: Backend = cpuBackend;
const opened = new Map<string, Backend>([['cpu', cpuBackend]]);

/** The backend new tensors go to when no backend is given. */
export function getBackend(): Backend {
  return current;
}

/** Make `b` the backend new tensors go to. */
export function setBackend(b: Backend): void {
  current = b;
}

/** Open (once) and select a backend by name; returns it. `log` receives the one-line choice. */
export async function useBackend(name: BackendName, log: (msg: string) => void = () => {}): Promise<Backend> {
  if (name !== 'cpu' && name !== 'webgpu' && name !== 'auto') {
    throw new Error(`unknown backend "${name as string}" (expected cpu, webgpu or auto)`);
  }
  if (name === 'cpu') {
    current = cpuBackend;
    log(`backend: cpu (${cpuBackend.device})`);
    return current;
  }
  let gpu = opened.get('webgpu');
  if (!gpu) {
    try {
      const { openWebGpuBackend } = await import('./webgpu/backend.ts');
      gpu = await openWebGpuBackend();
      opened.set('webgpu', gpu);
    } catch (e) {
      if (name === 'webgpu') throw e;
      log(`backend: cpu (auto: no WebGPU adapter: ${(e as Error).message.split('\n')[0]})`);
      current = cpuBackend;
      return current;
    }
  }
  if (name === 'auto' && isSoftwareAdapter(gpu.device)) {
    log(`backend: cpu (auto: the only WebGPU adapter is a CPU driver, ${gpu.device}, slower than the CPU backend; --backend webgpu uses it anyway)`);
    current = cpuBackend;
    return current;
  }
  current = gpu;
  log(`backend: webgpu (${gpu.device})`);
  return current;
}

/** The backend named by AVDIT_BACKEND, or `fallback` if it is unset or empty; any other value throws. */
export function backendFromEnv(fallback: BackendName = 'cpu'): BackendName {
  const v = process.env.AVDIT_BACKEND;
  if (v === undefined || v === '') return fallback;
  if (v === 'cpu' || v === 'webgpu' || v === 'auto') return v;
  throw new Error(`AVDIT_BACKEND must be cpu, webgpu or auto, got "${v}"`);
}

/** Destroy every opened GPU device (lets Node exit cleanly). */
export async function closeBackends(): Promise<void> {
  for (const [name, b] of opened) {
    if (name !== 'cpu') await b.destroy();
    opened.delete(name);
  }
  current = cpuBackend;
  opened.set('cpu', cpuBackend);
}
