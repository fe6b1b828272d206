/**
 * Elementwise kernels from ONE codegen template: unary, binary and where, with NumPy broadcasting.
 * The output shape and each input's broadcast strides (0 along broadcast dims) go in uniforms, so
 * the pipeline key is the op, the dtypes and the rank after merging dims, never the sizes.
 *
 * Maths is done in f32, except where the output and every value input are i32 and the op has an
 * integer form (INT_UNARY / INT_BINARY / where): then in i32, as the CPU backend's Int32Array
 * gives (two's-complement wrap, division truncating toward zero and x / 0 = 0), exact for every
 * value (through f32 only |x| < 2^24 was). WGSL may assume no NaN/Inf, so exp arguments are
 * clamped where they could overflow.
 *
 * Vector form: when the innermost merged dim is a multiple of 4 and every input either runs along
 * it (stride 1) or is constant along it (stride 0), an invocation handles 4 consecutive outputs:
 * one index computation, vec4 loads (a stride-0 input: one scalar, splat) and one vec4 store,
 * so contiguous and bias-broadcast ops read and write memory as a vec4 copy does. The op's
 * scalar expression is applied to each component. (Every buffer is a pool size class, a
 * multiple of 16 bytes, so binding it as vec4s is valid.)
 */
import { uniforms, type GpuContext } from './context.ts';
import { coalesce, entry, GROUP_INDEX_WGSL, gridFor, offsetsWgsl, shapeUniforms, WG } from './grid.ts';

export type ElemType = 'f32' | 'i32';

const GELU_C = Math.sqrt(2 / Math.PI);

/** Helper functions every elementwise shader includes. */
const HELPERS = /* wgsl */ `
fn tanh_(x: f32) -> f32 { return tanh(clamp(x, -10.0, 10.0)); }
fn sigmoid_(x: f32) -> f32 { return 1.0 / (1.0 + exp(-clamp(x, -80.0, 80.0))); }
fn gelu_(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh_(${GELU_C} * (x + 0.044715 * x * x * x))); }
fn geluGrad_(x: f32) -> f32 {
  let t = tanh_(${GELU_C} * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * ${GELU_C} * (1.0 + 3.0 * 0.044715 * x * x);
}
fn siluGrad_(x: f32) -> f32 { let s = sigmoid_(x); return s * (1.0 + x * (1.0 - s)); }
// x^y with the integer-exponent cases of Math.pow that exp2(y·log2 x) gets wrong or inexact.
fn pow_(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (y == 1.0) { return x; }
  if (y == 2.0) { return x * x; }
  if (y == 3.0) { return x * x * x; }
  if (y == 0.5) { return sqrt(x); }
  if (y == -1.0) { return 1.0 / x; }
  if (x == 0.0) { return select(0.0, 1.0e38, y < 0.0); }
  if (x < 0.0) {
    if (y != round(y)) { return 0.0; } // NaN in IEEE; WGSL has none
    let r = pow(-x, y);
    return select(r, -r, abs(y % 2.0) == 1.0);
  }
  return pow(x, y);
}
`;

export const UNARY_WGSL: Record<string, string> = {
  neg: '-x', abs: 'abs(x)', sign: 'sign(x)', exp: 'exp(x)', log: 'log(x)', sqrt: 'sqrt(x)',
  rsqrt: 'inverseSqrt(x)', recip: '1.0 / x', square: 'x * x', sin: 'sin(x)', cos: 'cos(x)',
  tanh: 'tanh_(x)', sigmoid: 'sigmoid_(x)', silu: 'x * sigmoid_(x)', gelu: 'gelu_(x)',
  relu: 'select(0.0, x, x > 0.0)', affine: 'fma(u.a, x, u.b)', powScalar: 'pow_(x, u.a)',
  clamp: 'select(select(x, u.b, x > u.b), u.a, x < u.a)',
};

export const BINARY_WGSL: Record<string, string> = {
  add: 'x + y', sub: 'x - y', mul: 'x * y', div: 'x / y', pow: 'pow_(x, y)',
  maximum: 'select(y, x, x >= y)', minimum: 'select(y, x, x <= y)',
  eq: 'select(0.0, 1.0, x == y)', gt: 'select(0.0, 1.0, x > y)', ge: 'select(0.0, 1.0, x >= y)',
  lt: 'select(0.0, 1.0, x < y)', le: 'select(0.0, 1.0, x <= y)',
  geluBwd: 'y * geluGrad_(x)', siluBwd: 'y * siluGrad_(x)',
};

/** `where`: the first input is the condition. */
const WHERE_WGSL = 'select(z, y, x != 0.0)';

/**
 * Integer forms, for i32 in and out (the CPU backend stores JavaScript's f64 result with
 * ToInt32, and multiplies with Math.imul: wrapping matches WGSL's). WGSL's x / 0 is x and the
 * CPU's is 0 (±Infinity or NaN, stored as 0), hence the select.
 */
export const INT_UNARY: Record<string, string> = {
  neg: '-x', abs: 'abs(x)', sign: 'sign(x)', square: 'x * x', relu: 'select(0, x, x > 0)',
};
export const INT_BINARY: Record<string, string> = {
  add: 'x + y', sub: 'x - y', mul: 'x * y', div: 'select(x / y, 0, y == 0)',
  maximum: 'select(y, x, x >= y)', minimum: 'select(y, x, x <= y)',
  eq: 'select(0, 1, x == y)', gt: 'select(0, 1, x > y)', ge: 'select(0, 1, x >= y)',
  lt: 'select(0, 1, x < y)', le: 'select(0, 1, x <= y)',
};
/** `where` over i32 values: the condition keeps its own type. */
const INT_WHERE = 'select(z, y, x != 0)';

interface Input {
  buffer: GPUBuffer;
  type: ElemType;
  /** Strides of this input broadcast to the output shape (0 on broadcast dims). */
  strides: readonly number[];
}

const VARS = ['x', 'y', 'z'];

/**
 * WGSL up to the offsets: bindings (element type `elem(t)`), uniforms, helpers, the entry point
 * with its bounds check, and o0, o1, … of the element at flat index `idx`.
 */
function head(ins: readonly ElemType[], out: ElemType, rank: number, elem: (t: ElemType) => string, idx: string): string {
  const { fields } = shapeUniforms(new Array<number>(rank).fill(0), ins.map(() => new Array<number>(rank).fill(0)));
  const bindings = ins.map((t, k) => `@group(0) @binding(${k}) var<storage, read> in${k}: array<${elem(t)}>;`);
  return /* wgsl */ `
${bindings.join('\n')}
@group(0) @binding(${ins.length}) var<storage, read_write> out: array<${elem(out)}>;
struct U { n: u32, a: f32, b: f32, ${fields.join(', ')} }
@group(0) @binding(${ins.length + 1}) var<uniform> u: U;
${HELPERS}
${GROUP_INDEX_WGSL}
${entry(WG)}
  if (gi >= u.n) { return; }
  ${offsetsWgsl(rank, ins.length, idx)}`;
}

/**
 * The type each input is loaded as: the compute type `ct` (f32, or i32 for the integer forms),
 * except a `where` condition (the first of three inputs), which keeps its own type in the integer forms.
 */
const loadTypes = (ins: readonly ElemType[], ct: ElemType): ElemType[] =>
  ins.map((t, k) => (ct === 'i32' && ins.length === 3 && k === 0 ? t : ct));

function shaderCode(expr: string, ins: readonly ElemType[], out: ElemType, rank: number, ct: ElemType): string {
  const loads = loadTypes(ins, ct).map((lt, k) => `let ${VARS[k]} = ${lt}(in${k}[o${k}]);`);
  return /* wgsl */ `${head(ins, out, rank, (t) => t, 'gi')}
  ${loads.join('\n  ')}
  out[gi] = ${out}(${expr});
}`;
}

/** Per input, the vector form's load: 'v' runs along the innermost dim (stride 1), 's' is constant along it (stride 0). */
type Lane = 'v' | 's';

function vec4Code(expr: string, ins: readonly ElemType[], lanes: readonly Lane[], out: ElemType, rank: number, ct: ElemType): string {
  const loads = loadTypes(ins, ct).map((lt, k) =>
    lanes[k] === 'v' ? `let ${VARS[k]}v = vec4<${lt}>(in${k}[o${k} >> 2u]);` : `let ${VARS[k]}v = vec4<${lt}>(${lt}(in${k}[o${k} >> 2u][o${k} & 3u]));`,
  );
  const comps = [0, 1, 2, 3].map((c) => `{ ${ins.map((_, k) => `let ${VARS[k]} = ${VARS[k]}v[${c}];`).join(' ')} r[${c}] = ${expr}; }`);
  return /* wgsl */ `${head(ins, out, rank, (t) => `vec4<${t}>`, 'gi * 4u')}
  ${loads.join('\n  ')}
  var r: vec4<${ct}>;
  ${comps.join('\n  ')}
  out[gi] = vec4<${out}>(r);
}`;
}

/** The vector form's loads, or null when the op must run one element per invocation. */
function vec4Lanes(shape: readonly number[], strides: readonly (readonly number[])[]): Lane[] | null {
  const last = shape.length - 1;
  if (last < 0 || shape[last]! % 4 !== 0) return null;
  const lanes = strides.map((s) => (s[last] === 1 ? 'v' : s[last] === 0 ? 's' : null));
  return lanes.every((l) => l !== null) ? (lanes as Lane[]) : null;
}

/** Launch one elementwise op over `outShape`; `a`, `b` are the unary scalars. */
export function encodeElementwise(
  ctx: GpuContext, name: string, expr: string, inputs: readonly Input[], out: GPUBuffer, outType: ElemType,
  outShape: readonly number[], a = 0, b = 0, ct: ElemType = 'f32',
): void {
  const n = outShape.reduce((p, d) => p * d, 1);
  if (n === 0) return;
  const merged = coalesce(outShape, inputs.map((i) => i.strides));
  const rank = merged.shape.length;
  const types = inputs.map((i) => i.type);
  const { values } = shapeUniforms(merged.shape, merged.strides);
  const lanes = vec4Lanes(merged.shape, merged.strides);
  const threads = lanes ? n / 4 : n;
  ctx.dispatch({
    key: `elementwise/${name}/${types.join(',')}->${outType}${ct === 'i32' ? '/int' : ''}/rank${rank}${lanes ? `/v4${lanes.join('')}` : ''}`,
    code: () => (lanes ? vec4Code(expr, types, lanes, outType, rank, ct) : shaderCode(expr, types, outType, rank, ct)),
    buffers: [...inputs.map((i) => i.buffer), out],
    uniforms: uniforms([['u32', threads], ['f32', a], ['f32', b], ...values]),
    workgroups: gridFor(ctx, threads),
  });
}


/** The integer form of an op when the output and the value inputs are i32, else null. */
const intForm = (table: Record<string, string>, op: string, outType: ElemType, values: readonly Input[]): string | null =>
  outType === 'i32' && values.every((i) => i.type === 'i32') ? (table[op] ?? null) : null;

/** A unary op over n contiguous elements. */
export function encodeUnary(ctx: GpuContext, op: string, x: GPUBuffer, out: GPUBuffer, type: ElemType, n: number, a: number, b: number): void {
  const expr = UNARY_WGSL[op];
  if (!expr) throw new Error(`elementwise: unknown unary op ${op}`);
  const input = { buffer: x, type, strides: [1] };
  const int = intForm(INT_UNARY, op, type, [input]);
  encodeElementwise(ctx, op, int ?? expr, [input], out, type, [n], a, b, int ? 'i32' : 'f32');
}

export function encodeBinary(ctx: GpuContext, op: string, x: Input, y: Input, out: GPUBuffer, outType: ElemType, outShape: readonly number[]): void {
  const expr = BINARY_WGSL[op];
  if (!expr) throw new Error(`elementwise: unknown binary op ${op}`);
  const int = intForm(INT_BINARY, op, outType, [x, y]);
  encodeElementwise(ctx, op, int ?? expr, [x, y], out, outType, outShape, 0, 0, int ? 'i32' : 'f32');
}

export function encodeWhere(ctx: GpuContext, c: Input, x: Input, y: Input, out: GPUBuffer, outType: ElemType, outShape: readonly number[]): void {
  const int = intForm({ where: INT_WHERE }, 'where', outType, [x, y]);
  encodeElementwise(ctx, 'where', int ?? WHERE_WGSL, [c, x, y], out, outType, outShape, 0, 0, int ? 'i32' : 'f32');
}
