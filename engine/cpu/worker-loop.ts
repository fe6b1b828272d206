/**
 * A CPU worker's loop (threads.ts): sleep on the job block's sequence word, take parts of each
 * new job, sleep again. Runs synchronously for the worker's whole life; new scratch arrays are
 * picked up from the port with receiveMessageOnPort when a job needs them.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { TypedArray } from '../dtype.ts';
import { KERNELS } from './parallel-kernels.ts';
import { Ctl, readJob, runParts, type ScratchUpdate, type WorkerData } from './threads.ts';

const { index, block, port, slots: start, gen: startGen } = workerData as WorkerData;
const slots: TypedArray[] = [...start];
let have = startGen;

/** Take every scratch update already posted. */
function catchUp(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const u = m.message as ScratchUpdate;
    slots[u.slot] = u.array;
    have = Math.max(have, u.gen);
  }
}

const { ctl } = block;
let last = Atomics.load(ctl, Ctl.SEQ);
for (;;) {
  const seq = Atomics.load(ctl, Ctl.SEQ);
  if (seq === last || seq & 1) {
    // Wake at least every second: a worker blocked for good would delay the process's exit.
    Atomics.wait(ctl, Ctl.SEQ, seq, 1000);
    continue;
  }
  last = seq;
  if (index >= Atomics.load(ctl, Ctl.ACTIVE)) continue;
  if (ctl[Ctl.GEN]! > have) catchUp();
  const got = readJob(block, seq, slots, have);
  if (got) runParts(block, seq, got.job, KERNELS[got.kernel]);
}
