/**
 * Differentiable elementwise ops, each forward beside its gradient rule. Binary ops broadcast
 * (NumPy rules) and sum their gradients back to each input's shape. A plain number operand
 * becomes a fused scalar op (affine / powScalar), not a tensor.
 */
import type { BinaryOp } from '../../engine/backend.ts';
import { full } from '../../engine/creation.ts';
import * as raw from '../../engine/ops.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { record } from '../tape.ts';
import { unbroadcast } from './broadcast.ts';

type Operand = Tensor | number;

// ---------- unary ----------

export const neg = (x: Tensor): Tensor => affine(x, -1, 0);

/** a·x + b with scalars a, b. d/dx = a. */
export function affine(x: Tensor, a: number, b: number): Tensor {
  return record('affine', [x], raw.unary('affine', x, a, b), (g) => [raw.unary('affine', g, a, 0)], []);
}

/** exp: d/dx = exp(x) = y. */
export function exp(x: Tensor): Tensor {
  const y = raw.unary('exp', x);
  return record('exp', [x], y, (g) => [raw.binary('mul', g, y)], [y]);
}

/** log: d/dx = 1/x. */
export function log(x: Tensor): Tensor {
  return record('log', [x], raw.unary('log', x), (g) => [raw.binary('div', g, x)], [x]);
}

/** sqrt: d/dx = 1/(2y). */
export function sqrt(x: Tensor): Tensor {
  const y = raw.unary('sqrt', x);
  return record('sqrt', [x], y, (g) => [raw.binary('div', raw.unary('affine', g, 0.5, 0), y)], [y]);
}

/** rsqrt = x^(-1/2): d/dx = −½ y³. */
export function rsqrt(x: Tensor): Tensor {
  const y = raw.unary('rsqrt', x);
  return record('rsqrt', [x], y, (g) => [raw.binary('mul', g, raw.unary('affine', raw.unary('powScalar', y, 3), -0.5, 0))], [y]);
}

/** 1/x: d/dx = −y². */
export function recip(x: Tensor): Tensor {
  const y = raw.unary('recip', x);
  return record('recip', [x], y, (g) => [raw.binary('mul', g, raw.unary('affine', raw.unary('square', y), -1, 0))], [y]);
}

/** x²: d/dx = 2x. */
export function square(x: Tensor): Tensor {
  return record('square', [x], raw.unary('square', x), (g) => [raw.binary('mul', g, raw.unary('affine', x, 2, 0))], [x]);
}

/** x^p for a scalar p: d/dx = p·x^(p−1). */
export function powScalar(x: Tensor, p: number): Tensor {
  return record('powScalar', [x], raw.unary('powScalar', x, p), (g) => [
    raw.binary('mul', g, raw.unary('affine', raw.unary('powScalar', x, p - 1), p, 0)),
  ], [x]);
}

/** tanh: d/dx = 1 − y². */
export function tanh(x: Tensor): Tensor {
  const y = raw.unary('tanh', x);
  return record('tanh', [x], y, (g) => [raw.binary('mul', g, raw.unary('affine', raw.unary('square', y), -1, 1))], [y]);
}

/** sigmoid: d/dx = y(1 − y). */
export function sigmoid(x: Tensor): Tensor {
  const y = raw.unary('sigmoid', x);
  return record('sigmoid', [x], y, (g) => [raw.binary('mul', g, raw.binary('mul', y, raw.unary('affine', y, -1, 1)))], [y]);
}

/** silu = x·sigmoid(x), with the fused gradient kernel siluBwd. */
export function silu(x: Tensor): Tensor {
  return record('silu', [x], raw.unary('silu', x), (g) => [raw.binary('siluBwd', x, g)], [x]);
}

/** GELU, tanh approximation (as DiT), with the fused gradient kernel geluBwd. */
export function gelu(x: Tensor): Tensor {
  return record('gelu', [x], raw.unary('gelu', x), (g) => [raw.binary('geluBwd', x, g)], [x]);
}

/** relu: d/dx = [x > 0]. */
export function relu(x: Tensor): Tensor {
  return record('relu', [x], raw.unary('relu', x), (g) => [raw.binary('mul', g, raw.unary('sign', raw.unary('relu', x)))], [x]);
}

/** |x|: d/dx = sign(x). */
export function abs(x: Tensor): Tensor {
  return record('abs', [x], raw.unary('abs', x), (g) => [raw.binary('mul', g, raw.unary('sign', x))], [x]);
}

/** sin x elementwise (radians); d/dx = cos x. */
export function sin(x: Tensor): Tensor {
  return record('sin', [x], raw.unary('sin', x), (g) => [raw.binary('mul', g, raw.unary('cos', x))], [x]);
}

/** cos x elementwise (radians); d/dx = −sin x. */
export function cos(x: Tensor): Tensor {
  return record('cos', [x], raw.unary('cos', x), (g) => [raw.binary('mul', g, raw.unary('affine', raw.unary('sin', x), -1, 0))], [x]);
}

/** Clip to [lo, hi]: gradient passes where lo < x < hi. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  return record('clamp', [x], raw.unary('clamp', x, lo, hi), (g) => {
    const inside = raw.binary('mul', raw.binary('gt', x, scalarLike(x, lo)), raw.binary('lt', x, scalarLike(x, hi)));
    return [raw.binary('mul', g, inside)];
  }, [x]);
}

function scalarLike(x: Tensor, v: number): Tensor {
  return full([], v, { dtype: x.dtype, backend: x.backend });
}

// ---------- binary ----------

/**
 * a + b elementwise with broadcasting (a number is a scalar); gradients are unbroadcast to each
 * input's shape.
 */
export function add(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return typeof a === 'number' ? scalarOf(a + b) : affine(a, 1, b);
  if (typeof a === 'number') return affine(b, 1, a);
  return record('add', [a, b], raw.binary('add', a, b), (g) => [unbroadcast(g, a.shape), unbroadcast(g, b.shape)], []);
}

/** a − b elementwise with broadcasting. */
export function sub(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return typeof a === 'number' ? scalarOf(a - b) : affine(a, 1, -b);
  if (typeof a === 'number') return affine(b, -1, a);
  return record('sub', [a, b], raw.binary('sub', a, b), (g) => [unbroadcast(g, a.shape), unbroadcast(raw.unary('affine', g, -1, 0), b.shape)], []);
}

/** a · b elementwise with broadcasting; d/da = b, d/db = a. */
export function mul(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return typeof a === 'number' ? scalarOf(a * b) : affine(a, b, 0);
  if (typeof a === 'number') return affine(b, a, 0);
  return record('mul', [a, b], raw.binary('mul', a, b), (g) => [
    a.requiresGrad ? unbroadcast(raw.binary('mul', g, b), a.shape) : null,
    b.requiresGrad ? unbroadcast(raw.binary('mul', g, a), b.shape) : null,
  ], [...(a.requiresGrad ? [b] : []), ...(b.requiresGrad ? [a] : [])]);
}

/** a/b: d/da = 1/b, d/db = −a/b². */
export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return typeof a === 'number' ? scalarOf(a / b) : affine(a, 1 / b, 0);
  if (typeof a === 'number') return mul(recip(b), a);
  return record('div', [a, b], raw.binary('div', a, b), (g) => [
    a.requiresGrad ? unbroadcast(raw.binary('div', g, b), a.shape) : null,
    b.requiresGrad ? unbroadcast(raw.unary('affine', raw.binary('div', raw.binary('mul', g, a), raw.unary('square', b)), -1, 0), b.shape) : null,
  ], [a, b]);
}

/** a^b: d/da = b·a^(b−1), d/db = a^b·ln a (a > 0). */
export function pow(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return powScalar(a, b);
  const y = raw.binary('pow', a, b);
  return record('pow', [a, b], y, (g) => [
    a.requiresGrad ? unbroadcast(raw.binary('mul', g, raw.binary('mul', b, raw.binary('pow', a, raw.unary('affine', b, 1, -1)))), a.shape) : null,
    b.requiresGrad ? unbroadcast(raw.binary('mul', g, raw.binary('mul', y, raw.unary('log', a))), b.shape) : null,
  ], [a, b, y]);
}

/** Elementwise max/min: the gradient goes to the chosen input (to a on ties). */
function pick(op: 'maximum' | 'minimum', a: Tensor, b: Tensor): Tensor {
  return record(op, [a, b], raw.binary(op, a, b), (g) => {
    const takeA = raw.binary(op === 'maximum' ? 'ge' : 'le', a, b);
    const gA = raw.binary('mul', g, takeA);
    const gB = raw.binary('sub', g, gA);
    return [unbroadcast(gA, a.shape), unbroadcast(gB, b.shape)];
  }, [a, b]);
}
export const maximum = (a: Tensor, b: Tensor): Tensor => pick('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor): Tensor => pick('minimum', a, b);

/** cond ≠ 0 ? a : b. No gradient to cond. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return record('where', [cond, a, b], raw.where(cond, a, b), (g) => {
    const zero = raw.binary('sub', g, g);
    return [null, unbroadcast(raw.where(cond, g, zero), a.shape), unbroadcast(raw.where(cond, zero, g), b.shape)];
  }, [cond]);
}

/** Comparisons give 0/1 masks and no gradient. */
export const compare = (op: Extract<BinaryOp, 'eq' | 'gt' | 'ge' | 'lt' | 'le'>, a: Tensor, b: Tensor): Tensor => raw.binary(op, a, b);

function scalarOf(v: number): Tensor {
  return full([], v);
}
