/**
 * Waiting for the GPU without a busy loop.
 *
 * dawn.node settles its promises (mapAsync, onSubmittedWorkDone, popErrorScope) from a callback
 * that calls Dawn's ProcessEvents and, while any of them is pending, schedules itself again with
 * the global `setImmediate`: a busy loop on the main thread, about 80 000 turns a second, one whole
 * core for as long as the GPU works. On a GPU that is a core of the host idling hot. On lavapipe the
 * "GPU" is llvmpipe's threads on the same cores, and the loop takes one of them: on a 2-core
 * machine, five 1024³ matmuls took 2.0 s of wall time with it and 1.2 s with it slowed down (the
 * main thread's CPU time 1.3 s → 0.05 s; scratch measurement, 2026-11-27).
 *
 * `waitGently(p)` awaits p with `setImmediate` replaced for the duration: callbacks scheduled in the
 * first SPIN_MS of a wait run at once (a short wait answers as fast as before), later ones after a
 * 1 ms timer. Overlapping waits share one replacement (a count of waits in progress; the original
 * is put back when the last ends). Who else calls setImmediate meanwhile gets the same treatment:
 * callbacks delayed by at most a millisecond, never dropped or reordered among themselves, and
 * cancellable with clearImmediate as before.
 */

import { envChoice } from '../../kernels/env-table.ts';

/** How long a wait polls as before, in ms, before it slows to 1 ms timers. */
export const SPIN_MS = 2;

const native = globalThis.setImmediate;
let waiting = 0;
let spinUntil = 0;
let started = 0;

const slowed = ((fn: (...args: unknown[]) => void, ...args: unknown[]) =>
  performance.now() < spinUntil ? native(fn, ...args) : setTimeout(fn, 1, ...args)) as unknown as typeof setImmediate;

/**
 * A handle `slowed` gave out may be a timer. Node's clearImmediate would treat it as an immediate
 * (unlink it from the immediate queue, decrement that queue's counts for an entry it never had), so
 * from the first wait on, clearImmediate clears timers as timers; it stays installed, since a handle
 * can outlive the wait it came from.
 */
const nativeClear = globalThis.clearImmediate;
const clear = ((h: unknown) => {
  if (h !== null && typeof h === 'object' && 'refresh' in h) clearTimeout(h as ReturnType<typeof setTimeout>);
  else nativeClear(h as ReturnType<typeof setImmediate>);
}) as typeof clearImmediate;

/** `p`, awaited with the GPU-event loop slowed after SPIN_MS (see the file comment). */
export async function waitGently<T>(p: Promise<T>): Promise<T> {
  started++;
  spinUntil = Math.max(spinUntil, performance.now() + SPIN_MS);
  if (waiting++ === 0) {
    globalThis.setImmediate = slowed;
    globalThis.clearImmediate = clear;
  }
  try {
    return await p;
  } finally {
    if (--waiting === 0) globalThis.setImmediate = native;
  }
}

/** Whether a wait is in progress, and how many have started (for tests). */
export const gentleWaitActive = (): boolean => waiting > 0;
export const gentleWaitsStarted = (): number => started;

/**
 * Whether a context waits gently: on software adapters (lavapipe), where the loop competes with the
 * GPU's own threads, unless AVDIT_GPU_WAIT=spin|gentle says otherwise.
 */
export function gentleWaits(software: boolean): boolean {
  const v = envChoice('AVDIT_GPU_WAIT', ['spin', 'gentle']);
  return v ? v === 'gentle' : software;
}
