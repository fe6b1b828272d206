/**
 * CPU matmul: the blocked kernel against the textbook triple loop, f32, at 256, 512 and 1024
 * (tinybench, medians), same process. Writes bench/results/cpu-matmul.json.
 */
import { Bench } from 'tinybench';
import { gemmBlocked, gemmNaive } from '../engine/cpu/matmul.ts';
import { writeResult } from './results.ts';

const rows: { n: number; blockedGflops: number; naiveGflops: number; ratio: number }[] = [];
for (const n of [256, 512, 1024]) {
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const c = new Float32Array(n * n);
  const bench = new Bench({ time: n >= 1024 ? 2000 : 1000, iterations: 2, warmupIterations: 1 });
  bench.add('blocked', () => { c.fill(0); gemmBlocked(a, 0, b, 0, c, 0, n, n, n); });
  bench.add('naive', () => gemmNaive(a, b, c, n, n, n));
  await bench.run();
  const median = (name: string) => {
    const r = bench.tasks.find((t) => t.name === name)!.result as unknown as { latency: { p50: number } };
    return r.latency.p50; // ms
  };
  const flops = 2 * n ** 3;
  const blocked = flops / (median('blocked') * 1e6);
  const naive = flops / (median('naive') * 1e6);
  rows.push({ n, blockedGflops: blocked, naiveGflops: naive, ratio: blocked / naive });
  console.log(`matmul f32 ${n}³  blocked ${blocked.toFixed(2)} GFLOP/s  naive ${naive.toFixed(2)} GFLOP/s  ratio ${(blocked / naive).toFixed(1)}×`);
}
writeResult('cpu-matmul', { unit: 'GFLOP/s (median)', rows });
