/**
 * The tape. Each differentiable op calls `record` with its inputs, its output and its gradient
 * rule; `backward(root)` walks the recorded graph in reverse topological order and accumulates
 * `.grad` on leaves that require it. Rules run with recording off, so they may use any op.
 */
import { DisposedError, GradError } from '../engine/errors.ts';
import { binary } from '../engine/ops.ts';
import { full } from '../engine/creation.ts';
import { scope } from '../engine/scope.ts';
import { fmt, sameShape } from '../engine/shape.ts';
import type { Tensor } from '../engine/tensor.ts';
import { isRecording, noGrad } from './grad-mode.ts';
import { releaseSaved } from './release.ts';

export type GradRule = (grad: Tensor) => (Tensor | null)[];

/**
 * Attach `rule` to `out` if recording and some input requires a gradient. Returns out. `saves`:
 * every tensor the rule will read (its data, not just its shape); ops that give it let
 * `releaseUnsaved` free the rest of a block's intermediates at once.
 */
export function record(op: string, inputs: readonly Tensor[], out: Tensor, rule: GradRule, saves?: readonly Tensor[], force = false): Tensor {
  if (isRecording() && (force || inputs.some((t) => t.requiresGrad))) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward: rule, saves };
    madeBy.set(out, op);
  }
  return out;
}

/**
 * Record an op with several outputs: `rule` gets every output's gradient (null where none reached
 * it) once all have arrived, and returns its inputs' gradients. The tape walks single-output nodes,
 * so the op is a one-element "joint" tensor, the outputs' one input: an output's node only stashes
 * its gradient (and hands the joint a zero), and the joint's node, which the tape runs after all
 * of theirs, calls `rule`. Returns the outputs (recorded, when recording and some input requires a
 * gradient, or `force`).
 */
export function recordMany(
  op: string, inputs: readonly Tensor[], outs: readonly Tensor[], rule: (grads: readonly (Tensor | null)[]) => (Tensor | null)[], saves?: readonly Tensor[], force = false,
): Tensor[] {
  if (!(isRecording() && (force || inputs.some((t) => t.requiresGrad)))) return [...outs];
  const stash: (Tensor | null)[] = outs.map(() => null);
  const { dtype, backend } = outs[0]!;
  const joint = noGrad(() => full([1], 0, { dtype, backend }));
  record(op, inputs, joint, () => {
    try {
      return rule(stash);
    } finally {
      for (const g of stash) g?.dispose();
      stash.fill(null);
    }
  }, saves, true);
  return outs.map((out, i) =>
    record(`${op} output`, [joint], out, (g) => {
      stash[i] = g.view(g.shape).keep(); // for the joint's rule, which runs after this one
      return [full([1], 0, { dtype, backend })];
    }, [], true),
  );
}

/**
 * The op that recorded each result (kept after its node goes), and the results whose node a
 * backward without retainGraph freed: a tensor with neither a node nor a leaf's history is a cut
 * in the graph, which backward reports instead of treating the tensor as a leaf.
 */
const madeBy = new WeakMap<Tensor, string>();
const freedBy = new WeakSet<Tensor>();

/** Why `t` (no node, requiresGrad) cannot be walked through; null for a genuine leaf. */
function cutGraph(t: Tensor): string | null {
  const op = madeBy.get(t);
  if (op === undefined) return null;
  if (freedBy.has(t)) {
    return `backward: trying to backward through the graph a second time (the result of ${op}, tensor #${t.id} ${fmt(t.shape)}, had its graph freed by an earlier backward); pass { retainGraph: true } to the first backward if you need to backward twice`;
  }
  if (t.disposed) {
    return `backward: the result of ${op} (tensor #${t.id} ${fmt(t.shape)}) was disposed before backward, which cut the graph through it; keep it (or let its scope end after backward)`;
  }
  return `backward: the result of ${op} (tensor #${t.id} ${fmt(t.shape)}) lost its graph node`;
}

/** Tensors reachable from the roots through recorded nodes, inputs before outputs (iterative DFS). */
function topoOrder(roots: readonly Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [];
  for (const root of roots) {
    if (seen.has(root)) continue;
    seen.add(root);
    stack.push([root, 0]);
    walk(stack, seen, order);
  }
  return order;
}

function walk(stack: [Tensor, number][], seen: Set<Tensor>, order: Tensor[]): void {
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i]!;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
}

export interface BackwardOptions {
  /** Keep the graph for another backward (as retain_graph). */
  retainGraph?: boolean;
}

/**
 * Back-propagate from `root`. A non-scalar root needs `grad` (its shape). Leaf gradients are
 * added into `.grad` (kept past any scope); intermediate gradients are freed as soon as used, and
 * what a rule makes on the way to its gradients as soon as it returns.
 */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  backwardMany([root], [grad], opts);
}

/**
 * Back-propagate from several roots at once, each with its gradient (as one backward of
 * Σ_i ⟨root_i, grad_i⟩): every rule runs once, with the sum of what reaches it from all roots.
 * Activation checkpointing of a block with several outputs needs it (autograd/checkpoint.ts).
 */
export function backwardMany(roots: readonly Tensor[], given: readonly (Tensor | undefined)[], opts: BackwardOptions = {}): void {
  if (roots.length !== given.length) throw new GradError(`backward: ${roots.length} outputs but ${given.length} gradients`);
  roots.forEach((root, i) => checkRoot(root, given[i]));
  const callers = new Set(given.filter((g): g is Tensor => g !== undefined));
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    roots.forEach((root, i) => {
      const g = given[i] ?? full(root.shape, 1, { dtype: root.dtype, backend: root.backend });
      const prev = grads.get(root);
      grads.set(root, prev ? binary('add', prev, g) : g);
      if (prev && !callers.has(prev)) prev.dispose();
    });
    const order = topoOrder(roots);
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.node;
      if (!node) {
        const cut = cutGraph(t);
        if (cut) throw new GradError(cut);
        accumulateLeaf(t, g);
        if (!callers.has(g)) g.dispose();
        continue;
      }
      // The rule's own temporaries (products before a reduction, transposes, …) die with this
      // scope; only the gradients it returns live on, until they are added up.
      let gs: (Tensor | null)[];
      try {
        gs = scope(() => node.backward(g));
      } catch (e) {
        if (e instanceof DisposedError) throw new GradError(`backward: a tensor saved by ${node.op} (for its gradient) is gone: ${e.message}`, { cause: e });
        throw e;
      }
      node.inputs.forEach((x, i) => {
        const gi = gs[i];
        if (!gi || !x.requiresGrad) return;
        if (!sameShape(gi.shape, x.shape)) {
          throw new GradError(`backward: the rule of ${node.op} gave a gradient of shape ${fmt(gi.shape)} for an input of shape ${fmt(x.shape)}`);
        }
        const prev = grads.get(x);
        if (prev) {
          grads.set(x, binary('add', prev, gi));
          prev.dispose();
        } else grads.set(x, gi.view(gi.shape)); // a view of its own: rules may return one tensor for several inputs
      });
      for (const gi of gs) if (gi && !callers.has(gi)) gi.dispose();
      if (!callers.has(g)) g.dispose();
      if (!opts.retainGraph) {
        t.node = null;
        freedBy.add(t);
        releaseSaved(node); // what only the graph held, and no rule still to run reads (autograd/release.ts)
      }
    }
  });
}

/** The checks backward makes of a root and the gradient given for it. */
function checkRoot(root: Tensor, grad: Tensor | undefined): void {
  if (!root.requiresGrad) throw new GradError('backward: the tensor does not require grad (no input of it has requiresGrad = true)');
  if (grad === undefined && root.size !== 1) {
    throw new GradError(`backward: the output has shape ${fmt(root.shape)}; pass a gradient of that shape (only one-element outputs get an implicit gradient of 1)`);
  }
  if (grad && !sameShape(grad.shape, root.shape)) {
    throw new GradError(`backward: gradient shape ${fmt(grad.shape)} does not match output shape ${fmt(root.shape)}`);
  }
  if (grad && grad.dtype !== root.dtype) {
    throw new GradError(`backward: the gradient's dtype must match the output's (gradient ${grad.dtype}, output ${root.dtype} ${fmt(root.shape)})`);
  }
  if (grad && grad.backend !== root.backend) {
    throw new GradError(`backward: the gradient lives on ${grad.backend.name}, the output on ${root.backend.name}; they must be on one backend`);
  }
  if (grad) grad.storage('backward (gradient)');
  const rootCut = root.node ? null : cutGraph(root);
  if (rootCut) throw new GradError(rootCut);
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  if (t.grad && !t.grad.disposed) {
    const sum = binary('add', t.grad, g).keep();
    t.grad.dispose();
    t.grad = sum;
  } else {
    // A view, so the caller's gradient tensor (or one shared with another leaf) stays theirs.
    t.grad = g.view(g.shape).keep();
  }
}

/** Set `.grad` of every tensor to null (freeing the gradients). */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
