/** `npm run bench`: the benchmarks that run on any machine (CPU here; lavapipe where present). */
await import('./cpu-matmul.ts');
