/**
 * Freeing what no gradient rule reads. Autograd keeps a block's intermediates alive only through
 * the tensors its rules read; everything else the block made (a residual sum, the packed qkv after
 * the heads are split off, a frozen layer's input when only the weight's transpose is needed, …)
 * can go as soon as the block has run, as PyTorch frees what no saved-tensor list holds.
 * `releaseUnsaved(fn)` runs `fn` in a scope that hands to the outer scope only what `fn` returns
 * and what the rules recorded inside it declared they read (`saves`, autograd/tape.ts), and frees
 * the rest at once. The freed tensors stay in the graph as shapes: backward reads only saved data.
 * A rule that declares nothing (a user's own `record` without `saves`) keeps everything.
 */
import { scopeKeeping, type Disposable } from '../engine/scope.ts';
import type { Tensor } from '../engine/tensor.ts';
import { isRecording } from './grad-mode.ts';

export function releaseUnsaved<T>(fn: () => T): T {
  if (!isRecording()) return fn();
  return scopeKeeping(fn, (created) => {
    const keep = new Set<Disposable>();
    for (const d of created) {
      const node = (d as Tensor).node;
      if (!node) continue;
      if (!node.saves) return created;
      for (const s of node.saves) keep.add(s);
    }
    return keep;
  }, (t) => (t as Tensor).releaseData());
}
