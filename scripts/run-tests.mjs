// Runs every test/**/*.test.ts with Node's test runner and tsx (Node 20 has no glob in --test).
// Usage: npm test [-- substring ...]   (only files whose path contains one of the substrings)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = walk('test').sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
process.env.XDG_RUNTIME_DIR ??= '/tmp';
// lavapipe: matmuls roll their inner loop, which compiles several times faster (kernels/loop-bound.ts).
process.env.AVDIT_ROLL_LOOPS ??= '1';
// lavapipe: 128-bit SIMD (4 lanes, subgroups of 4) instead of the CPU's 256: LLVM compiles each kernel
// in about half the time, and at test sizes the narrower vectors lose nothing (bench/RESULTS.md,
// seventeenth session: with an empty Mesa cache 12.3 → 7.6 min, warm 4.5 → 4.1). Mesa's shader cache
// does not key on it, so a cache filled at either width serves the other. No effect on GPUs.
process.env.LP_NATIVE_VECTOR_WIDTH ??= '128';
// Two test files at a time (AVDIT_TEST_CONCURRENCY to change): on 2 cores one file's lavapipe compiles
// or waits leave room for the other's work (bench/RESULTS.md, sixteenth session: warm 5:06 → 4:17–4:31, cold 18.5 → 14.5 min).
const concurrency = process.env.AVDIT_TEST_CONCURRENCY ?? '2';
if (!/^[1-9]\d*$/.test(concurrency)) {
  console.error(`AVDIT_TEST_CONCURRENCY must be a whole number ≥ 1, got "${concurrency}"`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
