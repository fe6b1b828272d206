/**
 * Fixed-count loops in generated WGSL, and lavapipe.
 *
 * On a GPU the driver's compiler unrolls a loop whose trip count is a constant, which is what the
 * register-blocked kernels want. lavapipe's LLVM unrolls them as well, and on the bigger kernels
 * that is most of a cold test run (an empty Mesa shader cache): the f32 attention dK/dV kernel at
 * head dim 72 took 24.6 s to compile with its 18-step dot-product loop unrolled and 2.0 s without
 * (2-core machine; same code, same results). So on a software adapter a kernel writes the count
 * as `(n | u.zero)`, `zero` being a uniform its launcher sets to 0: the same value, but nothing LLVM
 * can unroll on. A kernel using this declares `zero: u32` in its uniform struct `u`.
 */

/**
 * A loop's trip count `n` in WGSL: the constant, or (`opaque`: software adapters) `n | zero`, `zero`
 * a uniform the launcher sets to 0 (`u.zero` by default).
 */
export const tripCount = (n: number, opaque: boolean, zero = 'u.zero'): string => (opaque ? `(${n}u | ${zero})` : `${n}u`);

/** Pipeline-key part of a kernel built with opaque trip counts. */
export const tripCountKey = (opaque: boolean): string => (opaque ? '/sw' : '');

/**
 * Whether v2/v3 matmuls on a software adapter roll their inner product into such a loop
 * (kernels/matmul-tiled.ts `rolled`): AVDIT_ROLL_LOOPS=1, which `npm test` sets. Rolled, a
 * 64×128×16 kernel compiles in 0.8–2.5 s instead of 5.5–8.7 s but runs about 25% slower on
 * lavapipe (512³: 4.2 against 5.5 GFLOP/s), so benchmarks and lavapipe runs keep it unrolled.
 * (The attention kernels' opaque counts cost no run time there, so they are always on.)
 */
export const rollMatmulLoops = (): boolean => typeof process !== 'undefined' && process.env['AVDIT_ROLL_LOOPS'] === '1';
