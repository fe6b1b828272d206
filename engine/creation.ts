/** Making tensors: from data, constants, ranges and seeded random draws (PyTorch names). */
import type { Backend } from './backend.ts';
import { toTypedArray, type DType, type TypedArray } from './dtype.ts';
import { DTypeError, ShapeError } from './errors.ts';
import { getBackend } from './registry.ts';
import { defaultGenerator, type Generator } from './rng.ts';
import { checkShape, fmt, sizeOf, type Shape } from './shape.ts';
import { Tensor } from './tensor.ts';

export interface MakeOptions {
  dtype?: DType;
  backend?: Backend;
  requiresGrad?: boolean;
}

function backendFor(op: string, opts: MakeOptions | undefined): [Backend, DType] {
  const b = opts?.backend ?? getBackend();
  const dtype = opts?.dtype ?? 'f32';
  if (!b.supportsDtype(dtype)) throw new DTypeError(`${op}: the ${b.name} backend has no ${dtype}`);
  return [b, dtype];
}

function finish(t: Tensor, opts: MakeOptions | undefined): Tensor {
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

type Nested = number | readonly Nested[];

function flatten(data: Nested, shape: number[], out: number[], depth = 0): void {
  if (typeof data === 'number') {
    if (depth !== shape.length) throw new ShapeError('tensor: ragged nested array');
    out.push(data);
    return;
  }
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new ShapeError('tensor: ragged nested array');
  for (const d of data) flatten(d, shape, out, depth + 1);
}

/** From a nested array or a flat array plus shape: `tensor([[1, 2], [3, 4]])`, `tensor(flat, [2, 2])`. */
export function tensor(data: Nested | TypedArray, shape?: Shape, opts?: MakeOptions): Tensor {
  const [b, dtype] = backendFor('tensor', opts);
  let flat: ArrayLike<number>;
  let shp: number[];
  if (ArrayBuffer.isView(data) || (shape !== undefined && Array.isArray(data))) {
    flat = data as ArrayLike<number>;
    shp = shape ? [...shape] : [flat.length];
  } else {
    const out: number[] = [];
    shp = [];
    flatten(data as Nested, shp, out);
    flat = out;
    if (shape) shp = [...shape];
  }
  checkShape('tensor', shp);
  if (sizeOf(shp) !== flat.length) throw new ShapeError(`tensor: ${flat.length} values do not fill shape ${fmt(shp)}`);
  if (dtype === 'i32') {
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i]!;
      if (!Number.isInteger(v)) throw new DTypeError(`tensor: value ${v} is not an integer (dtype i32)`);
      if (v < -2147483648 || v > 2147483647) throw new DTypeError(`tensor: value ${v} is out of the i32 range [-2^31, 2^31 - 1]`);
    }
  }
  return finish(new Tensor(b.fromArray(toTypedArray(flat, dtype), dtype), shp), opts);
}

/**
 * A new tensor of `shape` with every element `value` (dtype and backend from `opts`, default f32
 * on the current backend).
 */
export function full(shape: Shape, value: number, opts?: MakeOptions): Tensor {
  checkShape('full', shape);
  const [b, dtype] = backendFor('full', opts);
  return finish(new Tensor(b.fill(sizeOf(shape), dtype, value), shape), opts);
}

/** A new tensor of `shape` filled with 0. */
export const zeros = (shape: Shape, opts?: MakeOptions): Tensor => full(shape, 0, opts);
/** A new tensor of `shape` filled with 1. */
export const ones = (shape: Shape, opts?: MakeOptions): Tensor => full(shape, 1, opts);

/** start, start + step, … (< end), as torch.arange. */
export function arange(start: number, end?: number, step = 1, opts?: MakeOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (![start, end, step].every(Number.isFinite)) throw new ShapeError(`arange: start ${start}, end ${end} and step ${step} must be finite numbers`);
  if (step === 0) throw new ShapeError('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  if (n > 2 ** 31 - 1) throw new ShapeError(`arange(${start}, ${end}, ${step}): ${n} elements is too many`);
  const vals = Array.from({ length: n }, (_, i) => start + i * step);
  return tensor(vals, [n], opts);
}

export interface RandomOptions extends MakeOptions {
  generator?: Generator;
}

function random(op: string, dist: 'uniform' | 'normal', shape: Shape, opts?: RandomOptions): Tensor {
  checkShape(op, shape);
  const [b, dtype] = backendFor(op, opts);
  if (dtype === 'i32') throw new DTypeError(`${op}: dtype must be f32 or f64`);
  const g = opts?.generator ?? defaultGenerator;
  const n = sizeOf(shape);
  const offset = g.take(n);
  return finish(new Tensor(b.random(dist, n, dtype, g.seed, offset), shape), opts);
}

/** Uniform [0, 1) from the Philox stream (same numbers on every backend for the same seed). */
export const rand = (shape: Shape, opts?: RandomOptions): Tensor => random('rand', 'uniform', shape, opts);
/** Standard normal from the Philox stream (Box–Muller). */
export const randn = (shape: Shape, opts?: RandomOptions): Tensor => random('randn', 'normal', shape, opts);
