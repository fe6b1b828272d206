/**
 * Activation checkpointing: run `fn` without recording (its activations are freed), and in the
 * backward pass run it again with recording on and back-propagate through the recomputation.
 * Parameters `fn` closes over get their gradients from that inner backward, as in PyTorch.
 * `fn` must be deterministic (draw no random numbers), and take as `inputs` every tensor it reads
 * other than parameters and other kept tensors: the recomputation needs them, and they are what
 * the checkpoint declares it saves (a temporary it merely closed over may have been freed by
 * releaseUnsaved by then).
 */
import type { Tensor } from '../engine/tensor.ts';
import { scope } from '../engine/scope.ts';
import { enableGrad, isRecording, noGrad } from './grad-mode.ts';
import { backward, record } from './tape.ts';

/**
 * `fn(...inputs)` with activation checkpointing: the same output and gradients as calling `fn`,
 * but its intermediate activations are recomputed in the backward pass instead of kept.
 */
export function checkpoint(fn: (...xs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  if (!isRecording()) return scope(() => fn(...inputs));
  // The block's intermediates die with this scope: only its output is kept.
  const out = noGrad(() => scope(() => fn(...inputs)));
  return record(
    'checkpoint',
    inputs,
    out,
    // The recomputation and its backward run in a scope of their own, so the recomputed
    // activations are freed before the next block's are made.
    (g) =>
      scope(() => {
        const fresh = inputs.map((x) => {
          const d = x.view(x.shape);
          d.requiresGrad = x.requiresGrad;
          return d;
        });
        const y = enableGrad(() => fn(...fresh));
        if (y.requiresGrad) backward(y, g);
        return fresh.map((d) => d.grad);
      }),
    inputs,
    true,
  );
}
