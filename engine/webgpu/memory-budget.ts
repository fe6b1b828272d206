/**
 * How much device memory the buffer pool may hold. WebGPU does not report a GPU's memory size,
 * so: AVDIT_GPU_MEMORY_GB if set; on NVIDIA, 92% of what nvidia-smi reports; on a software
 * adapter (lavapipe, whose "device memory" is the host's), half of the host's RAM; else no limit.
 */
import { spawnSync } from 'node:child_process';
import { totalmem } from 'node:os';
import { isSoftwareAdapter } from './software-adapter.ts';

export function memoryBudget(description: string): number {
  const env = Number(process.env.AVDIT_GPU_MEMORY_GB);
  if (Number.isFinite(env) && env > 0) return env * 2 ** 30;
  if (/nvidia/i.test(description)) {
    const r = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
    const mib = Number(r.stdout?.split('\n')[0]);
    if (r.status === 0 && mib > 0) return 0.92 * mib * 2 ** 20;
  }
  if (isSoftwareAdapter(description)) return 0.5 * totalmem();
  return Infinity;
}
