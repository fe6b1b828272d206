/**
 * Freed CPU arrays kept for reuse, by dtype and exact length (a training step allocates the same
 * shapes every step). Without it every op's output is a fresh ArrayBuffer and the garbage
 * collector runs mark-compact about five times per demo training step (bench/RESULTS.md), its
 * concurrent marking taking the core the worker threads want. Arrays come back zeroed, as new
 * ones are (unless the caller overwrites them all). At most `capBytes` are kept; smaller arrays
 * than MIN_LENGTH are not worth the lookup.
 */
import { allocArray, BYTES_PER_ELEMENT, type DType, type TypedArray } from '../dtype.ts';

const MIN_LENGTH = 64;

export class ArrayPool {
  #free = new Map<string, TypedArray[]>();
  #bytes = 0;

  constructor(readonly capBytes: number) {}

  /** Bytes held for reuse. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * An array of n elements, a pooled one if there is one, else a new one: zeroed, unless
   * `overwritten` (the caller writes every element before reading any: a pooled array then keeps
   * its old values, and the pass that zeroed it is saved).
   */
  take(dtype: DType, n: number, overwritten = false): TypedArray {
    const list = n >= MIN_LENGTH ? this.#free.get(`${dtype}:${n}`) : undefined;
    const a = list?.pop();
    if (!a) return allocArray(dtype, n);
    this.#bytes -= a.byteLength;
    if (!overwritten) a.fill(0);
    return a;
  }

  /** Keep `a` for reuse (nothing else may hold it any more). */
  give(dtype: DType, a: TypedArray): void {
    if (a.length < MIN_LENGTH || this.#bytes + a.byteLength > this.capBytes) return;
    const key = `${dtype}:${a.length}`;
    let list = this.#free.get(key);
    if (!list) this.#free.set(key, (list = []));
    list.push(a);
    this.#bytes += a.length * BYTES_PER_ELEMENT[dtype];
  }

  /** Drop everything kept. */
  clear(): void {
    this.#free.clear();
    this.#bytes = 0;
  }
}
