/**
 * kernels.wat's element-wise kernels as the CPU backend calls them: f32 GELU and its gradient (the
 * same bits as scalar-math.ts geluF32 / geluGradF32, two f64 lanes at a time), the Philox words of
 * a run of counters (the draws themselves are made from them in engine/rng.ts), f32 arithmetic
 * (binary ops with broadcasting, affine, square …: the same values as the JavaScript loops),
 * transposes and the strided row copies of attention operands (DiT's row-wise fused ops: rows.ts).
 * Each call copies its operands into the module's memory and the results back: for a memory-bound
 * op the copies cost less than the JavaScript loop they replace (bench/cpu-kernels.ts).
 *
 * Each function returns false (having done nothing) where the module is unavailable
 * (AVDIT_CPU_WASM=0, no WebAssembly SIMD): the caller runs its JavaScript loop instead.
 */
import type { BinaryOp, UnaryOp } from '../../backend.ts';
import type { Shape } from '../../shape.ts';
import type { RowLayout } from '../../../kernels/attention-layout.ts';
import { forEachRow, rowLength } from '../indexing.ts';
import { callOnCopies, MAX_COPY_FLOATS, reserve, up16 } from './instance.ts';
import { kernels as load, type KernelsModule as Kernel } from './kernels.ts';

/** Elements per chunk (64 Ki: three f32 arrays in 768 KB, within L2). */
const CHUNK = 1 << 16;
/** Bytes per operand slot in memory: a chunk plus the up to 3 elements the kernels may compute past its end. */
const SLOT = (CHUNK + 4) * 4;

/** f32 views of the module's memory at the three operand slots (re-made when memory grows). */
let views: Float32Array[] = [];
function slots(k: Kernel, count: number): Float32Array[] {
  reserve(k.memory, count * SLOT);
  if (views.length < count || views[0]!.buffer !== k.memory.buffer) {
    views = Array.from({ length: count }, (_, i) => new Float32Array(k.memory.buffer, i * SLOT, CHUNK));
  }
  return views;
}

/** O[i] = gelu(X[i]) for i in [lo, hi). */
export function geluWasm(X: Float32Array, O: Float32Array, lo: number, hi: number): boolean {
  const k = load();
  if (!k) return false;
  const [xs, os] = slots(k, 2) as [Float32Array, Float32Array];
  for (let i = lo; i < hi; i += CHUNK) {
    const n = Math.min(CHUNK, hi - i);
    xs.set(X.subarray(i, i + n));
    k.gelu(0, SLOT, n);
    O.set(os.subarray(0, n), i);
  }
  return true;
}

/** O[i] = DY[i]·gelu'(X[i]) for i in [lo, hi). */
export function geluBwdWasm(X: Float32Array, DY: Float32Array, O: Float32Array, lo: number, hi: number): boolean {
  const k = load();
  if (!k) return false;
  const [xs, ds, os] = slots(k, 3) as [Float32Array, Float32Array, Float32Array];
  for (let i = lo; i < hi; i += CHUNK) {
    const n = Math.min(CHUNK, hi - i);
    xs.set(X.subarray(i, i + n));
    ds.set(DY.subarray(i, i + n));
    k.geluBwd(0, SLOT, 2 * SLOT, n);
    O.set(os.subarray(0, n), i);
  }
  return true;
}

/**
 * Words 0 and 1 of philox4x32-10 for the n counters (o1·2^32 + o0) + i with key (k0, k1), as
 * [w0 of counter 0, w1 of counter 0, w0 of counter 1, …]: a view into the module's memory, valid
 * until the next call. null where the module is unavailable. n at most CHUNK.
 */
export function philoxWordsWasm(n: number, o0: number, o1: number, k0: number, k1: number): Uint32Array | null {
  const k = load();
  if (!k) return null;
  if (n > CHUNK) throw new RangeError(`philoxWordsWasm: ${n} counters, at most ${CHUNK} a call`);
  reserve(k.memory, 2 * SLOT);
  k.philox(0, n, o0, o1, k0, k1);
  return new Uint32Array(k.memory.buffer, 0, 2 * n);
}

export const PHILOX_WASM_CHUNK = CHUNK;

/**
 * O[c] += X[r·C + c] for r < R in row order (f32; O as the caller zeroed it): the sum over leading
 * axes, the same bits as the CPU backend's reduce. Rows go in a chunk at a time; O stays in the
 * module's memory meanwhile.
 */
export function colSumWasm(X: Float32Array, O: Float32Array, R: number, C: number): boolean {
  const k = load();
  if (!k) return false;
  const rows = Math.max(1, Math.floor(CHUNK / C));
  const acc = up16(4 * C);
  reserve(k.memory, acc + 4 * rows * C);
  const F = new Float32Array(k.memory.buffer);
  F.set(O);
  for (let r = 0; r < R; r += rows) {
    const n = Math.min(rows, R - r);
    F.set(X.subarray(r * C, (r + n) * C), acc / 4);
    k.colSum(acc, 0, n, C);
  }
  O.set(F.subarray(0, C));
  return true;
}

/** expF32 of each element (f64), by the module's exp (for the tests); null where unavailable. */
export function expWasm(y: Float64Array): Float64Array | null {
  const k = load();
  if (!k) return null;
  const n = y.length + (y.length & 1);
  reserve(k.memory, 16 * n);
  const mem = new Float64Array(k.memory.buffer, 0, 2 * n);
  mem.set(y);
  k.exp(0, 8 * n, n);
  return mem.slice(n, n + y.length);
}

/** The binary ops kernels.wat computes, in the order of its $binop. */
const BINARY_WASM: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'gt', 'ge', 'lt', 'le'];
/** The unary ops kernels.wat computes, in the order of its $unop. */
const UNARY_WASM: readonly UnaryOp[] = ['affine', 'square', 'neg', 'abs', 'relu'];

/**
 * Rows shorter than this stay in JavaScript: a call into the module costs about what a
 * JavaScript loop spends on a few dozen elements.
 */
const MIN_ROW = 32;

/**
 * O = A op B (f32) with broadcasting, as the CPU backend's binary: A and B copied into the
 * module's memory whole, the output computed row by row (forEachRow) and copied back. False
 * (nothing done) for ops and shapes it does not take: ops outside BINARY_WASM, short rows, huge operands.
 */
export function binaryWasm(op: BinaryOp, O: Float32Array, A: Float32Array, aShape: Shape, B: Float32Array, bShape: Shape, outShape: Shape): boolean {
  const code = BINARY_WASM.indexOf(op);
  if (code < 0 || A.length + B.length + O.length > MAX_COPY_FLOATS || rowLength(outShape, [aShape, bShape]) < MIN_ROW) return false;
  const k = load();
  if (!k) return false;
  // A, B and O in the module (padded), then 32 bytes of scratch for broadcast values. O gets its own
  // region even when it is A (the matmul's bias add): a row's last quad may write past the row,
  // into the next row's input.
  callOnCopies(k.memory, [A, B], [O === A ? O.subarray(0) : O], ([a0, b0, o0, tmp]) =>
    forEachRow(outShape, [aShape, bShape], (start, offs, inner, n) =>
      k.binary(code, o0! + 4 * start, a0! + 4 * offs[0]!, b0! + 4 * offs[1]!, n, inner[0]!, inner[1]!, tmp!)), 8);
  return true;
}

/** O[i] = f(X[i]) (f32) for the ops of UNARY_WASM (affine: a·x + b), a chunk at a time; false for other ops. */
export function unaryWasm(op: UnaryOp, X: Float32Array, O: Float32Array, a: number, b: number): boolean {
  const code = UNARY_WASM.indexOf(op);
  if (code < 0 || X.length < MIN_ROW) return false;
  const k = load();
  if (!k) return false;
  const [xs, os] = slots(k, 2) as [Float32Array, Float32Array];
  for (let i = 0; i < X.length; i += CHUNK) {
    const n = Math.min(CHUNK, X.length - i);
    xs.set(X.subarray(i, i + n));
    k.unary(code, SLOT, 0, n, a, b);
    O.set(os.subarray(0, n), i);
  }
  return true;
}

/**
 * out[outOff + c·rows + r] = x[xOff + r·cols + c] (f32): copied in, transposed in 4×4 blocks,
 * copied back. False (nothing done) for small or huge matrices or without the module.
 */
export function transposeWasm(x: Float32Array, xOff: number, out: Float32Array, outOff: number, rows: number, cols: number): boolean {
  const n = rows * cols;
  if (n < 256 || 2 * n > MAX_COPY_FLOATS) return false;
  const k = load();
  if (!k) return false;
  callOnCopies(k.memory, [x.subarray(xOff, xOff + n)], [out.subarray(outOff, outOff + n)], ([s0, d0]) => k.transpose(s0!, d0!, rows, cols));
  return true;
}

/** Where row i of head h lies: offset + (h / H)·sB + (h mod H)·sH + i·sL (floats). */
const contiguous = (len: number, w: number, H: number): RowLayout => ({ off: 0, sB: H * len * w, sH: len * w, sL: w });

/** One operand's rows moved between layouts: from array `src` (index into the call's sources) in layout `from` to array `dst` in layout `to`. */
interface RowMove {
  src: number;
  from: RowLayout;
  dst: number;
  to: RowLayout;
  len: number;
  w: number;
}

/**
 * Row i of head h (h < n, i < len, w floats) of each move copied between layouts
 * (attention-layout.ts's gathers and scatters), in the module: every source copied in once, the
 * moves run, the destinations copied back. A destination that is also a source (a scatter's packed
 * array: rows no move writes keep their values) is copied in too. Several operands of one packed
 * projection thus cost one copy of it. False for huge arrays or without the module.
 */
function moveRowsWasm(srcs: readonly Float32Array[], dsts: readonly Float32Array[], moves: readonly RowMove[], H: number, n: number): boolean {
  if ([...srcs, ...dsts].reduce((t, a) => t + a.length, 0) > MAX_COPY_FLOATS || moves.every((m) => n * m.len * m.w < 256)) return false;
  // The module's copyRows knows one level of batch entries: grouped layouts take the loops in JS.
  if (moves.some((m) => (m.from.G ?? 1) > 1 || (m.to.G ?? 1) > 1)) return false;
  const k = load();
  if (!k) return false;
  callOnCopies(k.memory, srcs, dsts, (_, at) => {
    for (const { src, from, dst, to, len, w } of moves) {
      k.copyRows(at(srcs[src]!), at(dsts[dst]!), n, len, w, H, from.off, from.sB, from.sH, from.sL, to.off, to.sB, to.sH, to.sL);
    }
  });
  return true;
}

/** One operand of a packed array: its rows' layout `r` there, and its rows' length and width (contiguous: [n, len, w]). */
export interface OperandRows {
  r: RowLayout;
  len: number;
  w: number;
}

/** gatherRows (attention-layout.ts) for f32, for several operands of one array: each `outs[i]` gets the rows of `src` in `parts[i].r`, contiguous. */
export function gatherRowsWasm(src: Float32Array, H: number, n: number, parts: readonly OperandRows[], outs: readonly Float32Array[]): boolean {
  if (parts.some((p, i) => outs[i]!.length !== n * p.len * p.w)) return false;
  return moveRowsWasm([src], outs, parts.map((p, i) => ({ src: 0, from: p.r, dst: i, to: contiguous(p.len, p.w, H), len: p.len, w: p.w })), H, n);
}

/** scatterRows for f32, for several operands of one array: contiguous rows of each `srcs[i]` written into `dst` in layout `parts[i].r`. */
export function scatterRowsWasm(dst: Float32Array, H: number, n: number, parts: readonly OperandRows[], srcs: readonly Float32Array[]): boolean {
  // dst is a source too: the rows no scatter writes (the other operands') keep their values.
  return moveRowsWasm([...srcs, dst], [dst], parts.map((p, i) => ({ src: i, from: contiguous(p.len, p.w, H), dst: 0, to: p.r, len: p.len, w: p.w })), H, n);
}
