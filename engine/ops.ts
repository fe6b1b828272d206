/**
 * Tensor-level ops without autograd: check shapes and dtypes (errors name the op and the
 * shapes), work out the output shape, and call the backend. `autograd/` builds the
 * differentiable ops on these.
 */
import type { AdamWHyper, AttentionDims, BinaryOp, NormModulateDims, ReduceOp, UnaryOp } from './backend.ts';
import { isFloat, type DType } from './dtype.ts';
import { DTypeError, ShapeError } from './errors.ts';
import { broadcastShapes, checkShape, fmt, normAxes, normAxis, reducedShape, sameShape, sizeOf, transposePerm, type Shape } from './shape.ts';
import { Tensor } from './tensor.ts';
import { layoutError } from '../kernels/attention-layout.ts';

/** All of `ts` on one backend (DTypeError naming `op` otherwise). */
export function sameBackend(op: string, ts: readonly Tensor[]): void {
  const b = ts[0]!.backend;
  for (const t of ts) {
    if (t.backend !== b) throw new DTypeError(`${op}: tensors live on different backends (${b.name} and ${t.backend.name})`);
  }
}

/** `t` is f32 or f64 (DTypeError naming `op` otherwise). */
export function floatOnly(op: string, t: Tensor): void {
  if (!isFloat(t.dtype)) throw new DTypeError(`${op}: expected a float tensor, got ${t.dtype}`);
}

/** `a` and `b` have one dtype (DTypeError naming `op` otherwise). */
export function sameDtype(op: string, a: Tensor, b: Tensor): void {
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

/** op(a)·op(b), batched with broadcasting; with `bias` [N], plus bias on every row (one pass). */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false, bias: Tensor | null = null): Tensor {
  const op = 'matmul';
  sameBackend(op, bias ? [a, b, bias] : [a, b]);
  sameDtype(op, a, b);
  floatOnly(op, a);
  const out = matmulShape(a.shape, b.shape, transA, transB);
  if (bias) {
    sameDtype(op, a, bias);
    if (bias.rank !== 1 || bias.shape[0] !== out.at(-1)) throw new ShapeError(`${op}: bias ${fmt(bias.shape)} does not fit the product ${fmt(out)} (expected [${out.at(-1)}])`);
  }
  return new Tensor(a.backend.matmul(a.storage(op), a.shape, b.storage(op), b.shape, transA, transB, out, bias?.storage(op) ?? null), out);
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

/** `perm` as axes of a rank-`rank` tensor (negative ones from the end), checked to be a permutation of them. */
function permutationOf(op: string, perm: readonly number[], rank: number): number[] {
  const p = perm.map((a) => normAxis(op, a, rank));
  if (p.length !== rank || new Set(p).size !== p.length) throw new ShapeError(`${op}: [${perm.join(', ')}] is not a permutation of ${rank} axes`);
  return p;
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank) throw new ShapeError(`permute: ${perm.length} axes given for a tensor of rank ${x.rank} ${fmt(x.shape)}`);
  const p = permutationOf('permute', perm, x.rank);
  const out = p.map((a) => x.shape[a]!);
  if (p.every((a, i) => a === i)) return x.view(out);
  return new Tensor(x.backend.permute(x.storage('permute'), x.shape, p), out);
}

export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  return permute(x, transposePerm('transpose', x.rank, d0, d1));
}

/** The box of x that begin and size name (negative begin counts from the end; size -1 = to the end), checked. */
function boxOf(x: Tensor, begin: readonly number[], size: readonly number[] | undefined, op: string): { b: number[]; s: number[] } {
  if (begin.length > x.rank) throw new ShapeError(`${op}: ${begin.length} begins for a tensor of rank ${x.rank}`);
  if (size && size.length > x.rank) throw new ShapeError(`${op}: ${size.length} sizes for a tensor of rank ${x.rank}`);
  const bad = [...begin, ...(size ?? [])].find((v) => !Number.isInteger(v));
  if (bad !== undefined) throw new ShapeError(`${op}: begin [${begin.join(', ')}] size [${(size ?? []).join(', ')}] must be integers (got ${bad}) for ${fmt(x.shape)}`);
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
      throw new ShapeError(`${op}: box begin [${b.join(', ')}] size [${s.join(', ')}] does not fit in ${fmt(x.shape)}`);
    }
  });
  return { b, s };
}

/** x[begin : begin + size] per axis (negative begin counts from the end; size -1 = to the end). */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[], op = 'slice'): Tensor {
  const { b, s } = boxOf(x, begin, size, op);
  if (sameShape(s, x.shape)) return x.view(s);
  return new Tensor(x.backend.slice(x.storage(op), x.shape, b, s), s);
}

/** The box of `slice`, its axes permuted (output axis i is box axis perm[i]), in one copy. */
export function slicePermuted(x: Tensor, begin: readonly number[], size: readonly number[], perm: readonly number[]): Tensor {
  const { b, s } = boxOf(x, begin, size, 'slicePermuted');
  const p = permutationOf('slicePermuted', perm, x.rank);
  return new Tensor(x.backend.slice(x.storage('slicePermuted'), x.shape, b, s, p), p.map((a) => s[a]!));
}

/** Zeros of `outShape` with x placed at `begin` (the adjoint of slice). */
export function padSlice(x: Tensor, outShape: Shape, begin: readonly number[]): Tensor {
  if (outShape.length !== x.rank || begin.length !== x.rank) throw new ShapeError(`padSlice: rank mismatch ${fmt(x.shape)} into ${fmt(outShape)}`);
  x.shape.forEach((d, i) => {
    if (begin[i]! < 0 || begin[i]! + d > outShape[i]!) throw new ShapeError(`padSlice: ${fmt(x.shape)} at [${begin.join(', ')}] does not fit in ${fmt(outShape)}`);
  });
  return new Tensor(x.backend.padSlice(x.storage('padSlice'), x.shape, outShape, begin), outShape);
}

/** The output shape of parts of `shapes` side by side along `axis` (checked: same dtype and backend, equal outside the axis). */
function concatShape(op: string, xs: readonly Tensor[], shapes: readonly Shape[], axis: number): { ax: number; out: number[] } {
  if (xs.length === 0) throw new ShapeError(`${op}: no tensors given`);
  sameBackend(op, xs);
  const first = shapes[0]!;
  const ax = normAxis(op, axis, first.length);
  xs.forEach((t) => sameDtype(op, xs[0]!, t));
  for (const s of shapes) {
    if (s.length !== first.length || s.some((d, i) => i !== ax && d !== first[i])) {
      throw new ShapeError(`${op}: shapes ${shapes.map((u) => fmt(u)).join(', ')} differ outside axis ${ax}`);
    }
  }
  const out = [...first];
  out[ax] = shapes.reduce((acc, s) => acc + s[ax]!, 0);
  return { ax, out };
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const { ax, out } = concatShape('concat', xs, xs.map((t) => t.shape), axis);
  if (xs.length === 1) return xs[0]!.view(out);
  return new Tensor(xs[0]!.backend.concat(xs.map((t) => t.storage('concat')), xs.map((t) => t.shape), ax), out);
}

/**
 * concat of parts stored with their axes permuted (stored axis i is the part's axis perm[i], as
 * slicePermuted gathers them: this is its adjoint), each placed un-permuted in the same copy.
 */
export function concatPermuted(xs: readonly Tensor[], axis: number, perm: readonly number[]): Tensor {
  const rank = xs[0]?.rank ?? 0;
  const p = permutationOf('concatPermuted', perm, rank);
  const parts = xs.map((t) => {
    if (t.rank !== rank) throw new ShapeError(`concatPermuted: parts of ranks ${xs.map((u) => u.rank).join(', ')}`);
    const part = new Array<number>(rank);
    p.forEach((a, i) => (part[a] = t.shape[i]!));
    return part;
  });
  const { ax, out } = concatShape('concatPermuted', xs, parts, axis);
  return new Tensor(xs[0]!.backend.concat(xs.map((t) => t.storage('concatPermuted')), parts, ax, xs.map(() => p)), out);
}

export function expand(x: Tensor, shape: Shape): Tensor {
  checkShape('expand', shape);
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
  if (!Number.isInteger(rows) || rows < 0) throw new ShapeError(`scatterAdd: rows must be an integer >= 0, got ${rows}`);
  if (src.rank === 0) throw new ShapeError(`scatterAdd: src must have rank >= 1, got a scalar`);
  const d = src.shape.at(-1)!;
  if (src.size !== idx.size * d) throw new ShapeError(`scatterAdd: src ${fmt(src.shape)} does not match indices ${fmt(idx.shape)}`);
  return new Tensor(src.backend.scatterAdd(src.storage('scatterAdd'), [idx.size, d], idx.storage('scatterAdd'), rows), [rows, d]);
}

function lastAxis(op: string, x: Tensor): void {
  floatOnly(op, x);
  if (x.rank === 0) throw new ShapeError(`${op}: needs rank >= 1, got a scalar`);
}

function positiveScale(op: string, scale: number): void {
  if (!(scale > 0 && Number.isFinite(scale))) throw new RangeError(`${op}: scale must be a finite number > 0, got ${scale}`);
}

/** softmax(scale·x) over the last axis. */
export function softmax(x: Tensor, scale = 1): Tensor {
  lastAxis('softmax', x);
  positiveScale('softmax', scale);
  return new Tensor(x.backend.softmax(x.storage('softmax'), x.shape, scale), x.shape);
}

/** The gradient of softmax(scale·x) from its output y and the output's gradient dy. */
export function softmaxBwd(y: Tensor, dy: Tensor, scale = 1): Tensor {
  positiveScale('softmaxBwd', scale);
  return new Tensor(y.backend.softmaxBwd(y.storage('softmaxBwd'), dy.storage('softmaxBwd'), y.shape, scale), y.shape);
}

export function checkNormParam(op: string, x: Tensor, p: Tensor | null, what: string): void {
  if (p && (p.rank !== 1 || p.shape[0] !== x.shape.at(-1))) {
    throw new ShapeError(`${op}: ${what} ${fmt(p.shape)} must be [${x.shape.at(-1)}] for input ${fmt(x.shape)}`);
  }
}

/**
 * LayerNorm over the last axis, y = (x − μ)·rstd · w + b (w, b optional, [D]), with the saved
 * statistics mean and rstd [rows]. x, w and b: one backend, one float dtype. Empty rows (D = 0)
 * give an empty y (and zero statistics), as softmax of empty rows does.
 */
export function layerNorm(x: Tensor, w: Tensor | null, b: Tensor | null, eps: number): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const op = 'layerNorm';
  const params = [...(w ? [w] : []), ...(b ? [b] : [])];
  sameBackend(op, [x, ...params]);
  floatOnly(op, x);
  for (const p of params) sameDtype(op, x, p);
  if (x.rank === 0) throw new ShapeError(`${op}: needs rank >= 1, got a scalar`);
  checkNormParam(op, x, w, 'weight');
  checkNormParam(op, x, b, 'bias');
  const rows = x.shape.slice(0, -1);
  if (x.size === 0) {
    const be = x.backend;
    return { y: new Tensor(be.fill(0, x.dtype, 0), x.shape), mean: new Tensor(be.fill(sizeOf(rows), x.dtype, 0), rows), rstd: new Tensor(be.fill(sizeOf(rows), x.dtype, 0), rows) };
  }
  const o = x.backend.layerNorm(x.storage(op), x.shape, w?.storage(op) ?? null, b?.storage(op) ?? null, eps);
  return { y: new Tensor(o.y, x.shape), mean: new Tensor(o.mean, rows), rstd: new Tensor(o.rstd, rows) };
}

/** LayerNorm's backward from the saved statistics: dx, and dw / db when w is given / `withBias`. */
export function layerNormBwd(dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, w: Tensor | null, withBias: boolean): { dx: Tensor; dw: Tensor | null; db: Tensor | null } {
  const op = 'layerNormBwd';
  const D = x.shape.at(-1)!;
  const be = x.backend;
  if (x.size === 0) {
    return { dx: new Tensor(be.fill(0, x.dtype, 0), x.shape), dw: w ? new Tensor(be.fill(D, x.dtype, 0), [D]) : null, db: withBias ? new Tensor(be.fill(D, x.dtype, 0), [D]) : null };
  }
  const s = (t: Tensor) => t.storage(op);
  const r = be.layerNormBwd(s(dy), s(x), s(mean), s(rstd), w ? s(w) : null, x.shape, withBias);
  return { dx: new Tensor(r.dx, x.shape), dw: r.dw ? new Tensor(r.dw, [D]) : null, db: r.db ? new Tensor(r.db, [D]) : null };
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

// ---- fused ops (attention, LayerNorm + modulate, AdamW) ----

function rank3(op: string, what: string, t: Tensor): [number, number, number] {
  if (t.rank !== 3) throw new ShapeError(`${op}: ${what} must be [n, len, dim], got ${fmt(t.shape)}`);
  return t.shape as unknown as [number, number, number];
}

/** Check q [n,l,dqk], k [n,s,dqk], v [n,s,dv] and give the dims (scale defaults to 1/√dqk). */
export function attentionDims(q: Tensor, k: Tensor, v: Tensor, scale?: number): AttentionDims {
  const op = 'attention';
  sameBackend(op, [q, k, v]);
  sameDtype(op, q, k);
  sameDtype(op, q, v);
  floatOnly(op, q);
  const [n, l, dqk] = rank3(op, 'q', q), [nk, s, dk] = rank3(op, 'k', k), [nv, sv, dv] = rank3(op, 'v', v);
  if (nk !== n || nv !== n || sv !== s || dk !== dqk) {
    throw new ShapeError(`${op}: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)} do not fit (want q [n,l,d], k [n,s,d], v [n,s,dv])`);
  }
  if (l === 0 || s === 0 || dqk === 0 || dv === 0) throw new ShapeError(`${op}: empty sequence or head dim: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}`);
  return { n, l, s, dqk, dv, scale: scale ?? 1 / Math.sqrt(dqk) };
}

/** Fused softmax(scale·q kᵀ) v on [n, len, dim] tensors: o [n,l,dv] and lse [n,l]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, scale?: number): { o: Tensor; lse: Tensor; dims: AttentionDims } {
  const d = attentionDims(q, k, v, scale);
  const r = q.backend.attention(q.storage('attention'), k.storage('attention'), v.storage('attention'), d);
  return { o: new Tensor(r.o, [d.n, d.l, d.dv]), lse: new Tensor(r.lse, [d.n, d.l]), dims: d };
}

/**
 * Fused attention on operands in a strided layout `d.layout` (kernels/attention-layout.ts: rows
 * read in place, e.g. heads out of a packed qkv projection): o has `oShape` (n·l·dv elements,
 * laid out as layout.o), lse [n, l].
 */
export function attentionStrided(q: Tensor, k: Tensor, v: Tensor, d: AttentionDims, oShape: Shape): { o: Tensor; lse: Tensor } {
  const op = 'attention';
  sameBackend(op, [q, k, v]);
  sameDtype(op, q, k);
  sameDtype(op, q, v);
  floatOnly(op, q);
  if (!d.layout) throw new ShapeError(`${op}: attentionStrided needs a layout`);
  if (d.n === 0 || d.l === 0 || d.s === 0 || d.dqk === 0 || d.dv === 0) throw new ShapeError(`${op}: empty sequence or head dim (${JSON.stringify({ ...d, layout: undefined })})`);
  if (d.layout.packed && !(q === k && k === v)) throw new ShapeError(`${op}: a packed layout needs q, k and v to be one tensor`);
  const bad = layoutError(d, { q: q.size, k: k.size, v: v.size, o: sizeOf(oShape) });
  if (bad || sizeOf(oShape) !== d.n * d.l * d.dv) throw new ShapeError(`${op}: layout does not fit q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}, o ${fmt(oShape)}: ${bad ?? 'o size'}`);
  const r = q.backend.attention(q.storage(op), k.storage(op), v.storage(op), d);
  return { o: new Tensor(r.o, oShape), lse: new Tensor(r.lse, [d.n, d.l]) };
}

/** With a packed layout the three gradients are one tensor (dq = dk = dv, shaped as q). */
export function attentionBwd(q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, dO: Tensor, d: AttentionDims): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const op = 'attentionBwd';
  if (!sameShape(dO.shape, o.shape)) throw new ShapeError(`${op}: dO ${fmt(dO.shape)} does not match o ${fmt(o.shape)}`);
  const s = (t: Tensor) => t.storage(op);
  const r = q.backend.attentionBwd(s(q), s(k), s(v), s(o), s(lse), s(dO), d);
  if (d.layout?.packed) {
    const dqkv = new Tensor(r.dq, q.shape);
    return { dq: dqkv, dk: dqkv, dv: dqkv };
  }
  return { dq: new Tensor(r.dq, q.shape), dk: new Tensor(r.dk, k.shape), dv: new Tensor(r.dv, v.shape) };
}

/** Check x [N,L,D], shift/scale [N,D]. */
export function normModulateDims(x: Tensor, shift: Tensor, scale: Tensor): NormModulateDims {
  const op = 'normModulate';
  sameBackend(op, [x, shift, scale]);
  sameDtype(op, x, shift);
  sameDtype(op, x, scale);
  floatOnly(op, x);
  const [N, L, D] = rank3(op, 'x', x);
  for (const [what, t] of [['shift', shift], ['scale', scale]] as const) {
    if (t.rank !== 2 || t.shape[0] !== N || t.shape[1] !== D) throw new ShapeError(`${op}: ${what} ${fmt(t.shape)} must be [${N}, ${D}] for x ${fmt(x.shape)}`);
  }
  return { N, L, D };
}

/** y = LayerNorm(x)·(1 + scale) + shift (no affine LN), with the saved mean and rstd [N, L]. */
export function normModulate(x: Tensor, shift: Tensor, scale: Tensor, eps: number): { y: Tensor; mean: Tensor; rstd: Tensor; dims: NormModulateDims } {
  const d = normModulateDims(x, shift, scale);
  const r = x.backend.normModulate(x.storage('normModulate'), shift.storage('normModulate'), scale.storage('normModulate'), d, eps);
  return { y: new Tensor(r.y, x.shape), mean: new Tensor(r.mean, [d.N, d.L]), rstd: new Tensor(r.rstd, [d.N, d.L]), dims: d };
}

export function normModulateBwd(dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, scale: Tensor, d: NormModulateDims): { dx: Tensor; dshift: Tensor; dscale: Tensor } {
  const s = (t: Tensor) => t.storage('normModulateBwd');
  const r = x.backend.normModulateBwd(s(dy), s(x), s(mean), s(rstd), s(scale), d);
  return { dx: new Tensor(r.dx, x.shape), dshift: new Tensor(r.dshift, scale.shape), dscale: new Tensor(r.dscale, scale.shape) };
}

/**
 * DiT's gated residual x + gate ⊙ y: x, y [N, L, D], gate [N, D] broadcast over the L tokens
 * (one kernel instead of a mul and an add).
 */
export function gatedAdd(x: Tensor, gate: Tensor, y: Tensor, op = 'gatedAdd'): { out: Tensor; dims: NormModulateDims } {
  if (x.rank !== 3 || y.shape.join() !== x.shape.join() || gate.rank !== 2 || gate.shape[0] !== x.shape[0] || gate.shape[1] !== x.shape[2]) {
    throw new ShapeError(`${op}: x ${fmt(x.shape)}, gate ${fmt(gate.shape)}, y ${fmt(y.shape)} must be [N, L, D], [N, D], [N, L, D]`);
  }
  sameBackend(op, [x, gate, y]);
  sameDtype(op, x, gate);
  sameDtype(op, x, y);
  floatOnly(op, x);
  const [N, L, D] = x.shape as [number, number, number];
  const dims = { N, L, D };
  return { out: new Tensor(x.backend.gatedAdd(x.storage(op), gate.storage(op), y.storage(op), dims), x.shape), dims };
}

/** Its backward: dy = gate ⊙ g, dgate [N, D] = Σ_t g ⊙ y (null when y is: a frozen gate); dx is g. */
export function gatedAddBwd(g: Tensor, gate: Tensor, y: Tensor | null, d: NormModulateDims): { dgate: Tensor | null; dy: Tensor } {
  const s = (t: Tensor) => t.storage('gatedAddBwd');
  const r = g.backend.gatedAddBwd(s(g), s(gate), y ? s(y) : null, d);
  return { dgate: r.dgate ? new Tensor(r.dgate, gate.shape) : null, dy: new Tensor(r.dy, g.shape) };
}

/** One AdamW step, in place on params, m, v (all float, same backend; grads/m/v shaped as their param). */
export function adamw(params: readonly Tensor[], grads: readonly Tensor[], m: readonly Tensor[], v: readonly Tensor[], hp: AdamWHyper): void {
  const op = 'adamw';
  if (grads.length !== params.length || m.length !== params.length || v.length !== params.length) {
    throw new ShapeError(`${op}: ${params.length} params but ${grads.length} grads, ${m.length} m, ${v.length} v`);
  }
  if (params.length === 0) return;
  if (!(hp.step >= 1) || !Number.isInteger(hp.step)) throw new ShapeError(`${op}: step must be an integer >= 1, got ${hp.step}`);
  sameBackend(op, [...params, ...grads, ...m, ...v]);
  params.forEach((p, i) => {
    floatOnly(op, p);
    for (const t of [grads[i]!, m[i]!, v[i]!]) {
      sameDtype(op, p, t);
      if (t.size !== p.size) throw new ShapeError(`${op}: tensor ${i}: ${fmt(t.shape)} does not match its param ${fmt(p.shape)}`);
    }
  });
  const s = (t: Tensor) => t.storage(op);
  params[0]!.backend.adamw(params.map(s), grads.map(s), m.map(s), v.map(s), hp);
}
