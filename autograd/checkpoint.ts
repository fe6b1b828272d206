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
import { backwardMany, record, recordMany } from './tape.ts';

/**
 * `fn(...inputs)` with activation checkpointing: the same output and gradients as calling `fn`,
 * but its intermediate activations are recomputed in the backward pass instead of kept.
 */
export function checkpoint(fn: (...xs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  return checkpointMany((...xs) => [fn(...xs)], ...inputs)[0]!;
}

/**
 * `checkpoint` for a block with several outputs (AV-DiT's block returns its video and audio
 * streams): one recomputation serves all of them. With two or more the outputs are recorded as one
 * op (autograd/tape.ts recordMany), whose rule recomputes `fn` and back-propagates from all outputs
 * at once (backwardMany). An output no gradient reaches contributes nothing.
 */
export function checkpointMany(fn: (...xs: Tensor[]) => Tensor[], ...inputs: Tensor[]): Tensor[] {
  if (!isRecording()) return scope(() => fn(...inputs));
  // The block's intermediates die with this scope: only its outputs are kept. An output that is
  // one of the inputs (a block passing a stream through) becomes a view, so that recording it below
  // does not overwrite the input's own place in the graph.
  const outs = noGrad(() => scope(() => fn(...inputs))).map((o) => (inputs.includes(o) ? o.view(o.shape) : o));
  // Recompute `fn` and back-propagate from its outputs with the gradients they got (none: skipped).
  // The recomputation and its backward run in a scope of their own, so the recomputed
  // activations are freed before the next block's are made.
  const recompute = (grads: readonly (Tensor | null)[]): (Tensor | null)[] =>
    scope(() => {
      const fresh = inputs.map((x) => {
        const d = x.view(x.shape);
        d.requiresGrad = x.requiresGrad;
        return d;
      });
      const ys = enableGrad(() => fn(...fresh));
      const roots: Tensor[] = [], gs: Tensor[] = [];
      ys.forEach((y, i) => {
        const g = grads[i];
        if (g && y.requiresGrad) roots.push(y), gs.push(g);
      });
      if (roots.length) backwardMany(roots, gs);
      return fresh.map((d) => d.grad);
    });
  // One output: its own rule recomputes (no joint tensor, nothing stashed).
  if (outs.length === 1) return [record('checkpoint', inputs, outs[0]!, (g) => recompute([g]), inputs, true)];
  return recordMany('checkpoint', inputs, outs, recompute, inputs, true);
}
