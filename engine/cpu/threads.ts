/**
 * The CPU backend's worker threads: the big kernels (matmul, attention) cut their output into
 * parts that the main thread and the workers compute side by side on shared memory.
 *
 * The CPU backend's ops are synchronous, so the main thread cannot await a worker. Instead each
 * job carries a small shared control block: every part has a claim flag that whoever takes the
 * part first sets with compareExchange (the main thread takes parts too), and a done counter the
 * main thread waits on with Atomics.wait. A worker that is still starting, busy or gone therefore
 * never stalls a job: the main thread simply does the unclaimed parts itself. A part's result
 * does not depend on who computed it (the same loops over the same rows), so results are
 * bit-identical for any thread count.
 *
 * Threads: AVDIT_CPU_THREADS (1 = no workers; at most twice the cores), default os.availableParallelism().
 * Arrays travel to the workers as shared scratch copies (run).
 */
import { availableParallelism } from 'node:os';
import { isMainThread, Worker } from 'node:worker_threads';
import type { TypedArray } from '../dtype.ts';

export type KernelName = 'gemmABt' | 'attentionFwd' | 'attentionBwd' | 'gelu' | 'geluBwd' | 'philox';

/** One job as a worker receives it: parts [i·per, min(total, (i+1)·per)) of `total` units. */
export interface JobMessage {
  kernel: KernelName;
  arrays: TypedArray[];
  params: Record<string, number>;
  total: number;
  per: number;
  parts: number;
  /** Int32 [done, failed, claim_0 … claim_{parts−1}] */
  control: Int32Array;
  /** UTF-8 error text of a failed part (shared, 1 KiB). */
  error: Uint8Array;
}

export type PartRunner = (msg: Pick<JobMessage, 'arrays' | 'params'>, lo: number, hi: number) => void;

const DONE = 0, FAILED = 1, CLAIMS = 2;

/** Claim and run parts until none is left; returns how many this thread ran. */
export function runParts(msg: JobMessage, run: PartRunner): number {
  const { control, parts, per, total } = msg;
  let ran = 0;
  for (let p = 0; p < parts; p++) {
    if (Atomics.compareExchange(control, CLAIMS + p, 0, 1) !== 0) continue;
    try {
      run(msg, p * per, Math.min(total, (p + 1) * per));
    } catch (e) {
      if (Atomics.compareExchange(control, FAILED, 0, 1) === 0) {
        msg.error.set(new TextEncoder().encode(String((e as Error)?.stack ?? e)).subarray(0, msg.error.length));
      }
    }
    ran++;
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
  }
  return ran;
}

/**
 * The thread count for AVDIT_CPU_THREADS=`env` on `cores` cores: unset or empty → `cores`; not a
 * positive integer → `cores`, with a warning; more than 2 × `cores` → that, with a warning
 * (oversubscribed threads only wait on each other: 64 on 2 cores ran 15× slower).
 */
export function threadCount(env: string | undefined, cores: number, warn: (msg: string) => void): number {
  cores = Math.max(1, cores);
  if (env === undefined || env.trim() === '') return cores;
  const n = Number(env);
  if (!(Number.isInteger(n) && n >= 1)) {
    warn(`AVDIT_CPU_THREADS=${env} is not a positive integer; using ${cores} threads (the core count)`);
    return cores;
  }
  if (n > 2 * cores) {
    warn(`AVDIT_CPU_THREADS=${env} is more than twice the ${cores} cores; using ${2 * cores} threads`);
    return 2 * cores;
  }
  return n;
}

class ThreadPool {
  // Workers import this module too: only the main thread reads the variable aloud.
  #threads = threadCount(process.env.AVDIT_CPU_THREADS, availableParallelism(), (m) => isMainThread && process.stderr.write(`warning: ${m}\n`));
  #workers: Worker[] = [];

  get threads(): number {
    return this.#threads;
  }

  /** Change the thread count (tests, benchmarks). Workers already started stay; extra ones idle. */
  setThreads(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`CPU threads must be a positive integer, got ${n}`);
    this.#threads = n;
  }

  /** The threads − 1 workers a job goes to, started on first use. */
  #start(): Worker[] {
    for (let i = this.#workers.length + 1; i < this.#threads; i++) {
      const w = new Worker(new URL('./worker.mjs', import.meta.url));
      w.unref();
      // A worker that dies only stops taking parts; the main thread does the rest.
      w.on('error', (e) => process.emitWarning(`avdit CPU worker ${i} stopped: ${e.message}`));
      this.#workers.push(w);
    }
    return this.#workers.slice(0, this.#threads - 1);
  }

  /**
   * Run `kernel` over `total` units (rows, heads) in parts of at least `minPer` units, the calling
   * thread included; `local` is the same kernel as a function for the calling thread. Arrays at
   * the indices in `outputs` receive the results.
   *
   * A split job runs on copies of its arrays in shared scratch memory (one growing buffer per
   * argument slot, reused by every job) and copies the outputs back: tensors themselves stay in
   * ordinary ArrayBuffers. (Allocating every tensor as a SharedArrayBuffer let gigabytes of dead
   * ones wait for a garbage collection that their size did not trigger.) The copies cost one pass
   * over the operands, against K multiply-adds per output of a matmul.
   */
  run(kernel: KernelName, arrays: TypedArray[], params: Record<string, number>, total: number, minPer: number, local: PartRunner, outputs: readonly number[]): void {
    const want = Math.min(this.threads * 2, Math.floor(total / Math.max(1, minPer)));
    if (this.threads === 1 || want < 2) {
      local({ arrays, params }, 0, total);
      return;
    }
    const shared = arrays.map((a, i) => {
      const s = scratch(i, a);
      s.set(a as never);
      return s;
    });
    const per = Math.ceil(total / want);
    const parts = Math.ceil(total / per);
    const msg: JobMessage = {
      kernel, arrays: shared, params, total, per, parts,
      control: new Int32Array(new SharedArrayBuffer(4 * (CLAIMS + parts))),
      error: new Uint8Array(new SharedArrayBuffer(1024)),
    };
    for (const w of this.#start()) w.postMessage(msg);
    runParts(msg, local);
    for (let done = Atomics.load(msg.control, DONE); done < parts; done = Atomics.load(msg.control, DONE)) {
      Atomics.wait(msg.control, DONE, done, 1000);
    }
    if (Atomics.load(msg.control, FAILED)) {
      throw new Error(`CPU kernel ${kernel} failed in a thread part: ${new TextDecoder().decode(msg.error.slice()).replace(/\0+$/, '')}`);
    }
    for (const i of outputs) arrays[i]!.set(shared[i] as never);
  }
}

/** Shared scratch per argument slot, grown to the largest array seen there. */
const slots: TypedArray[] = [];

function scratch(slot: number, like: TypedArray): TypedArray {
  const cur = slots[slot];
  if (cur && cur.constructor === like.constructor && cur.length >= like.length) return cur.subarray(0, like.length);
  const Ctor = like.constructor as new (b: SharedArrayBuffer) => TypedArray;
  const fresh = new Ctor(new SharedArrayBuffer(like.byteLength));
  slots[slot] = fresh;
  return fresh;
}

export const pool = new ThreadPool();
