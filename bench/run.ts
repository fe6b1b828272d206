/** `npm run bench`: the benchmarks that run on any machine (the CPU, and WebGPU where an adapter exists: lavapipe here). */
await import('./cpu-matmul.ts');
await import('./cpu-kernels.ts');
await import('./webgpu-matmul-small.ts');
