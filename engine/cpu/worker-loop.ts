/** A CPU worker's loop: take parts of each job the main thread posts (threads.ts). */
import { parentPort } from 'node:worker_threads';
import { KERNELS } from './parallel-kernels.ts';
import { runParts, type JobMessage } from './threads.ts';

parentPort!.on('message', (msg: JobMessage) => runParts(msg, KERNELS[msg.kernel]));
