/**
 * Ctrl-C as a request to stop at the next safe point (after a training step, after a sampling
 * batch): the first SIGINT prints `message` and sets `requested`; a second one exits at once with
 * INTERRUPTED. The caller polls `requested` and must give the event loop a turn between polls (on
 * the CPU backend nothing awaits for real, and the handler would never run).
 */

/** Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it). */
export const INTERRUPTED = 130;

export interface InterruptWatch {
  readonly requested: boolean;
  /** Remove the handler (Ctrl-C kills the process again). */
  stop(): void;
}

export function watchInterrupt(message: string): InterruptWatch {
  let requested = false;
  const onSigint = () => {
    if (requested) process.exit(INTERRUPTED);
    requested = true;
    process.stderr.write(`\ninterrupt: ${message} (Ctrl-C again to quit now)\n`);
  };
  process.on('SIGINT', onSigint);
  return {
    get requested() {
      return requested;
    },
    stop: () => process.off('SIGINT', onSigint),
  };
}
