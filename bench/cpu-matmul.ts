/**
 * CPU matmul, f32, same process:
 *  1. C = A·B at 256, 512 and 1024: the JS blocked kernel (transpose + gemmABtJs), the
 *     WebAssembly SIMD kernel (transpose + gemmABtWasm) and the textbook triple loop (tinybench,
 *     medians);
 *  2. gemmABt's two kernels on C += A·Btᵀ at squares 64 … 1024 and at the tiny AV-DiT's shapes
 *     (M×K×N), interleaved rounds (JS, WASM, JS, WASM, …), medians.
 * Writes bench/results/cpu-matmul.json.
 *
 *   node --import tsx bench/cpu-matmul.ts [--rounds R]
 */
import { Bench } from 'tinybench';
import { gemmABtJs, gemmNaive, transpose2d } from '../engine/cpu/matmul.ts';
import { gemmABtWasm } from '../engine/cpu/wasm/gemm.ts';
import { writeResult } from './results.ts';

const argv = process.argv.slice(2);
const rounds = Number(argv.includes('--rounds') ? argv[argv.indexOf('--rounds') + 1] : 9);
const fill = (n: number, p: number) => Float32Array.from({ length: n }, (_, i) => ((i * p) % 1000) / 1000 - 0.5);

const rows: { n: number; blockedGflops: number; wasmGflops: number; naiveGflops: number; ratio: number; wasmVsBlocked: number }[] = [];
for (const n of [256, 512, 1024]) {
  const a = fill(n * n, 7919), b = fill(n * n, 104729);
  const c = new Float32Array(n * n), bt = new Float32Array(n * n);
  const bench = new Bench({ time: n >= 1024 ? 2000 : 1000, iterations: 2, warmupIterations: 1 });
  bench.add('blocked', () => { c.fill(0); transpose2d(b, 0, bt, 0, n, n); gemmABtJs(a, 0, bt, 0, c, 0, n, n, n); });
  bench.add('wasm', () => { c.fill(0); transpose2d(b, 0, bt, 0, n, n); gemmABtWasm(a, 0, bt, 0, c, 0, n, n, n); });
  bench.add('naive', () => gemmNaive(a, b, c, n, n, n));
  await bench.run();
  const median = (name: string) => {
    const r = bench.tasks.find((t) => t.name === name)!.result as unknown as { latency: { p50: number } };
    return r.latency.p50; // ms
  };
  const flops = 2 * n ** 3;
  const blocked = flops / (median('blocked') * 1e6);
  const wasm = flops / (median('wasm') * 1e6);
  const naive = flops / (median('naive') * 1e6);
  rows.push({ n, blockedGflops: blocked, wasmGflops: wasm, naiveGflops: naive, ratio: blocked / naive, wasmVsBlocked: wasm / blocked });
  console.log(`matmul f32 ${n}³  blocked ${blocked.toFixed(2)} GFLOP/s  wasm ${wasm.toFixed(2)} GFLOP/s  naive ${naive.toFixed(2)} GFLOP/s  blocked/naive ${(blocked / naive).toFixed(1)}×  wasm/blocked ${(wasm / blocked).toFixed(1)}×`);
}

const SHAPES: [number, number, number][] = [
  [64, 64, 64], [128, 128, 128], [256, 256, 256], [512, 512, 512], [1024, 1024, 1024],
  // the tiny AV-DiT's (M×K×N)
  [1280, 64, 192], [1280, 64, 256], [1280, 256, 64], [160, 64, 192], [64, 64, 64], [32, 64, 192],
];
const med = (xs: number[]) => xs.slice().sort((x, y) => x - y)[xs.length >> 1]!;
const shapes: { M: number; K: number; N: number; jsGflops: number; wasmGflops: number; ratio: number }[] = [];
for (const [M, K, N] of SHAPES) {
  const A = fill(M * K, 7919), Bt = fill(N * K, 104729), C = new Float32Array(M * N);
  // Enough repetitions that one timing of the JS kernel takes ~20 ms.
  const reps = Math.max(1, Math.round(20e6 / (M * N * K * 0.25)));
  const time = (f: typeof gemmABtJs) => {
    const s = performance.now();
    for (let r = 0; r < reps; r++) f(A, 0, Bt, 0, C, 0, M, K, N);
    return (performance.now() - s) / reps;
  };
  const wasm = (...args: Parameters<typeof gemmABtJs>) => void gemmABtWasm(...(args as Parameters<typeof gemmABtWasm>));
  time(gemmABtJs);
  time(wasm); // warm-up (and the JIT tiers)
  const tj: number[] = [], tw: number[] = [];
  for (let r = 0; r < rounds; r++) {
    tj.push(time(gemmABtJs));
    tw.push(time(wasm));
  }
  const flops = 2 * M * N * K;
  const js = flops / (med(tj) * 1e6), w = flops / (med(tw) * 1e6);
  shapes.push({ M, K, N, jsGflops: js, wasmGflops: w, ratio: w / js });
  console.log(`gemmABt ${M}×${K}×${N}`.padEnd(26) + `JS ${js.toFixed(2).padStart(6)} GFLOP/s  WASM ${w.toFixed(2).padStart(6)} GFLOP/s  ${(w / js).toFixed(1)}×`);
}
writeResult('cpu-matmul', { unit: 'GFLOP/s (median)', rows, gemmABt: { rounds, shapes } });
