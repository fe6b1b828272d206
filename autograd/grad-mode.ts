/** Whether ops record onto the tape. `noGrad(fn)` turns recording off inside fn (as torch.no_grad). */
let recording = true;

/** Whether ops are being recorded on the tape now (false inside `noGrad`). */
export function isRecording(): boolean {
  return recording;
}

/** Run `fn` without recording any op on the tape (as `torch.no_grad`); returns its result. */
export function noGrad<T>(fn: () => T): T {
  const was = recording;
  recording = false;
  try {
    return fn();
  } finally {
    recording = was;
  }
}

/** Recording on inside fn, even within noGrad (used to recompute checkpointed blocks). */
export function enableGrad<T>(fn: () => T): T {
  const was = recording;
  recording = true;
  try {
    return fn();
  } finally {
    recording = was;
  }
}
