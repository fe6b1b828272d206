/**
 * Freeing what no gradient rule reads, and then what no rule still to run reads.
 *
 * Autograd keeps a block's intermediates alive only through the tensors its rules read; everything
 * else the block made (a residual sum, the packed qkv after the heads are split off, a frozen
 * layer's input when only the weight's transpose is needed, …) can go as soon as the block has run,
 * as PyTorch frees what no saved-tensor list holds. `releaseUnsaved(fn)` runs `fn` in a scope that
 * hands to the outer scope only what `fn` returns and what the rules recorded inside it declared
 * they read (`saves`, autograd/tape.ts), and frees the rest at once. The freed tensors stay in the
 * graph as shapes: backward reads only saved data. A rule that declares nothing (a user's own
 * `record` without `saves`) keeps everything.
 *
 * The saved tensors `fn` made and did not return belong to the graph alone (no caller holds
 * them): they are counted (`graphOwned`, one per rule that reads them) and the backward pass frees
 * each as soon as the last of those rules has run (`releaseSaved`), as PyTorch frees saved tensors
 * as it goes, instead of with the step's scope. So a block's activations go as the backward pass
 * leaves the block, and a checkpointed block's recomputation does not come on top of every other
 * block's activations.
 */
import { disposablesIn, scopeKeeping, type Disposable } from '../engine/scope.ts';
import type { GradNode, Tensor } from '../engine/tensor.ts';
import { isRecording } from './grad-mode.ts';

/** Saved tensors only the graph holds, and how many recorded rules still read each. */
const graphOwned = new WeakMap<Tensor, number>();

export function releaseUnsaved<T>(fn: () => T): T {
  if (!isRecording()) return fn();
  let result: T | undefined;
  return scopeKeeping(() => (result = fn()), (created) => {
    const keep = new Set<Disposable>();
    const readers = new Map<Tensor, number>();
    for (const d of created) {
      const node = (d as Tensor).node;
      if (!node) continue;
      if (!node.saves) return created;
      for (const s of node.saves) {
        keep.add(s);
        readers.set(s, (readers.get(s) ?? 0) + 1);
      }
    }
    // Made here, read only by rules recorded here, not returned: the graph's alone. (A tensor an
    // inner releaseUnsaved already counted keeps its count: all its readers were inside that one.)
    const returned = disposablesIn(result);
    for (const [s, n] of readers) {
      if (created.has(s) && !returned.has(s) && !graphOwned.has(s)) graphOwned.set(s, n);
    }
    return keep;
  }, (t) => (t as Tensor).releaseData());
}

/** After `node`'s rule has run for good (no retainGraph): free the graph-owned tensors no other rule still reads. */
export function releaseSaved(node: GradNode): void {
  for (const s of node.saves ?? []) {
    const n = graphOwned.get(s);
    if (n === undefined) continue;
    if (n > 1) graphOwned.set(s, n - 1);
    else {
      graphOwned.delete(s);
      s.releaseData();
    }
  }
}
