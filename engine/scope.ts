/**
 * Memory scopes. `scope(fn)` disposes every tensor made inside `fn` that `fn` neither returned
 * nor `keep()`-ed, so a training step frees its intermediates without the garbage collector.
 * Scopes nest: what an inner scope returns belongs to the outer one.
 */
export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

const stack: Set<Disposable>[] = [];

/** Called by every new tensor: the innermost open scope now owns it. */
export function track(t: Disposable): void {
  stack[stack.length - 1]?.add(t);
}

/** Take `t` out of every scope: it lives until disposed by hand. */
export function untrack(t: Disposable): void {
  for (const s of stack) s.delete(t);
}

/** The disposables found in `value` (itself, or inside arrays, maps and plain objects): what a scope's result keeps. */
export function disposablesIn(value: unknown): Set<Disposable> {
  const out = new Set<Disposable>();
  collect(value, out);
  return out;
}

function collect(value: unknown, out: Set<Disposable>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ('dispose' in value && 'disposed' in value) {
    out.add(value as Disposable);
    return;
  }
  const items = value instanceof Map ? [...value.values()] : Array.isArray(value) ? value : Object.values(value);
  for (const v of items) collect(v, out, seen);
}

/**
 * Run `fn` and dispose every tensor it created that is neither returned (found in its result,
 * arrays, maps and plain objects included) nor `keep()`-ed.
 */
export function scope<T>(fn: () => T): T {
  return scopeKeeping(fn, () => []);
}

/** The same for async functions (tensors made across awaits are tracked until fn settles). */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const mine = new Set<Disposable>();
  stack.push(mine);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    const i = stack.lastIndexOf(mine);
    if (i >= 0) stack.splice(i, 1);
    for (const t of mine) if (!t.disposed) t.dispose();
    throw e;
  }
  const i = stack.lastIndexOf(mine);
  if (i >= 0) stack.splice(i, 1);
  release(mine, result);
  return result;
}

/**
 * `scope(fn)` that also lets `alsoKeep` pick, from the tensors `fn` created, more to hand to the
 * outer scope (autograd's releaseUnsaved keeps what the recorded gradient rules will read), and
 * `drop` say how the rest go. With a `drop` that keeps the object usable (releaseData), the
 * dropped ones are handed to the outer scope too, so an enclosing releaseUnsaved still sees
 * their autograd nodes.
 */
export function scopeKeeping<T>(fn: () => T, alsoKeep: (created: ReadonlySet<Disposable>) => Iterable<Disposable>, drop?: (t: Disposable) => void): T {
  const mine = new Set<Disposable>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of mine) if (!t.disposed) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    throw new Error('scope(fn): fn returned a Promise; use scopeAsync for async work');
  }
  release(mine, result, alsoKeep(mine), drop);
  return result;
}

function release(mine: Set<Disposable>, result: unknown, alsoKeep: Iterable<Disposable> = [], drop?: (t: Disposable) => void): void {
  const kept = new Set<Disposable>(alsoKeep);
  collect(result, kept);
  const parent = stack[stack.length - 1];
  for (const t of mine) {
    if (kept.has(t)) parent?.add(t);
    else if (drop) {
      if (!t.disposed) drop(t);
      parent?.add(t);
    } else if (!t.disposed) t.dispose();
  }
}
