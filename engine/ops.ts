/**
 * Tensor-level ops without autograd: check shapes and dtypes (errors name the op and the
 * shapes), work out the output shape, and call the backend. `autograd/` builds the
 * differentiable ops on these.
 */
import type { BinaryOp, ReduceOp, UnaryOp } from './backend.ts';
import { isFloat, type DType } from './dtype.ts';
import { DTypeError, ShapeError } from './errors.ts';
import { broadcastShapes, checkShape, fmt, normAxes, normAxis, reducedShape, sameShape, sizeOf, type Shape } from './shape.ts';
import { Tensor } from './tensor.ts';

function sameBackend(op: string, ts: readonly Tensor[]): void {
  const b = ts[0]!.backend;
  for (const t of ts) {
    if (t.backend !== b) throw new DTypeError(`${op}: tensors live on different backends (${b.name} and ${t.backend.name})`);
  }
}

function floatOnly(op: string, t: Tensor): void {
  if (!isFloat(t.dtype)) throw new DTypeError(`${op}: expected a float tensor, got ${t.dtype}`);
}

function sameDtype(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new DTypeError(`${op}: dtypes differ (${a.dtype} ${fmt(a.shape)} and ${b.dtype} ${fmt(b.shape)})`);
}

export function unary(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  floatOnly(op, x);
  return new Tensor(x.backend.unary(op, x.storage(op), a, b), x.shape);
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  sameBackend(op, [a, b]);
  sameDtype(op, a, b);
  floatOnly(op, a);
  const out = broadcastShapes(op, a.shape, b.shape);
  return new Tensor(a.backend.binary(op, a.storage(op), a.shape, b.storage(op), b.shape, out), out);
}

export function where(c: Tensor, a: Tensor, b: Tensor): Tensor {
  sameBackend('where', [c, a, b]);
  sameDtype('where', a, b);
  sameDtype('where', c, a);
  const out = broadcastShapes('where', broadcastShapes('where', c.shape, a.shape), b.shape);
  const s = (t: Tensor) => t.storage('where');
  return new Tensor(a.backend.where(s(c), c.shape, s(a), a.shape, s(b), b.shape, out), out);
}

export function reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  floatOnly(op, x);
  const ax = normAxes(op, axes, x.rank);
  if (op === 'max' && ax.some((a) => x.shape[a] === 0)) throw new ShapeError(`max: cannot reduce an empty axis of ${fmt(x.shape)}`);
  const kept = reducedShape(x.shape, ax, true);
  const s = ax.length === 0 ? x.backend.unary('affine', x.storage(op), 1, 0) : x.backend.reduce(op, x.storage(op), x.shape, ax);
  return new Tensor(s, keepdim ? kept : reducedShape(x.shape, ax, false));
}

/** The output shape of a batched matmul, with errors naming both shapes. */
export function matmulShape(a: Shape, b: Shape, transA: boolean, transB: boolean): number[] {
  if (a.length < 2 || b.length < 2) throw new ShapeError(`matmul: operands need rank >= 2, got ${fmt(a)} and ${fmt(b)}`);
  const [m, ka] = transA ? [a.at(-1)!, a.at(-2)!] : [a.at(-2)!, a.at(-1)!];
  const [kb, n] = transB ? [b.at(-1)!, b.at(-2)!] : [b.at(-2)!, b.at(-1)!];
  if (ka !== kb) {
    throw new ShapeError(`matmul: inner dimensions differ: ${fmt(a)}${transA ? 'ᵀ' : ''} @ ${fmt(b)}${transB ? 'ᵀ' : ''} (${ka} vs ${kb})`);
  }
  const batch = broadcastShapes('matmul (batch dims)', a.slice(0, -2), b.slice(0, -2));
  return [...batch, m, n];
}

export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  sameBackend('matmul', [a, b]);
  sameDtype('matmul', a, b);
  floatOnly('matmul', a);
  const out = matmulShape(a.shape, b.shape, transA, transB);
  return new Tensor(a.backend.matmul(a.storage('matmul'), a.shape, b.storage('matmul'), b.shape, transA, transB, out), out);
}

/** Free reshape; one dim may be -1. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const known = shape.filter((d) => d !== -1);
  const free = shape.length - known.length;
  if (free > 1) throw new ShapeError(`reshape: more than one -1 in ${fmt(shape)}`);
  let target = [...shape];
  if (free === 1) {
    const k = sizeOf(known);
    if (k === 0 || x.size % k !== 0) throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} to ${fmt(shape)}`);
    target = shape.map((d) => (d === -1 ? x.size / k : d));
  }
  checkShape('reshape', target);
  if (sizeOf(target) !== x.size) throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
  return x.view(target);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank) throw new ShapeError(`permute: ${perm.length} axes given for a tensor of rank ${x.rank} ${fmt(x.shape)}`);
  const p = perm.map((a) => normAxis('permute', a, x.rank));
  if (new Set(p).size !== p.length) throw new ShapeError(`permute: [${perm.join(', ')}] is not a permutation`);
  const out = p.map((a) => x.shape[a]!);
  if (p.every((a, i) => a === i)) return x.view(out);
  return new Tensor(x.backend.permute(x.storage('permute'), x.shape, p), out);
}

export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const a = normAxis('transpose', d0, x.rank);
  const b = normAxis('transpose', d1, x.rank);
  const perm = x.shape.map((_, i) => i);
  [perm[a], perm[b]] = [perm[b]!, perm[a]!];
  return permute(x, perm);
}

/** x[begin : begin + size] per axis (negative begin counts from the end; size -1 = to the end). */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  if (begin.length > x.rank) throw new ShapeError(`slice: ${begin.length} begins for a tensor of rank ${x.rank}`);
  const b = x.shape.map((d, i) => {
    const v = begin[i] ?? 0;
    return v < 0 ? v + d : v;
  });
  const s = x.shape.map((d, i) => {
    const v = size?.[i] ?? -1;
    return v === -1 ? d - b[i]! : v;
  });
  x.shape.forEach((d, i) => {
    if (b[i]! < 0 || s[i]! < 0 || b[i]! + s[i]! > d) {
      throw new ShapeError(`slice: box begin [${b.join(', ')}] size [${s.join(', ')}] does not fit in ${fmt(x.shape)}`);
    }
  });
  if (sameShape(s, x.shape)) return x.view(s);
  return new Tensor(x.backend.slice(x.storage('slice'), x.shape, b, s), s);
}

/** Zeros of `outShape` with x placed at `begin` (the adjoint of slice). */
export function padSlice(x: Tensor, outShape: Shape, begin: readonly number[]): Tensor {
  if (outShape.length !== x.rank || begin.length !== x.rank) throw new ShapeError(`padSlice: rank mismatch ${fmt(x.shape)} into ${fmt(outShape)}`);
  x.shape.forEach((d, i) => {
    if (begin[i]! < 0 || begin[i]! + d > outShape[i]!) throw new ShapeError(`padSlice: ${fmt(x.shape)} at [${begin.join(', ')}] does not fit in ${fmt(outShape)}`);
  });
  return new Tensor(x.backend.padSlice(x.storage('padSlice'), x.shape, outShape, begin), outShape);
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: no tensors given');
  sameBackend('concat', xs);
  const first = xs[0]!;
  const ax = normAxis('concat', axis, first.rank);
  for (const t of xs) {
    sameDtype('concat', first, t);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(`concat: shapes ${xs.map((u) => fmt(u.shape)).join(', ')} differ outside axis ${ax}`);
    }
  }
  const out = [...first.shape];
  out[ax] = xs.reduce((acc, t) => acc + t.shape[ax]!, 0);
  if (xs.length === 1) return first.view(out);
  return new Tensor(first.backend.concat(xs.map((t) => t.storage('concat')), xs.map((t) => t.shape), ax), out);
}

export function expand(x: Tensor, shape: Shape): Tensor {
  const out = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(out, shape)) throw new ShapeError(`expand: cannot expand ${fmt(x.shape)} to ${fmt(shape)}`);
  if (sameShape(x.shape, shape)) return x.view(shape);
  return new Tensor(x.backend.expand(x.storage('expand'), x.shape, shape), shape);
}

export function gather(table: Tensor, idx: Tensor): Tensor {
  sameBackend('gather', [table, idx]);
  if (table.rank !== 2) throw new ShapeError(`gather: table must be [rows, dim], got ${fmt(table.shape)}`);
  if (idx.dtype !== 'i32') throw new DTypeError(`gather: indices must be i32, got ${idx.dtype}`);
  const out = [...idx.shape, table.shape[1]!];
  return new Tensor(table.backend.gather(table.storage('gather'), table.shape, idx.storage('gather')), out);
}

export function scatterAdd(src: Tensor, idx: Tensor, rows: number): Tensor {
  sameBackend('scatterAdd', [src, idx]);
  if (idx.dtype !== 'i32') throw new DTypeError(`scatterAdd: indices must be i32, got ${idx.dtype}`);
  const d = src.shape.at(-1)!;
  if (src.size !== idx.size * d) throw new ShapeError(`scatterAdd: src ${fmt(src.shape)} does not match indices ${fmt(idx.shape)}`);
  return new Tensor(src.backend.scatterAdd(src.storage('scatterAdd'), [idx.size, d], idx.storage('scatterAdd'), rows), [rows, d]);
}

function lastAxis(op: string, x: Tensor): void {
  floatOnly(op, x);
  if (x.rank === 0) throw new ShapeError(`${op}: needs rank >= 1, got a scalar`);
}

export function softmax(x: Tensor): Tensor {
  lastAxis('softmax', x);
  return new Tensor(x.backend.softmax(x.storage('softmax'), x.shape), x.shape);
}

export function softmaxBwd(y: Tensor, dy: Tensor): Tensor {
  return new Tensor(y.backend.softmaxBwd(y.storage('softmaxBwd'), dy.storage('softmaxBwd'), y.shape), y.shape);
}

export function checkNormParam(op: string, x: Tensor, p: Tensor | null, what: string): void {
  if (p && (p.rank !== 1 || p.shape[0] !== x.shape.at(-1))) {
    throw new ShapeError(`${op}: ${what} ${fmt(p.shape)} must be [${x.shape.at(-1)}] for input ${fmt(x.shape)}`);
  }
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (!x.backend.supportsDtype(dtype)) throw new DTypeError(`cast: the ${x.backend.name} backend has no ${dtype}`);
  if (x.dtype === dtype) return x.view(x.shape);
  return new Tensor(x.backend.cast(x.storage('cast'), dtype), x.shape);
}

/** Copy to another backend (through the host). */
export async function toBackend(x: Tensor, backend: Tensor['backend']): Promise<Tensor> {
  if (x.backend === backend) return x.view(x.shape);
  const data = await x.toArray();
  return new Tensor(backend.fromArray(data, x.dtype), x.shape);
}
