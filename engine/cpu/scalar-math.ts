/**
 * The scalar definitions of every elementwise op: the CPU backend runs them directly and they
 * are the reference the WGSL must match. GELU is the tanh approximation DiT uses:
 *   gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
 */
import type { BinaryOp, UnaryOp } from '../backend.ts';

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + GELU_A * x * x * x)));
}

/** d gelu / dx = ½(1 + t) + ½x(1 − t²)·c(1 + 3a x²), t = tanh(c(x + a x³)). */
export function geluGrad(x: number): number {
  const t = Math.tanh(GELU_C * (x + GELU_A * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x);
}

// ---- f32 fast paths: Math.tanh / Math.exp cost ~15–20 ns an element in V8, most of a CPU
// training step's GELU time (bench/RESULTS.md, seventh session). For f32 storage, e^y by range
// reduction and a short series is exact to ~1e-8 relative, below f32's own rounding (6e-8), at a
// few ns. f64 (the gradient checks) keeps Math.tanh.

/** 2^n for n = −150 … 150. */
const POW2 = Float64Array.from({ length: 301 }, (_, i) => 2 ** (i - 150));
const LN2_HI = 0.6931471803691238; // ln 2 split so that n·LN2_HI is exact for |n| < 2^21
const LN2_LO = 1.9082149292705877e-10;

/**
 * e^y for f32 work (y clamped to ±100): y = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series
 * up to r⁷/7! (the next term is < 6e-9 relative), times 2^n from a table.
 */
export function expF32(y: number): number {
  const z = y > 100 ? 100 : y < -100 ? -100 : y;
  const n = Math.round(z * Math.LOG2E);
  const r = z - n * LN2_HI - n * LN2_LO;
  const p = 1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))));
  return p * POW2[n + 150]!;
}

/** gelu(x) = ½x(1 + tanh u) = x·σ(2u) = x / (1 + e^{−2u}), u = c(x + a x³), for f32 work. */
export function geluF32(x: number): number {
  return x / (1 + expF32(-2 * GELU_C * (x + GELU_A * x * x * x)));
}

/** geluGrad for f32 work: with s = σ(2u), ½(1 + t) = s and ½(1 − t²) = 2s(1 − s). */
export function geluGradF32(x: number): number {
  const s = 1 / (1 + expF32(-2 * GELU_C * (x + GELU_A * x * x * x)));
  return s + 2 * x * s * (1 - s) * GELU_C * (1 + 3 * GELU_A * x * x);
}

/** d silu / dx = s(1 + x(1 − s)), s = sigmoid(x). */
export function siluGrad(x: number): number {
  const s = sigmoid(x);
  return s * (1 + x * (1 - s));
}

export function unaryFn(op: UnaryOp, a: number, b: number): (x: number) => number {
  switch (op) {
    case 'neg': return (x) => -x;
    case 'abs': return Math.abs;
    case 'sign': return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'recip': return (x) => 1 / x;
    case 'square': return (x) => x * x;
    case 'sin': return Math.sin;
    case 'cos': return Math.cos;
    case 'tanh': return Math.tanh;
    case 'sigmoid': return sigmoid;
    case 'silu': return (x) => x * sigmoid(x);
    case 'gelu': return gelu;
    case 'relu': return (x) => (x > 0 ? x : 0);
    case 'affine': return (x) => a * x + b;
    case 'powScalar': return (x) => Math.pow(x, a);
    case 'clamp': return (x) => (x < a ? a : x > b ? b : x);
  }
}

/** `f32`: the scalar for f32 tensors where it has a fast path (geluBwd: geluGradF32). */
export function binaryFn(op: BinaryOp, f32 = false): (x: number, y: number) => number {
  switch (op) {
    case 'add': return (x, y) => x + y;
    case 'sub': return (x, y) => x - y;
    case 'mul': return (x, y) => x * y;
    case 'div': return (x, y) => x / y;
    case 'pow': return Math.pow;
    case 'maximum': return (x, y) => (x >= y ? x : y);
    case 'minimum': return (x, y) => (x <= y ? x : y);
    case 'eq': return (x, y) => (x === y ? 1 : 0);
    case 'gt': return (x, y) => (x > y ? 1 : 0);
    case 'ge': return (x, y) => (x >= y ? 1 : 0);
    case 'lt': return (x, y) => (x < y ? 1 : 0);
    case 'le': return (x, y) => (x <= y ? 1 : 0);
    case 'geluBwd': return f32 ? (x, dy) => dy * geluGradF32(x) : (x, dy) => dy * geluGrad(x);
    case 'siluBwd': return (x, dy) => dy * siluGrad(x);
  }
}
