/** Shape arithmetic shared by both backends: sizes, strides, broadcasting, axis normalisation. */
import { contiguousStrides } from '../kernels/grid.ts';
import { ShapeError } from './errors.ts';

export type Shape = readonly number[];

/** A shape as text, e.g. `[2, 3]`, for error messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides in elements (the kernels' helper: kernels/ cannot import the engine). */
export const stridesOf: (shape: Shape) => number[] = contiguousStrides;

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${op}: invalid shape ${fmt(shape)} (dims must be integers >= 0)`);
  }
}

/** NumPy broadcasting of two shapes; the error names the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides of `shape` seen as broadcast to `outShape` (right-aligned): a broadcast dimension gets
 * stride 0, so element `outIndex` of the result reads `sum(coord_i * stride_i)` of the input.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => {
    const j = i - off;
    if (j < 0) return 0;
    return shape[j] === 1 ? 0 : own[j]!;
  });
}

/** A possibly negative axis as an index in [0, rank). */
export function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalised, sorted, de-duplicated axes; `undefined` means all axes. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const set = new Set(list.map((a) => normAxis(op, a, rank)));
  if (set.size !== list.length) throw new ShapeError(`${op}: repeated axis in [${list.join(', ')}]`);
  return [...set].sort((x, y) => x - y);
}

/** The shape after reducing `axes` (kept as size 1 when `keepdim`). */
export function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** The axes of `outShape` along which `shape` was broadcast (for summing gradients back). */
export function broadcastAxes(shape: Shape, outShape: Shape): number[] {
  const off = outShape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const j = i - off;
    if (j < 0 || (shape[j] === 1 && outShape[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** The permutation that swaps axes d0 and d1 (negative axes count from the end). */
export function transposePerm(op: string, rank: number, d0: number, d1: number): number[] {
  const a = normAxis(op, d0, rank);
  const b = normAxis(op, d1, rank);
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[a], perm[b]] = [perm[b]!, perm[a]!];
  return perm;
}

/** M, N, K and the batch dims of a matmul from an operand's shape and the (checked) output shape. */
export function matmulDims(aShape: Shape, outShape: Shape, transA: boolean): { M: number; N: number; K: number; batchShape: number[] } {
  const rank = outShape.length;
  return { M: outShape[rank - 2]!, N: outShape[rank - 1]!, K: transA ? aShape.at(-2)! : aShape.at(-1)!, batchShape: outShape.slice(0, -2) };
}
