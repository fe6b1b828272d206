/**
 * The largest |x| of a buffer's first n f32 values, as its bit pattern (for a non-negative f32 the
 * u32 order of the bits is the order of the values, so an atomicMax on the bits is a max of the
 * values; NaN's bits exceed infinity's). Each workgroup reduces a strided share in workgroup memory
 * and folds its result into S[slot] with one atomicMax, so S must start at 0 (`encodeZeroWords`).
 *
 * v4's `:x3` split (kernels/matmul-sgmat.ts) reads the maxima of both operands of an f32 product
 * to pick the powers of two that put each operand in f16's range.
 */
import { uniforms, type GpuContext } from './context.ts';

const THREADS = 256;
/** Enough workgroups to fill a large GPU (132 SMs × 8 of 256 threads); each loops over the rest. */
const MAX_GROUPS = 1024;

/**
 * Two buffers' largest |x| in one dispatch: workgroups [0, g0) reduce X0's first n0 items into
 * S[slot0], the rest X1's into S[slot1], each over a grid-strided share of its buffer.
 */
const absmaxPairWgsl = (vec4: boolean): string => {
  const T = vec4 ? 'vec4<f32>' : 'f32';
  const fold = (X: string) => (vec4 ? `let b = bitcast<vec4<u32>>(abs(${X}[i]));\n      m = max(m, max(max(b.x, b.y), max(b.z, b.w)));` : `m = max(m, bitcast<u32>(abs(${X}[i])));`);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> X0: array<${T}>;
@group(0) @binding(1) var<storage, read> X1: array<${T}>;
@group(0) @binding(2) var<storage, read_write> S: array<atomic<u32>>;
struct U { n0: u32, n1: u32, g0: u32, slot0: u32, slot1: u32, p1: u32, p2: u32, p3: u32 }
@group(0) @binding(3) var<uniform> u: U;
var<workgroup> red: array<u32, ${THREADS}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lidx: u32) {
  var m = 0u;
  let second = wid.x >= u.g0;  // (uniform in the workgroup)
  if (second) {
    for (var i = (wid.x - u.g0) * ${THREADS}u + lidx; i < u.n1; i += (nwg.x - u.g0) * ${THREADS}u) {
      ${fold('X1')}
    }
  } else {
    for (var i = wid.x * ${THREADS}u + lidx; i < u.n0; i += u.g0 * ${THREADS}u) {
      ${fold('X0')}
    }
  }
  red[lidx] = m;
  workgroupBarrier();
  for (var s = ${THREADS / 2}u; s > 0u; s = s >> 1u) {
    if (lidx < s) { red[lidx] = max(red[lidx], red[lidx + s]); }
    workgroupBarrier();
  }
  if (lidx == 0u) { atomicMax(&S[select(u.slot0, u.slot1, second)], red[0]); }
}`;
};

const ZERO_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> S: array<u32>;
@compute @workgroup_size(4)
fn main(@builtin(local_invocation_index) i: u32) { S[i] = 0u; }`;

/** S[0..4) = 0 (S holds at least 16 bytes). */
export function encodeZeroWords(ctx: GpuContext, S: GPUBuffer): void {
  ctx.dispatch({ key: 'absmax/zero4', code: ZERO_WGSL, buffers: [S], workgroups: [1] });
}

/** S[slot] = max(S[slot], bits of max |x| over x's first n f32 values) (the pair kernel with an empty second buffer). */
export function encodeAbsMaxBits(ctx: GpuContext, x: GPUBuffer, n: number, S: GPUBuffer, slot: number): void {
  encodeAbsMaxPairBits(ctx, x, n, slot, x, 0, slot, S);
}

/**
 * S[slot0] = max(S[slot0], bits of max |x0| over its first n0 values), and likewise x1 into
 * S[slot1], in one dispatch (vec4 loads where both counts allow). Either count may be 0.
 */
export function encodeAbsMaxPairBits(ctx: GpuContext, x0: GPUBuffer, n0: number, slot0: number, x1: GPUBuffer, n1: number, slot1: number, S: GPUBuffer): void {
  if (n0 === 0 && n1 === 0) return;
  const vec4 = n0 % 4 === 0 && n1 % 4 === 0;
  const [i0, i1] = vec4 ? [n0 / 4, n1 / 4] : [n0, n1];
  // (An empty buffer gets no workgroups.)
  const groups = (items: number) => Math.min(MAX_GROUPS, Math.ceil(items / THREADS));
  const g0 = groups(i0);
  ctx.dispatch({
    key: `absmax/${vec4 ? 'vec4' : 'scalar'}`,
    code: () => absmaxPairWgsl(vec4),
    buffers: [x0, x1, S],
    uniforms: uniforms([['u32', i0], ['u32', i1], ['u32', g0], ['u32', slot0], ['u32', slot1]]),
    workgroups: [g0 + groups(i1)],
  });
}

/**
 * A scratch buffer whose words 0 and 1 hold the bits of max |a| over a's first nA values and of
 * max |b| over b's first nB (words 2 and 3 zero): a zeroing dispatch and one for both maxima.
 */
export function encodeOperandMaxima(ctx: GpuContext, a: GPUBuffer, nA: number, b: GPUBuffer, nB: number): GPUBuffer {
  const S = ctx.scratch(16);
  encodeZeroWords(ctx, S);
  encodeAbsMaxPairBits(ctx, a, nA, 0, b, nB, 1, S);
  return S;
}
