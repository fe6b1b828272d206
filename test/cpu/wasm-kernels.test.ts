// engine/cpu/wasm/kernels.wat: f32 GELU and its gradient give the same bits as the JavaScript
// they replace (scalar-math.ts), on random, special and tie-making inputs, over odd lengths and
// sub-ranges; so do the f32 binary ops (with broadcasting) and affine, square, neg, abs, relu
// (NaN payloads aside); transposes and
// strided row copies put every element where the loops do; the Philox words equal philox4x32's, and the CPU backend's random fills equal
// engine/rng.ts philoxFill, across chunks and the counter's 32-bit carry; the committed bytes are
// a fresh compile of the WAT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { geluF32, geluGradF32, expF32 } from '../../engine/cpu/scalar-math.ts';
import { fillRandom } from '../../engine/cpu/random-fill.ts';
import { kernelsWasmBytes } from '../../engine/cpu/wasm/kernels-wasm.ts';
import { binaryWasm, colSumWasm, expWasm, geluBwdWasm, geluWasm, PHILOX_WASM_CHUNK, philoxWordsWasm, transposeWasm, unaryWasm } from '../../engine/cpu/wasm/elementwise.ts';
import { binaryFn, unaryFn } from '../../engine/cpu/scalar-math.ts';
import { forEachBroadcast } from '../../engine/cpu/indexing.ts';
import { gatherRows, gatherRowsMany, scatterRows, scatterRowsMany } from '../../engine/cpu/attention-layout.ts';
import type { BinaryOp, UnaryOp } from '../../engine/backend.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { philox4x32, philoxFill, split64 } from '../../engine/rng.ts';
import { assertFreshCompile } from './fresh-wasm.ts';

/** The tests that need the module: not run when AVDIT_CPU_WASM=0 turns it off. */
const WASM = { skip: process.env.AVDIT_CPU_WASM === '0' ? 'AVDIT_CPU_WASM=0' : false };

const bits = (a: Float32Array | Float64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** The first index where two arrays differ in their bits (NaN payloads included), or −1. */
function firstDiff(a: Float32Array | Float64Array, b: Float32Array | Float64Array): number {
  const w = a.BYTES_PER_ELEMENT;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / w);
  return -1;
}

const SPECIAL = [0, -0, 1, -1, 1e-45, -1e-45, 1e-38, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 5, -5, 9, -9, 20, -20, 87, -87, 1e6, -1e6];

test('exp: the same bits as expF32, ties of Math.round (which rounds them up, nearest to even) included', WASM, () => {
  const ys: number[] = [...SPECIAL, 100, -100, 100.5, -100.5, 745, -745];
  // y whose y·log2(e) is exactly k + ½: Math.round and f64x2.nearest disagree for even k.
  for (let k = -140; k <= 140; k++) {
    let y = (k + 0.5) / Math.LOG2E;
    for (let step = 0; step < 64 && y * Math.LOG2E !== k + 0.5; step++) {
      const f = new Float64Array([y]);
      const u = new BigInt64Array(f.buffer);
      u[0] = u[0]! + (y * Math.LOG2E < k + 0.5 === y > 0 ? 1n : -1n);
      y = f[0]!;
    }
    if (y * Math.LOG2E === k + 0.5) ys.push(y);
  }
  assert.ok(ys.length > 200, `found ${ys.length - SPECIAL.length - 6} tie inputs`);
  let seed = 3;
  for (let i = 0; i < 20000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    ys.push((seed / 2 ** 32 - 0.5) * 230);
  }
  const y = Float64Array.from(ys);
  const got = expWasm(y)!;
  const want = y.map(expF32);
  const d = firstDiff(got, want);
  assert.equal(d, -1, d >= 0 ? `exp(${y[d]}): wasm ${got[d]} vs js ${want[d]}` : '');
});

test('gelu and its gradient: the same bits as geluF32 / geluGradF32 on any f32 (fast-check), odd lengths, sub-ranges', WASM, () => {
  const f32 = fc.oneof(
    fc.float({ noDefaultInfinity: false, noNaN: false }),
    fc.float({ min: -12, max: 12, noNaN: true }),
    fc.constantFrom(...SPECIAL.map(Math.fround)),
  );
  fc.assert(
    fc.property(fc.array(f32, { minLength: 1, maxLength: 300 }), fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: 300, maxLength: 300 }), fc.nat(), fc.nat(), (xs, dys, a, b) => {
      const X = Float32Array.from(xs), DY = Float32Array.from(dys.slice(0, xs.length));
      const lo = a % X.length, hi = lo + (b % (X.length - lo + 1));
      const O = new Float32Array(X.length).fill(7), G = new Float32Array(X.length).fill(7);
      assert.ok(geluWasm(X, O, lo, hi) && geluBwdWasm(X, DY, G, lo, hi));
      const O2 = new Float32Array(X.length).fill(7), G2 = new Float32Array(X.length).fill(7);
      for (let i = lo; i < hi; i++) {
        O2[i] = geluF32(X[i]!);
        G2[i] = DY[i]! * geluGradF32(X[i]!);
      }
      const d = firstDiff(O, O2), e = firstDiff(G, G2);
      assert.equal(d, -1, d >= 0 ? `gelu(${X[d]}): wasm ${O[d]} vs js ${O2[d]}` : '');
      assert.equal(e, -1, e >= 0 ? `gelu'(${X[e]})·${DY[e]}: wasm ${G[e]} vs js ${G2[e]}` : '');
    }),
    { numRuns: 300, seed: 5 },
  );
  // Longer than a chunk (the copies in and out go a chunk at a time).
  const n = 65536 * 2 + 3;
  const X = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 6);
  const O = new Float32Array(n), O2 = X.map(geluF32);
  geluWasm(X, O, 0, n);
  assert.equal(bits(O), bits(O2));
});

test('every f64 constant in kernels.wat is the value of the JavaScript expression it stands for', () => {
  // f32 outputs hide a constant one f64 ulp off almost always, so the literals are checked
  // directly (wabt reads decimal literals correctly rounded, as Number does).
  const c = Math.sqrt(2 / Math.PI), a = 0.044715;
  const allowed = new Map<number, string>([
    [100, 'clamp'], [-100, 'clamp'], [Math.LOG2E, 'log2 e'], [0.6931471803691238, 'LN2_HI'], [1.9082149292705877e-10, 'LN2_LO'],
    [1, '1'], [0.5, '1/2'], [1 / 6, '1/6'], [1 / 24, '1/24'], [1 / 120, '1/120'], [1 / 720, '1/720'], [1 / 5040, '1/5040'],
    [-2 * c, '−2c'], [a, 'a'], [c, 'c'], [3 * a, '3a'], [2, '2'], [0, '0'], [-Infinity, 'the running maximum\'s start'],
  ]);
  const wat = readFileSync(new URL('../../engine/cpu/wasm/kernels.wat', import.meta.url), 'utf8').replace(/;;.*$/gm, '');
  const literals = [...wat.matchAll(/f64\.const\s+(\S+?)\)/g)].map((m) => m[1]!.replace(/^(-?)inf$/, '$1Infinity'));
  assert.ok(literals.length >= allowed.size);
  const seen = new Set<string>();
  for (const lit of literals) {
    const name = allowed.get(Number(lit));
    assert.ok(name, `f64.const ${lit} is none of the expected values`);
    seen.add(name);
  }
  assert.deepEqual([...allowed.values()].filter((n) => !seen.has(n)), [], 'constants never used');
});

test('sums over leading axes (bias gradients): the same bits as adding row after row in f32, through the backend', WASM, () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer(), (dims, lead, seed) => {
      const shape = dims;
      const p = Math.min(lead, shape.length - 1);
      const R = shape.slice(0, p).reduce((a, b) => a * b, 1), C = shape.slice(p).reduce((a, b) => a * b, 1);
      let x = seed >>> 0;
      const X = Float32Array.from({ length: R * C }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 1e3);
      const want = new Float32Array(C);
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want[c] += X[r * C + c]!;
      const axes = Array.from({ length: p }, (_, i) => p - 1 - i); // given in any order
      const got = cpuBackend.readSync!(cpuBackend.reduce('sum', cpuBackend.fromArray(X, 'f32'), shape, axes)) as Float32Array;
      assert.equal(firstDiff(got, want), -1, `shape ${shape} axes ${axes}`);
    }),
    { numRuns: 200, seed: 3 },
  );
  // Longer than a chunk of rows, and wider than a chunk.
  for (const [R, C] of [[5000, 64], [3, 70000]]) {
    const X = Float32Array.from({ length: R * C }, (_, i) => Math.sin(i));
    const want = new Float32Array(C);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want[c] += X[r * C + c]!;
    const O = new Float32Array(C);
    assert.ok(colSumWasm(X, O, R, C));
    assert.equal(firstDiff(O, want), -1, `${R}×${C}`);
  }
});

/** The first index where two f32 arrays differ, NaN matching any NaN (payloads may differ), or −1. */
function firstValueDiff(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)) continue;
    if (!Object.is(a[i], b[i])) return i;
  }
  return a.length === b.length ? -1 : a.length;
}

/** f32 values: any (fast-check's float: NaN, ±∞, ±0, subnormals) or one of SPECIAL, rounded to f32. */
const f32Value = fc.oneof(fc.float({ noDefaultInfinity: false, noNaN: false }), fc.constantFrom(...SPECIAL.map(Math.fround)));

/**
 * An output shape (rank 1–4, rows of 32 … 70 so the kernel takes them) and two input shapes
 * broadcasting to it (each dim its own or 1), with values for both.
 */
const broadcastCase = fc
  .tuple(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 }), fc.integer({ min: 32, max: 70 }))
  .chain(([lead, last]) => {
    const out = [...lead, last];
    const shapeOf = (keep: boolean[]) => out.map((d, i) => (keep[i] ? d : 1));
    return fc.tuple(fc.constant(out), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .chain(([o, ka, kb]) => {
        const aShape = shapeOf(ka), bShape = shapeOf(kb);
        const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
        return fc.record({
          out: fc.constant(o), aShape: fc.constant(aShape), bShape: fc.constant(bShape),
          a: fc.array(f32Value, { minLength: size(aShape), maxLength: size(aShape) }),
          b: fc.array(f32Value, { minLength: size(bShape), maxLength: size(bShape) }),
        });
      });
  });

test('f32 binary ops with broadcasting: the same values as the JavaScript definitions (fast-check, special values)', WASM, () => {
  const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'gt', 'ge', 'lt', 'le'];
  fc.assert(
    fc.property(broadcastCase, fc.constantFrom(...ops), (c, op) => {
      const A = Float32Array.from(c.a), B = Float32Array.from(c.b);
      const size = c.out.reduce((x, y) => x * y, 1);
      const want = new Float32Array(size);
      const f = binaryFn(op, true);
      forEachBroadcast(c.out, [c.aShape, c.bShape], (i, offs) => (want[i] = f(A[offs[0]!]!, B[offs[1]!]!)));
      const got = new Float32Array(size);
      // Rows of 32 and up: the kernel must take them (whatever the broadcast merges them into).
      assert.ok(binaryWasm(op, got, A, c.aShape, B, c.bShape, c.out), 'the kernel took the op');
      const d = firstValueDiff(got, want);
      assert.equal(d, -1, d >= 0 ? `${op} ${c.aShape}·${c.bShape}→${c.out} at ${d}: wasm ${got[d]} vs js ${want[d]}` : '');
      // One array as both operands (x·x, x − x: autograd's squares), where the shapes allow.
      if (c.bShape.every((d, i) => d === c.aShape[i])) {
        const same = new Float32Array(size), wantSame = new Float32Array(size);
        assert.ok(binaryWasm(op, same, A, c.aShape, A, c.aShape, c.out));
        forEachBroadcast(c.out, [c.aShape, c.aShape], (i, offs) => (wantSame[i] = f(A[offs[0]!]!, A[offs[1]!]!)));
        assert.equal(firstValueDiff(same, wantSame), -1, `${op} of one array with itself`);
      }
      // In place (O = A, as the matmul's bias add calls it) where A has the output's shape.
      if (c.aShape.every((d, i) => d === c.out[i])) {
        const inPlace = Float32Array.from(A);
        assert.ok(binaryWasm(op, inPlace, inPlace, c.aShape, B, c.bShape, c.out));
        assert.equal(firstValueDiff(inPlace, want), -1, `${op} in place`);
      }
      // And through the backend (which may also run the JavaScript), the same.
      const viaBackend = cpuBackend.readSync!(cpuBackend.binary(op, cpuBackend.fromArray(A, 'f32'), c.aShape, cpuBackend.fromArray(B, 'f32'), c.bShape, c.out)) as Float32Array;
      assert.equal(firstValueDiff(viaBackend, want), -1, `${op} through the backend`);
    }),
    { numRuns: 400, seed: 11 },
  );
});

test('f32 affine, square, neg, abs, relu: the same values as the JavaScript definitions (fast-check, special values)', WASM, () => {
  const ops: UnaryOp[] = ['affine', 'square', 'neg', 'abs', 'relu'];
  const coef = fc.oneof(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), fc.constantFrom(0, -0, 1, -1, 1 / 3, Math.PI));
  fc.assert(
    fc.property(fc.array(f32Value, { minLength: 32, maxLength: 300 }), fc.constantFrom(...ops), coef, coef, (xs, op, a, b) => {
      const X = Float32Array.from(xs);
      const f = unaryFn(op, a, b);
      const want = X.map((x) => f(x));
      const got = new Float32Array(X.length);
      assert.ok(unaryWasm(op, X, got, a, b));
      const d = firstValueDiff(got, want);
      assert.equal(d, -1, d >= 0 ? `${op}(${X[d]}) a=${a} b=${b}: wasm ${got[d]} vs js ${want[d]}` : '');
    }),
    { numRuns: 300, seed: 5 },
  );
});

test('transposes: every element where the loop puts it, any rows and columns (4×4 blocks, 32×32 tiles, edges), at offsets', WASM, () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 90 }), fc.integer({ min: 1, max: 90 }), fc.nat(7), fc.nat(7), (rows, cols, xOff, oOff) => {
      fc.pre(rows * cols >= 256);
      const x = Float32Array.from({ length: xOff + rows * cols }, (_, i) => i - xOff);
      const got = new Float32Array(oOff + rows * cols).fill(-1);
      assert.ok(transposeWasm(x, xOff, got, oOff, rows, cols));
      for (let i = 0; i < oOff; i++) assert.equal(got[i], -1, 'before the output');
      for (let c = 0; c < cols; c++) {
        for (let r = 0; r < rows; r++) {
          const v = got[oOff + c * rows + r];
          if (v !== r * cols + c) assert.fail(`${rows}×${cols}: out[${c}][${r}] = ${v}, want ${r * cols + c}`);
        }
      }
    }),
    { numRuns: 300, seed: 9 },
  );
});

test('attention rows gathered from and scattered into a packed projection: as the loops do it (f64 arrays take the loops)', WASM, () => {
  // [B, L, 3, H, w] (a qkv projection): operand j's row i of head (b, h) at ((b·L + i)·3 + j)·H·w + h·w.
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 4, max: 20 }), fc.integer({ min: 1, max: 19 }), fc.nat(2), (B, H, L, w, j) => {
      fc.pre(B * H * L * w >= 256);
      const r = { off: j * H * w, sB: L * 3 * H * w, sH: w, sL: 3 * H * w };
      const n = B * H, size = B * L * 3 * H * w;
      const src = Float32Array.from({ length: size }, (_, i) => i);
      const got = new Float32Array(n * L * w), want = new Float64Array(n * L * w);
      gatherRows(src, r, H, n, L, w, got);
      gatherRows(Float64Array.from(src), r, H, n, L, w, want);
      assert.deepEqual([...got], [...want], 'gather');
      const rows = Float32Array.from({ length: n * L * w }, (_, i) => -1 - i);
      const dst = new Float32Array(size).fill(0.5), dst64 = new Float64Array(size).fill(0.5);
      scatterRows(rows, dst, r, H, n, L, w);
      scatterRows(Float64Array.from(rows), dst64, r, H, n, L, w);
      assert.deepEqual([...dst], [...dst64], 'scatter (the other operands\' rows untouched)');
      // q, k, v at once (one copy of the projection), and their gradients back into one packed array.
      const parts = [0, 1, 2].map((jj) => ({ r: { off: jj * H * w, sB: r.sB, sH: w, sL: r.sL }, len: L, w }));
      const outs = parts.map(() => new Float32Array(n * L * w));
      gatherRowsMany(src, H, n, parts, outs);
      parts.forEach((p, i) => {
        const one = new Float64Array(n * L * w);
        gatherRows(Float64Array.from(src), p.r, H, n, L, w, one);
        assert.deepEqual([...outs[i]!], [...one], `gather many, operand ${i}`);
      });
      const grads = parts.map((_, i) => Float32Array.from({ length: n * L * w }, (__, e) => 1000 * i + e));
      const packed = new Float32Array(size), packed64 = new Float64Array(size);
      scatterRowsMany(packed, H, n, parts, grads);
      parts.forEach((p, i) => scatterRows(Float64Array.from(grads[i]!), packed64, p.r, H, n, L, w));
      assert.deepEqual([...packed], [...packed64], 'scatter many');
    }),
    { numRuns: 200, seed: 4 },
  );
});

test('Philox words equal philox4x32, across the 32-bit carry of the counter', WASM, () => {
  for (const [offset, seed] of [[0, 0], [2 ** 32 - 3, 12345], [2 ** 45 + 17, 2 ** 40 + 99]] as const) {
    const [o0, o1] = split64(offset), [k0, k1] = split64(seed);
    const w = philoxWordsWasm(8, o0, o1, k0, k1)!;
    for (let i = 0; i < 8; i++) {
      const [lo, hi] = split64(offset + i);
      const [w0, w1] = philox4x32(lo, hi, 0, 0, k0, k1);
      assert.deepEqual([w[2 * i], w[2 * i + 1]], [w0, w1], `counter ${offset} + ${i}, seed ${seed}`);
    }
  }
});

test('the CPU backend\'s random fills equal philoxFill (uniform and normal, f32 and f64, past a chunk)', WASM, () => {
  const n = PHILOX_WASM_CHUNK + 5;
  for (const dist of ['uniform', 'normal'] as const) {
    for (const Arr of [Float32Array, Float64Array]) {
      const offset = 2 ** 32 - 100;
      const got = new Arr(n), want = new Arr(n);
      fillRandom(got, dist, 77, offset);
      philoxFill(want, dist, 77, offset);
      assert.equal(firstDiff(got, want), -1, `${dist} ${Arr.name}`);
    }
  }
});

test('the committed kernels-wasm.ts is a fresh wabt compile of kernels.wat (npm run build:wasm)', () => assertFreshCompile('kernels', kernelsWasmBytes));
