/**
 * The gradient-check suite: for every differentiable op, a fast-check arbitrary of concrete
 * cases (shapes with size-1 and broadcast dims, values in the op's smooth domain). Used by the
 * property tests and by `avdit gradcheck`.
 */
import fc from 'fast-check';
import type { DType } from '../engine/dtype.ts';
import type { Tensor } from '../engine/tensor.ts';
import * as A from './index.ts';
import type { GradInput } from './gradcheck.ts';

export interface OpInstance {
  inputs: GradInput[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Short description of the case (shapes, flags) for failure messages. */
  note: string;
}

export interface OpCase {
  op: string;
  arb: fc.Arbitrary<OpInstance>;
}

// ---------- values ----------

/** Deterministic values from a seed (mulberry32), so cases shrink on shapes and stay reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Value domains: where each op is smooth, so finite differences are meaningful. */
export type Domain = 'any' | 'positive' | 'nonzero' | 'distinct' | 'awayFromHalf';

export function values(n: number, domain: Domain, seed: number): number[] {
  const r = seeded(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = r();
    switch (domain) {
      case 'any': out.push(4 * u - 2); break;
      case 'positive': out.push(0.5 + 1.5 * u); break;
      case 'nonzero': out.push((r() < 0.5 ? -1 : 1) * (0.2 + 1.8 * u)); break;
      case 'awayFromHalf': {
        // in [-2, 2] but at least 0.05 from ±0.5 and 0 (kinks of clamp/relu/abs)
        let v = 4 * u - 2;
        for (const k of [-0.5, 0, 0.5]) if (Math.abs(v - k) < 0.05) v = k + (v >= k ? 0.05 : -0.05);
        out.push(v);
        break;
      }
      case 'distinct': out.push(0); break;
    }
  }
  if (domain === 'distinct') {
    // a shuffled ladder: all values differ by at least 0.05 (no ties for max)
    const idx = out.map((_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    idx.forEach((v, i) => (out[i] = -1 + 0.05 * v + 0.01 * r()));
  }
  return out;
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export function input(shape: number[], domain: Domain, seed: number, grad = true, dtype?: DType): GradInput {
  return { shape, data: values(size(shape), domain, seed), grad, ...(dtype ? { dtype } : {}) };
}

// ---------- shapes ----------

export const dimArb = fc.integer({ min: 1, max: 4 });
export const shapeArb = (minRank = 0, maxRank = 4): fc.Arbitrary<number[]> => fc.array(dimArb, { minLength: minRank, maxLength: maxRank });
export const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });

/** Two shapes that broadcast to a common one: each may drop leading dims and set dims to 1. */
export const broadcastPairArb: fc.Arbitrary<[number[], number[]]> = shapeArb(0, 4).chain((out) =>
  fc.tuple(
    fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    fc.integer({ min: 0, max: out.length }),
    fc.integer({ min: 0, max: out.length }),
  ).map(([onesA, onesB, dropA, dropB]) => {
    const a = out.map((d, i) => (onesA[i] ? 1 : d)).slice(dropA);
    const b = out.map((d, i) => (onesB[i] ? 1 : d)).slice(dropB);
    return [a, b] as [number[], number[]];
  }),
);

const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;

// ---------- the cases ----------

function unaryCase(op: string, f: (x: Tensor) => Tensor, domain: Domain = 'any'): OpCase {
  return {
    op,
    arb: fc.tuple(shapeArb(0, 3), seedArb).map(([s, seed]) => ({ inputs: [input(s, domain, seed)], fn: f, note: fmt(s) })),
  };
}

function binaryCase(op: string, f: (a: Tensor, b: Tensor) => Tensor, da: Domain = 'any', db: Domain = 'any'): OpCase {
  return {
    op,
    arb: fc.tuple(broadcastPairArb, seedArb).map(([[a, b], seed]) => ({
      inputs: [input(a, da, seed), input(b, db, seed + 1)],
      fn: f,
      note: `${fmt(a)} ⊕ ${fmt(b)}`,
    })),
  };
}

/** A reduction: shape, a subset of axes, keepdim. */
function reduceCase(op: string, f: (x: Tensor, axes: number[], keep: boolean) => Tensor, domain: Domain): OpCase {
  return {
    op,
    arb: shapeArb(1, 4).chain((s) =>
      fc.tuple(fc.subarray(s.map((_, i) => i), { minLength: 1 }), fc.boolean(), seedArb).map(([axes, keep, seed]) => ({
        inputs: [input(s, domain, seed)],
        fn: (x: Tensor) => f(x, axes, keep),
        note: `${fmt(s)} axes ${fmt(axes)}${keep ? ' keepdim' : ''}`,
      })),
    ),
  };
}

const matmulCase: OpCase = {
  op: 'matmul',
  arb: fc
    .tuple(dimArb, dimArb, dimArb, fc.constantFrom<number[][]>([[], []], [[2], [2]], [[2], []], [[], [3]], [[2, 1], [3]]), fc.boolean(), fc.boolean(), seedArb)
    .map(([m, k, n, [ba, bb], ta, tb, seed]) => {
      const a = [...ba!, ...(ta ? [k, m] : [m, k])];
      const b = [...bb!, ...(tb ? [n, k] : [k, n])];
      return {
        inputs: [input(a, 'any', seed), input(b, 'any', seed + 1)],
        fn: (x: Tensor, y: Tensor) => A.matmul(x, y, ta, tb),
        note: `${fmt(a)}${ta ? 'ᵀ' : ''} @ ${fmt(b)}${tb ? 'ᵀ' : ''}`,
      };
    }),
};

const permuteCase: OpCase = {
  op: 'permute',
  arb: shapeArb(1, 5).chain((s) =>
    fc.tuple(fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length, maxLength: s.length }), seedArb).map(([perm, seed]) => ({
      inputs: [input(s, 'any', seed)],
      fn: (x: Tensor) => A.permute(x, perm),
      note: `${fmt(s)} perm ${fmt(perm)}`,
    })),
  ),
};

const sliceCase: OpCase = {
  op: 'slice',
  arb: shapeArb(1, 4).chain((s) =>
    fc.tuple(fc.tuple(...s.map((d) => fc.integer({ min: 0, max: d - 1 }))), seedArb).chain(([begin, seed]) =>
      fc.tuple(...s.map((d, i) => fc.integer({ min: 1, max: d - begin[i]! }))).map((sz) => ({
        inputs: [input(s, 'any', seed)],
        fn: (x: Tensor) => A.slice(x, begin, sz),
        note: `${fmt(s)} begin ${fmt(begin)} size ${fmt(sz)}`,
      })),
    ),
  ),
};

const padSliceCase: OpCase = {
  op: 'padSlice',
  arb: shapeArb(1, 4).chain((s) =>
    fc.tuple(fc.tuple(...s.map(() => fc.integer({ min: 0, max: 2 }))), fc.tuple(...s.map(() => fc.integer({ min: 0, max: 2 }))), seedArb).map(([before, after, seed]) => {
      const out = s.map((d, i) => before[i]! + d + after[i]!);
      return { inputs: [input(s, 'any', seed)], fn: (x: Tensor) => A.padSlice(x, out, before), note: `${fmt(s)} at ${fmt(before)} in ${fmt(out)}` };
    }),
  ),
};

const concatCase: OpCase = {
  op: 'concat',
  arb: shapeArb(1, 4).chain((s) =>
    fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), dimArb, seedArb).map(([axis, other, seed]) => {
      const s2 = s.map((d, i) => (i === axis ? other : d));
      return {
        inputs: [input(s, 'any', seed), input(s2, 'any', seed + 1)],
        fn: (a: Tensor, b: Tensor) => A.concat([a, b], axis),
        note: `${fmt(s)} ++ ${fmt(s2)} axis ${axis}`,
      };
    }),
  ),
};

// The composed attention's head split: q, k, v of H heads out of a packed [B, L, 3·H·d], each
// output weighed differently (and k, when `drop`, unused: its gradient is the zeros the rule adds).
const unpackHeadsCase: OpCase = {
  op: 'unpackHeads',
  arb: fc.tuple(dimArb, dimArb, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), seedArb).map(([b, l, h, d, drop, seed]) => ({
    inputs: [input([b, l, 3 * h * d], 'any', seed)],
    fn: (x: Tensor) => {
      const [q, k, v] = A.unpackHeads(x, h);
      return A.concat(drop ? [q, A.mul(v, 3)] : [q, A.mul(k, 2), A.mul(v, 3)], 0);
    },
    note: `[${b}, ${l}, 3·${h}·${d}]${drop ? ', k unused' : ''}`,
  })),
};

const expandCase: OpCase = {
  op: 'expand',
  arb: fc.tuple(broadcastPairArb, seedArb).map(([[a, b], seed]) => {
    // expand a to the broadcast of both
    const n = Math.max(a.length, b.length);
    const out = Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
    return { inputs: [input(a, 'any', seed)], fn: (x: Tensor) => A.expand(x, out), note: `${fmt(a)} → ${fmt(out)}` };
  }),
};

const reshapeCase: OpCase = {
  op: 'reshape',
  arb: fc.tuple(shapeArb(1, 4), seedArb).map(([s, seed]) => ({
    inputs: [input(s, 'any', seed)],
    fn: (x: Tensor) => A.mul(A.reshape(x, [-1]), A.reshape(x, [size(s)])),
    note: fmt(s),
  })),
};

const gatherCase: OpCase = {
  op: 'gather',
  arb: fc.tuple(dimArb, dimArb, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), seedArb).map(([v, d, raw, seed]) => {
    const idx = raw.map((i) => i % v);
    return {
      inputs: [input([v, d], 'any', seed), { shape: [idx.length], data: idx, grad: false, dtype: 'i32' as DType }],
      fn: (t: Tensor, i: Tensor) => A.gather(t, i),
      note: `table [${v},${d}] idx ${fmt(idx)}`,
    };
  }),
};

// D ≥ 3: with D = 2 and no affine the output is ±1 whatever x is, its gradient ~eps and finite differences are all rounding noise.
const layerNormCase: OpCase = {
  op: 'layerNorm',
  arb: fc.tuple(shapeArb(0, 2), fc.integer({ min: 3, max: 6 }), fc.boolean(), seedArb).map(([lead, d, affine, seed]) => {
    const s = [...lead, d];
    const inputs = [input(s, 'any', seed)];
    if (affine) inputs.push(input([d], 'any', seed + 1), input([d], 'any', seed + 2));
    return {
      inputs,
      fn: affine ? (x: Tensor, w: Tensor, b: Tensor) => A.layerNorm(x, w, b, 1e-5) : (x: Tensor) => A.layerNorm(x, null, null, 1e-6),
      note: `${fmt(s)}${affine ? ' affine' : ''}`,
    };
  }),
};

/** DiT's fused adaLN input: LayerNorm (no affine) of x [N, L, D], then ·(1 + scale) + shift ([N, D]); D ≥ 3 as layerNorm. */
const normModulateCase: OpCase = {
  op: 'normModulate',
  arb: fc.tuple(dimArb, dimArb, fc.integer({ min: 3, max: 6 }), seedArb).map(([n, l, d, seed]) => ({
    inputs: [input([n, l, d], 'any', seed), input([n, d], 'any', seed + 1), input([n, d], 'any', seed + 2)],
    fn: (x: Tensor, sh: Tensor, sc: Tensor) => A.normModulate(x, sh, sc, 1e-5),
    note: `[${n},${l},${d}]`,
  })),
};

/** DiT's gated residual x + gate ⊙ y: x, y [N, L, D], gate [N, D]. */
const addGatedCase: OpCase = {
  op: 'addGated',
  arb: fc.tuple(dimArb, dimArb, dimArb, seedArb).map(([n, l, d, seed]) => ({
    inputs: [input([n, l, d], 'any', seed), input([n, d], 'any', seed + 1), input([n, l, d], 'any', seed + 2)],
    fn: (x: Tensor, g: Tensor, y: Tensor) => A.addGated(x, g, y),
    note: `[${n},${l},${d}]`,
  })),
};

/** Fused attention on [n, len, d] tensors, and with the heads read in place (packed qkv; separate q, k, v). */
const attentionCase: OpCase = {
  op: 'attention',
  arb: fc.tuple(dimArb, dimArb, dimArb, dimArb, dimArb, seedArb).map(([n, l, s, dqk, dv, seed]) => ({
    inputs: [input([n, l, dqk], 'any', seed), input([n, s, dqk], 'any', seed + 1), input([n, s, dv], 'any', seed + 2)],
    fn: (q: Tensor, k: Tensor, v: Tensor) => A.attention(q, k, v),
    note: `q [${n},${l},${dqk}] k [${n},${s},${dqk}] v [${n},${s},${dv}]`,
  })),
};

const attentionPackedCase: OpCase = {
  op: 'attentionPacked',
  // dv set: q and k (d wide) narrower or wider than v, as the temporal adapter's stacked projection.
  arb: fc.tuple(dimArb, fc.integer({ min: 1, max: 2 }), dimArb, dimArb, fc.option(dimArb, { nil: undefined }), seedArb).map(([b, h, l, d, dv, seed]) => {
    const w = dv === undefined ? 3 * h * d : h * (2 * d + dv);
    return {
      inputs: [input([b, l, w], 'any', seed)],
      fn: (qkv: Tensor) => A.attentionPacked(qkv, h, dv === undefined ? {} : { dqk: d }),
      note: `qkv [${b},${l},${w}], ${h} heads${dv === undefined ? '' : `, q/k ${d}, v ${dv}`}`,
    };
  }),
};

const attentionHeadsCase: OpCase = {
  op: 'attentionHeads',
  arb: fc.tuple(dimArb, fc.integer({ min: 1, max: 2 }), dimArb, dimArb, dimArb, dimArb, seedArb).map(([b, h, l, s, dqk, dv, seed]) => ({
    inputs: [input([b, l, h * dqk], 'any', seed), input([b, s, h * dqk], 'any', seed + 1), input([b, s, h * dv], 'any', seed + 2)],
    fn: (q: Tensor, k: Tensor, v: Tensor) => A.attentionHeads(q, k, v, h),
    note: `${h} heads, l ${l}, s ${s}, ${dqk}/${dv}`,
  })),
};

const patchCase: OpCase = {
  op: 'patchify',
  arb: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2), seedArb).map(([n, c, h, w, p, seed]) => {
    const s = [n, c, h * p, w * p];
    return { inputs: [input(s, 'any', seed)], fn: (x: Tensor) => A.patchify(x, p), note: `${fmt(s)} p=${p}` };
  }),
};

const unpatchCase: OpCase = {
  op: 'unpatchify',
  arb: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2), seedArb).map(([n, c, h, w, p, seed]) => {
    const s = [n, h * w, p * p * c];
    return { inputs: [input(s, 'any', seed)], fn: (x: Tensor) => A.unpatchify(x, p, c, h, w), note: `${fmt(s)} p=${p} c=${c}` };
  }),
};

const linearCase: OpCase = {
  op: 'linear',
  arb: fc.tuple(shapeArb(0, 2), dimArb, dimArb, fc.boolean(), seedArb).map(([lead, i, o, bias, seed]) => {
    const inputs = [input([...lead, i], 'any', seed), input([o, i], 'any', seed + 1)];
    if (bias) inputs.push(input([o], 'any', seed + 2));
    return {
      inputs,
      fn: bias ? (x: Tensor, w: Tensor, b: Tensor) => A.linear(x, w, b) : (x: Tensor, w: Tensor) => A.linear(x, w),
      note: `${fmt([...lead, i])} · [${o},${i}]ᵀ${bias ? ' + b' : ''}`,
    };
  }),
};

const whereCase: OpCase = {
  op: 'where',
  arb: fc.tuple(broadcastPairArb, seedArb).map(([[a, b], seed]) => {
    const mask = values(size(a), 'any', seed + 7).map((v) => (v > 0 ? 1 : 0));
    return {
      inputs: [{ shape: a, data: mask, grad: false }, input(a, 'any', seed), input(b, 'any', seed + 1)],
      fn: (c: Tensor, x: Tensor, y: Tensor) => A.where(c, x, y),
      note: `mask ${fmt(a)} ? ${fmt(a)} : ${fmt(b)}`,
    };
  }),
};

/** A small two-layer block under activation checkpointing (the gradient must equal the plain one). */
const checkpointCase: OpCase = {
  op: 'checkpoint',
  arb: fc.tuple(dimArb, dimArb, seedArb).map(([n, d, seed]) => ({
    inputs: [input([n, d], 'any', seed), input([d, d], 'any', seed + 1)],
    fn: (x: Tensor, w: Tensor) => A.checkpoint((u: Tensor, v: Tensor) => A.gelu(A.matmul(A.tanh(u), v)), x, w),
    note: `[${n},${d}]`,
  })),
};

export const OP_CASES: readonly OpCase[] = [
  unaryCase('neg', A.neg),
  unaryCase('affine', (x) => A.affine(x, -1.5, 0.25)),
  unaryCase('exp', A.exp),
  unaryCase('log', A.log, 'positive'),
  unaryCase('sqrt', A.sqrt, 'positive'),
  unaryCase('rsqrt', A.rsqrt, 'positive'),
  unaryCase('recip', A.recip, 'nonzero'),
  unaryCase('square', A.square),
  unaryCase('powScalar', (x) => A.powScalar(x, 2.5), 'positive'),
  unaryCase('tanh', A.tanh),
  unaryCase('sigmoid', A.sigmoid),
  unaryCase('silu', A.silu),
  unaryCase('gelu', A.gelu),
  unaryCase('relu', A.relu, 'awayFromHalf'),
  unaryCase('abs', A.abs, 'awayFromHalf'),
  unaryCase('sin', A.sin),
  unaryCase('cos', A.cos),
  unaryCase('clamp', (x) => A.clamp(x, -0.5, 0.5), 'awayFromHalf'),
  binaryCase('add', A.add),
  binaryCase('sub', A.sub),
  binaryCase('mul', A.mul),
  binaryCase('div', A.div, 'any', 'nonzero'),
  binaryCase('pow', A.pow, 'positive', 'any'),
  binaryCase('maximum', A.maximum, 'distinct', 'distinct'),
  binaryCase('minimum', A.minimum, 'distinct', 'distinct'),
  whereCase,
  reduceCase('sum', (x, a, k) => A.sum(x, a, k), 'any'),
  reduceCase('mean', (x, a, k) => A.mean(x, a, k), 'any'),
  reduceCase('max', (x, a, k) => A.max(x, a, k), 'distinct'),
  matmulCase,
  linearCase,
  reshapeCase,
  permuteCase,
  { op: 'transpose', arb: fc.tuple(shapeArb(2, 4), seedArb).map(([s, seed]) => ({ inputs: [input(s, 'any', seed)], fn: (x: Tensor) => A.transpose(x, 0, -1), note: fmt(s) })) },
  sliceCase,
  padSliceCase,
  concatCase,
  unpackHeadsCase,
  expandCase,
  gatherCase,
  unaryCase('softmax', (x) => (x.rank === 0 ? A.softmax(A.reshape(x, [1])) : A.softmax(x))),
  unaryCase('softmaxScaled', (x) => A.softmax(x.rank === 0 ? A.reshape(x, [1]) : x, 0.37)),
  layerNormCase,
  normModulateCase,
  addGatedCase,
  attentionCase,
  attentionPackedCase,
  attentionHeadsCase,
  patchCase,
  unpatchCase,
  checkpointCase,
];
