/**
 * The WebGPU backend's matmul at 256, 512 and 1024 (f32) next to the CPU backend's, in the same
 * run: on this machine that is lavapipe (Mesa's CPU Vulkan driver) against TypeScript loops.
 * Wall time around the op and a read-back, median of 5 after a warm-up.
 * Writes bench/results/webgpu-matmul-small.json.
 */
import * as raw from '../engine/ops.ts';
import type { Backend } from '../engine/backend.ts';
import { cpuBackend } from '../engine/cpu/backend.ts';
import { rand } from '../engine/creation.ts';
import { closeBackends, useBackend } from '../engine/registry.ts';
import { Generator } from '../engine/rng.ts';
import { scopeAsync } from '../engine/scope.ts';
import { writeResult } from './results.ts';

async function gflops(backend: Backend, n: number): Promise<number> {
  const g = new Generator(1);
  const a = rand([n, n], { backend, generator: g }).keep(), b = rand([n, n], { backend, generator: g }).keep();
  const once = () => scopeAsync(async () => void (await raw.matmul(a, b).toArray()));
  await once();
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    await once();
    ts.push((performance.now() - s) / 1000);
  }
  a.dispose();
  b.dispose();
  return (2 * n ** 3) / ts.sort((x, y) => x - y)[2]! / 1e9;
}

const gpu = await useBackend('webgpu').catch(() => null);
const rows: { n: number; cpu: number; webgpu: number | null }[] = [];
for (const n of [256, 512, 1024]) {
  const row = { n, cpu: await gflops(cpuBackend, n), webgpu: gpu ? await gflops(gpu, n) : null };
  rows.push(row);
  console.log(`matmul f32 ${n}³  cpu ${row.cpu.toFixed(2)} GFLOP/s  webgpu (${gpu?.device ?? 'none'}) ${row.webgpu?.toFixed(2) ?? '-'} GFLOP/s`);
}
writeResult('webgpu-matmul-small', { unit: 'GFLOP/s (median of 5, includes read-back)', device: gpu?.device ?? null, rows });
await closeBackends();
