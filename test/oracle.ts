/**
 * An independent reference for the forward pass of every op: an N-d array addressed by
 * coordinates (no strides, no odometers, nothing shared with the engine), and each op written
 * the obvious way. matmul uses mathjs.
 */
import * as math from 'mathjs';

export class Ref {
  constructor(readonly shape: number[], readonly data: number[]) {
    if (shape.reduce((a, b) => a * b, 1) !== data.length) throw new Error('Ref: size mismatch');
  }
  static build(shape: number[], f: (c: number[]) => number): Ref {
    return new Ref(shape, coords(shape).map(f));
  }
  index(c: readonly number[]): number {
    let i = 0;
    for (let d = 0; d < this.shape.length; d++) i = i * this.shape[d]! + c[d]!;
    return i;
  }
  at(c: readonly number[]): number {
    return this.data[this.index(c)]!;
  }
  /** Read at an output coordinate with broadcasting (right-aligned, size-1 dims repeat). */
  atBroadcast(c: readonly number[]): number {
    const off = c.length - this.shape.length;
    return this.at(this.shape.map((d, i) => (d === 1 ? 0 : c[i + off]!)));
  }
}

/** All coordinates of a shape in row-major order. */
export function coords(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const d of shape) {
    const next: number[][] = [];
    for (const c of out) for (let i = 0; i < d; i++) next.push([...c, i]);
    out = next;
  }
  return out;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
}

export function map2(a: Ref, b: Ref, f: (x: number, y: number) => number): Ref {
  return Ref.build(broadcastShape(a.shape, b.shape), (c) => f(a.atBroadcast(c), b.atBroadcast(c)));
}

export function reduce(x: Ref, axes: number[], keep: boolean, f: 'sum' | 'max' | 'mean'): Ref {
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const acc = new Map<number, number[]>();
  const out = Ref.build(outShape, () => 0);
  for (const c of coords(x.shape)) {
    const oc = c.map((v, i) => (axes.includes(i) ? 0 : v));
    const k = out.index(oc);
    acc.set(k, [...(acc.get(k) ?? []), x.at(c)]);
  }
  const data = out.data.map((_, k) => {
    const vs = acc.get(k) ?? [];
    return f === 'max' ? Math.max(...vs) : f === 'sum' ? vs.reduce((a, b) => a + b, 0) : vs.reduce((a, b) => a + b, 0) / vs.length;
  });
  return new Ref(keep ? outShape : x.shape.filter((_, i) => !axes.includes(i)), data);
}

/** Batched matmul through mathjs on each batch's 2-D matrices. */
export function matmul(a: Ref, b: Ref, ta: boolean, tb: boolean): Ref {
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const mat = (x: Ref, bc: number[], t: boolean): number[][] => {
    const [r, cdim] = x.shape.slice(-2) as [number, number];
    const off = bc.length - (x.shape.length - 2);
    const lead = x.shape.slice(0, -2).map((d, i) => (d === 1 ? 0 : bc[i + off]!));
    const m = Array.from({ length: r }, (_, i) => Array.from({ length: cdim }, (_, j) => x.at([...lead, i, j])));
    return t ? (math.transpose(m) as number[][]) : m;
  };
  const blocks = coords(batch).map((bc) => math.multiply(mat(a, bc, ta), mat(b, bc, tb)) as number[][]);
  const m = blocks[0]!.length, n = blocks[0]![0]!.length;
  return new Ref([...batch, m, n], blocks.flatMap((blk) => blk.flat()));
}

export function permute(x: Ref, perm: number[]): Ref {
  return Ref.build(perm.map((p) => x.shape[p]!), (c) => {
    const src = new Array<number>(perm.length);
    perm.forEach((p, i) => (src[p] = c[i]!));
    return x.at(src);
  });
}

export function slice(x: Ref, begin: number[], size: number[]): Ref {
  return Ref.build(size, (c) => x.at(c.map((v, i) => v + begin[i]!)));
}

export function concat(xs: Ref[], axis: number): Ref {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
  return Ref.build(shape, (c) => {
    let k = c[axis]!;
    for (const x of xs) {
      if (k < x.shape[axis]!) return x.at(c.map((v, i) => (i === axis ? k : v)));
      k -= x.shape[axis]!;
    }
    throw new Error('unreachable');
  });
}

export function softmax(x: Ref): Ref {
  const d = x.shape.at(-1)!;
  const data = [...x.data];
  for (let o = 0; o < data.length; o += d) {
    const row = data.slice(o, o + d);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    e.forEach((v, j) => (data[o + j] = v / s));
  }
  return new Ref(x.shape, data);
}

export function layerNorm(x: Ref, w: number[] | null, b: number[] | null, eps: number): Ref {
  const d = x.shape.at(-1)!;
  const data = [...x.data];
  for (let o = 0; o < data.length; o += d) {
    const row = data.slice(o, o + d);
    const mu = row.reduce((a, v) => a + v, 0) / d;
    const v = row.reduce((a, u) => a + (u - mu) ** 2, 0) / d;
    row.forEach((u, j) => (data[o + j] = ((u - mu) / Math.sqrt(v + eps)) * (w ? w[j]! : 1) + (b ? b[j]! : 0)));
  }
  return new Ref(x.shape, data);
}

/** GELU with the tanh approximation, written out again (independent of engine/cpu). */
export function geluRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)));
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`${what}: element ${i}: got ${a}, expected ${e}`);
  }
}
