/**
 * The CPU backend's worker threads: the big kernels (matmul, attention) cut their output into
 * parts that the main thread and the workers compute side by side on shared memory.
 *
 * The CPU backend's ops are synchronous, so the main thread cannot await a worker. Instead a job
 * is written into a block of shared memory (see Ctl) that the workers sleep on with Atomics.wait:
 * whoever comes first claims the next part with compareExchange (the main thread takes parts
 * too), and the main thread waits for the done counter. A worker that is still starting, busy or
 * gone therefore never stalls a job: the main thread simply does the unclaimed parts itself. A
 * part's result does not depend on who computed it (the same loops over the same rows), so
 * results are bit-identical for any thread count.
 *
 * Threads: AVDIT_CPU_THREADS (1 = no workers; at most twice the cores), default os.availableParallelism().
 * Arrays travel to the workers as shared scratch copies (run).
 */
import { availableParallelism } from 'node:os';
import { isMainThread, MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { TypedArray } from '../dtype.ts';

export const KERNEL_NAMES = ['gemmABt', 'attentionFwd', 'attentionBwd', 'gelu', 'geluBwd', 'philox'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** The params each kernel takes, in the order they travel (as f64) in the job block. */
const PARAM_KEYS: Record<KernelName, readonly string[]> = {
  gemmABt: ['aOff', 'btOff', 'cOff', 'M', 'K', 'N'],
  attentionFwd: ['n', 'l', 's', 'dqk', 'dv', 'scale'],
  attentionBwd: ['n', 'l', 's', 'dqk', 'dv', 'scale'],
  gelu: [],
  geluBwd: [],
  philox: ['seed', 'offset', 'normal'],
};

/** One job as a part runner sees it: parts [i·per, min(total, (i+1)·per)) of `total` units. */
export interface Job {
  arrays: TypedArray[];
  params: Record<string, number>;
  total: number;
  per: number;
  parts: number;
}

export type PartRunner = (job: Pick<Job, 'arrays' | 'params'>, lo: number, hi: number) => void;

/**
 * The job block, shared by the main thread and every worker (no message per job: a postMessage
 * cost the main thread 12 µs against 5 µs for this, on an idle machine). Int32 words:
 *   SEQ    a sequence lock: odd while the main thread writes a job, even (and new) once it is there;
 *          workers sleep on it with Atomics.wait
 *   NEXT   (tag << 16) | the next unclaimed part; a part is claimed by compareExchange of the whole
 *          word, so a worker still looping over a finished job (another tag) can never claim a
 *          part of the next one
 *   DONE   parts finished (the main thread waits on it);  FAILED  1 once a part threw
 *   KERNEL index in KERNEL_NAMES;  NARR  arrays;  GEN  the scratch generation the arrays are in;
 *   ACTIVE  workers that take parts (those with a smaller index; setThreads can lower it)
 * and f64 words: total, per, parts, the arrays' lengths, then the kernel's params (PARAM_KEYS).
 */
export const enum Ctl { SEQ, NEXT, DONE, FAILED, KERNEL, NARR, GEN, ACTIVE, WORDS }
export const MAX_ARRAYS = 12;
const NUM_WORDS = 3 + MAX_ARRAYS + 8;
/** Parts per job must fit NEXT's low 16 bits. */
const MAX_PARTS = 0xfff0;

export interface JobBlock {
  ctl: Int32Array;
  num: Float64Array;
  /** UTF-8 error text of a failed part. */
  error: Uint8Array;
}

export function newJobBlock(): JobBlock {
  return {
    ctl: new Int32Array(new SharedArrayBuffer(4 * Ctl.WORDS)),
    num: new Float64Array(new SharedArrayBuffer(8 * NUM_WORDS)),
    error: new Uint8Array(new SharedArrayBuffer(1024)),
  };
}

const tagOf = (seq: number): number => (seq >>> 1) & 0x7fff;

/**
 * Claim and run parts of the job with sequence number `seq` until none is left (or another job
 * has replaced it); returns how many this thread ran.
 */
export function runParts(block: JobBlock, seq: number, job: Job, run: PartRunner): number {
  const { ctl } = block;
  const tag = tagOf(seq);
  let ran = 0;
  for (;;) {
    const v = Atomics.load(ctl, Ctl.NEXT);
    const p = v & 0xffff;
    if (v >>> 16 !== tag || p >= job.parts) return ran;
    if (Atomics.compareExchange(ctl, Ctl.NEXT, v, v + 1) !== v) continue;
    try {
      run(job, p * job.per, Math.min(job.total, (p + 1) * job.per));
    } catch (e) {
      if (Atomics.compareExchange(ctl, Ctl.FAILED, 0, 1) === 0) {
        block.error.set(new TextEncoder().encode(String((e as Error)?.stack ?? e)).subarray(0, block.error.length));
      }
    }
    ran++;
    Atomics.add(ctl, Ctl.DONE, 1);
    Atomics.notify(ctl, Ctl.DONE);
  }
}

/** Main thread: publish a job (the previous one has finished) and wake the workers. Returns its sequence number. */
function publish(block: JobBlock, kernel: KernelName, job: Job, gen: number): number {
  const { ctl, num } = block;
  const seq = Atomics.add(ctl, Ctl.SEQ, 1) + 1; // odd: writing
  Atomics.store(ctl, Ctl.NEXT, tagOf(seq + 1) << 16);
  Atomics.store(ctl, Ctl.DONE, 0);
  if (Atomics.load(ctl, Ctl.FAILED)) {
    block.error.fill(0);
    Atomics.store(ctl, Ctl.FAILED, 0);
  }
  ctl[Ctl.KERNEL] = KERNEL_NAMES.indexOf(kernel);
  ctl[Ctl.NARR] = job.arrays.length;
  ctl[Ctl.GEN] = gen;
  num[0] = job.total;
  num[1] = job.per;
  num[2] = job.parts;
  job.arrays.forEach((a, i) => (num[3 + i] = a.length));
  PARAM_KEYS[kernel].forEach((k, i) => (num[3 + MAX_ARRAYS + i] = job.params[k]!));
  Atomics.store(ctl, Ctl.SEQ, seq + 1); // even: ready
  Atomics.notify(ctl, Ctl.SEQ);
  return seq + 1;
}

/**
 * Worker: the job published under `seq` (even), read from the block, its arrays the first
 * lengths of `slots`; null if the block changed while it was read or the job needs scratch the
 * worker has not got yet (`gen` newer than `have`): then the main thread does its parts.
 */
export function readJob(block: JobBlock, seq: number, slots: readonly TypedArray[], have: number): { kernel: KernelName; job: Job } | null {
  const { ctl, num } = block;
  const kernel = KERNEL_NAMES[ctl[Ctl.KERNEL]!]!;
  const nArr = ctl[Ctl.NARR]!;
  const gen = ctl[Ctl.GEN]!;
  const job: Job = { arrays: [], params: {}, total: num[0]!, per: num[1]!, parts: num[2]! };
  for (let i = 0; i < nArr; i++) job.arrays.push(slots[i]?.subarray(0, num[3 + i]!) as TypedArray);
  (PARAM_KEYS[kernel] ?? []).forEach((k, i) => (job.params[k] = num[3 + MAX_ARRAYS + i]!));
  if (Atomics.load(ctl, Ctl.SEQ) !== seq || gen > have) return null;
  return { kernel, job };
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
  #workers: { worker: Worker; port: MessagePort }[] = [];

  get threads(): number {
    return this.#threads;
  }

  /** Change the thread count (tests, benchmarks). Workers already started stay; extra ones idle. */
  setThreads(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`CPU threads must be a positive integer, got ${n}`);
    this.#threads = n;
  }

  /** Start the threads − 1 workers (on first use); each gets the job block and today's scratch. */
  #start(): void {
    for (let i = this.#workers.length; i < this.#threads - 1; i++) {
      const { port1, port2 } = new MessageChannel();
      const data: WorkerData = { index: i, block, port: port2, gen: scratchGen, slots: [...slots] };
      const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: data, transferList: [port2] });
      w.unref();
      port1.unref();
      // A worker that dies only stops taking parts; the main thread does the rest.
      w.on('error', (e) => process.emitWarning(`avdit CPU worker ${i + 1} stopped: ${e.message}`));
      this.#workers.push({ worker: w, port: port1 });
    }
  }

  /** Tell every started worker about a new scratch array (it takes it when a job needs it). */
  announce(update: ScratchUpdate): void {
    for (const { port } of this.#workers) port.postMessage(update);
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
    const want = Math.min(this.threads * 2, Math.floor(total / Math.max(1, minPer)), MAX_PARTS);
    if (this.threads === 1 || want < 2) {
      local({ arrays, params }, 0, total);
      return;
    }
    if (arrays.length > MAX_ARRAYS) throw new Error(`CPU kernel ${kernel}: ${arrays.length} arrays, at most ${MAX_ARRAYS} travel to the workers`);
    const shared = arrays.map((a, i) => {
      const s = scratch(i, a);
      s.set(a as never);
      return s;
    });
    this.#start();
    const per = Math.ceil(total / want);
    const job: Job = { arrays: shared, params, total, per, parts: Math.ceil(total / per) };
    const { ctl } = block;
    ctl[Ctl.ACTIVE] = this.#threads - 1;
    const seq = publish(block, kernel, job, scratchGen);
    runParts(block, seq, job, local);
    for (let done = Atomics.load(ctl, Ctl.DONE); done < job.parts; done = Atomics.load(ctl, Ctl.DONE)) {
      Atomics.wait(ctl, Ctl.DONE, done, 1000);
    }
    if (Atomics.load(ctl, Ctl.FAILED)) {
      throw new Error(`CPU kernel ${kernel} failed in a thread part: ${new TextDecoder().decode(block.error.slice()).replace(/\0+$/, '')}`);
    }
    for (const i of outputs) arrays[i]!.set(shared[i] as never);
  }
}

/** What a worker is started with (engine/cpu/worker-loop.ts). */
export interface WorkerData {
  /** 0-based; the worker takes parts while index < the job block's ACTIVE. */
  index: number;
  block: JobBlock;
  /** Where ScratchUpdates arrive (read synchronously with receiveMessageOnPort). */
  port: MessagePort;
  gen: number;
  slots: TypedArray[];
}

/** A scratch slot replaced by a bigger (or differently typed) shared array: generation `gen`. */
export interface ScratchUpdate {
  gen: number;
  slot: number;
  array: TypedArray;
}

const block = newJobBlock();

/** Shared scratch per argument slot, grown to the largest array seen there. */
const slots: TypedArray[] = [];
let scratchGen = 0;

function scratch(slot: number, like: TypedArray): TypedArray {
  const cur = slots[slot];
  if (cur && cur.constructor === like.constructor && cur.length >= like.length) return cur.subarray(0, like.length);
  const Ctor = like.constructor as new (b: SharedArrayBuffer) => TypedArray;
  const fresh = new Ctor(new SharedArrayBuffer(like.byteLength));
  slots[slot] = fresh;
  pool.announce({ gen: ++scratchGen, slot, array: fresh });
  return fresh;
}

export const pool = new ThreadPool();
