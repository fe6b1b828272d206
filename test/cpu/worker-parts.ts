/**
 * Shared by the thread tests: run a matmul job split into `parts` (C += A·Btᵀ, 4-row blocks)
 * until the worker has taken at least one part (it starts in the background, loading its kernels
 * takes a moment: up to ~10 s), calling `check(C)` after every try. Returns the parts it took.
 */
import { KERNELS } from '../../engine/cpu/parallel-kernels.ts';
import { pool, type PartRunner } from '../../engine/cpu/threads.ts';

export async function runUntilWorkerTakesPart(
  A: Float32Array, Bt: Float32Array, M: number, K: number, N: number, parts: number, check: (C: Float32Array) => void = () => {},
): Promise<number> {
  let workerTook = 0;
  for (let attempt = 0; attempt < 100 && workerTook === 0; attempt++) {
    let mainRan = 0;
    const local: PartRunner = (m, lo, hi) => {
      mainRan++;
      KERNELS.gemmABt(m, lo, hi);
    };
    const C = new Float32Array(M * N);
    pool.run('gemmABt', [A, Bt, C], { aOff: 0, btOff: 0, cOff: 0, M, K, N }, M / 4, M / 4 / parts, local, [2]);
    check(C);
    workerTook = parts - mainRan;
    if (workerTook === 0) await new Promise((r) => setTimeout(r, 100));
  }
  return workerTook;
}
