/**
 * The Tensor: a contiguous row-major storage plus a shape and dtype. No strides: reshape shares
 * the storage, every other layout change makes a new tensor through a kernel.
 *
 * Autograd state lives here as plain fields (`requiresGrad`, `grad`, `node`); the rules that
 * fill them are in `autograd/`, which imports this file, never the other way round.
 */
import type { Backend, Storage } from './backend.ts';
import type { DType, TypedArray } from './dtype.ts';
import { DisposedError, DTypeError, ShapeError } from './errors.ts';
import { checkShape, fmt, sizeOf, type Shape } from './shape.ts';
import { track, untrack } from './scope.ts';

/** A recorded op: its inputs and how to turn the output's gradient into theirs. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null where an input needs none). Runs with recording off. */
  backward(grad: Tensor): (Tensor | null)[];
  /**
   * Every tensor the rule reads (inputs, the output, side results such as saved statistics), when
   * the op says so; undefined means "unknown". autograd's releaseUnsaved frees what no rule reads.
   */
  readonly saves?: readonly Tensor[];
}

let nextId = 1;

/**
 * A tensor: a contiguous row-major storage (f32, f64 or i32) on one backend plus a shape.
 * `reshape`/`view` share the storage; every other op makes a new one. Free it with `dispose()` or
 * let a `scope` do it; `keep()` lets it outlive its scope. Autograd adds `requiresGrad`, `grad`
 * and the tape `node`.
 */
export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly backend: Backend;
  #storage: Storage | null;
  /** Leaf that wants a gradient, or a result of an op on such tensors. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** The op that made this tensor (null for leaves and results made without recording). */
  node: GradNode | null = null;
  /** Optional name (parameters carry their state-dict key). */
  name = '';

  constructor(storage: Storage, shape: Shape) {
    checkShape('Tensor', shape);
    if (sizeOf(shape) !== storage.size) {
      throw new ShapeError(`Tensor: shape ${fmt(shape)} has ${sizeOf(shape)} elements but the storage has ${storage.size}`);
    }
    this.#storage = storage;
    storage.refs++;
    this.shape = Object.freeze([...shape]);
    this.dtype = storage.dtype;
    this.backend = storage.backend;
    track(this);
  }

  get size(): number {
    return sizeOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this.#storage === null;
  }

  /** The storage; throws if the tensor was disposed (the message names who asked). */
  storage(op = 'use'): Storage {
    if (this.#storage === null) {
      throw new DisposedError(`${op}: tensor #${this.id}${this.name ? ` (${this.name})` : ''} of shape ${fmt(this.shape)} was disposed`);
    }
    return this.#storage;
  }

  /** Give the storage back (when no other tensor shares it) and drop the autograd node. Idempotent. */
  dispose(): void {
    this.releaseData();
    this.node = null;
  }

  /**
   * Give the storage back but keep the shape and the autograd node: the graph still walks through
   * this tensor, and its rule reads only what it saved (autograd's releaseUnsaved). Idempotent.
   */
  releaseData(): void {
    const s = this.#storage;
    if (s === null) return;
    this.#storage = null;
    if (--s.refs === 0) s.backend.free(s);
  }

  /** Keep this tensor past the enclosing `scope()`. Returns this. */
  keep(): this {
    untrack(this);
    return this;
  }

  /**
   * Point this tensor at `other`'s storage (same shape and dtype) and drop its own. Used for
   * in-place parameter updates: the tensor object, its name and its place in modules stay.
   */
  assign(other: Tensor): void {
    if (other.backend !== this.backend) {
      throw new DTypeError(`assign: tensors live on different backends (${other.backend.name} ${fmt(other.shape)} into ${this.backend.name} ${fmt(this.shape)}); copy it first (toBackend)`);
    }
    if (other.dtype !== this.dtype) throw new DTypeError(`assign: dtypes differ (${other.dtype} ${fmt(other.shape)} into ${this.dtype} ${fmt(this.shape)})`);
    if (other.shape.join() !== this.shape.join()) {
      throw new ShapeError(`assign: ${fmt(other.shape)} ${other.dtype} into ${fmt(this.shape)} ${this.dtype}`);
    }
    const next = other.storage('assign');
    const old = this.storage('assign');
    if (next === old) return;
    next.refs++;
    this.#storage = next;
    if (--old.refs === 0) old.backend.free(old);
  }

  /** A tensor of a new shape over the same storage (free). */
  view(shape: Shape): Tensor {
    return new Tensor(this.storage('reshape'), shape);
  }

  /** Copy the data out (waits for queued GPU work). */
  async toArray(): Promise<TypedArray> {
    return this.backend.read(this.storage('toArray'));
  }

  /** Synchronous read, on backends that can (CPU). */
  dataSync(): TypedArray {
    const s = this.storage('dataSync');
    if (!this.backend.readSync) throw new Error(`dataSync: the ${this.backend.name} backend reads asynchronously; use await toArray()`);
    return this.backend.readSync(s);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError(`item: tensor of shape ${fmt(this.shape)} has ${this.size} elements, not 1`);
    return (await this.toArray())[0]!;
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}, ${this.backend.name}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}
