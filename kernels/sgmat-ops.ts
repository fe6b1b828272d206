/**
 * How a kernel spells 16×16 subgroup-matrix fragments (f16 operands, f32 results): the real
 * WGSL builtins (`chromium_experimental_subgroup_matrix`, tensor cores on NVIDIA), or a plain-WGSL
 * emulation that runs anywhere with shader-f16 (lavapipe), so that the tiling, offsets, strides
 * and majorness of every tensor-core kernel (matmul v4, mixed-precision attention) are tested in
 * CI without an NVIDIA GPU.
 *
 * A fragment is read from / written to an array in workgroup or storage memory at an element
 * offset with a row stride: row-major element [r][c] at off + r·stride + c, column-major at
 * off + c·stride + r. Left fragments are M×K (16×16), right fragments K×N, results M×N f32.
 *
 * The emulation's "subgroup" is 32 consecutive invocations (local_invocation_index / 32); lane l
 * holds row l/2 of each left fragment, columns (l%2)·8 .. +8 of each right fragment, and row l/2,
 * columns (l%2)·8 .. +8 of each result, so an MMA is 8·16 multiply-adds per lane. Its loops run to
 * `emuN` = 16 | a uniform zero, and the kernels' own fixed-count loops to `bound(n)` likewise, so
 * that lavapipe's LLVM does not unroll them at every call site (minutes of compiling otherwise). Load/store helpers are generated per
 * array (WGSL cannot pass workgroup pointers to functions without an extension).
 */

import { tripCount } from './loop-bound.ts';

/** Fragment side (the f16×f16→f32 16×16×16 configuration). */
export const FRAG = 16;
/** Invocations per subgroup the kernels assume (NVIDIA; the emulation uses the same). */
export const SUBGROUP = 32;

/**
 * Spelling of the subgroup-matrix builtins. 'new': majorness as a template argument,
 * `subgroupMatrixLoad<T, row_major>(&p, off, stride)`, `subgroupMatrixStore<row_major>(&p, off, v, stride)`
 * (current Dawn; the old form prints a deprecation warning). 'old': `subgroupMatrixLoad<T>(&p, off,
 * colMajor, stride)` (older Dawn). Set through MATMUL_DEFAULTS.sgSyntax (kernels/matmul.ts).
 */
export type SgSyntax = 'new' | 'old';

/** The arrays a kernel loads left / right fragments from and stores results to. */
export interface FragArrays {
  left: readonly string[];
  right: readonly string[];
  store: readonly string[];
  /** Arrays result fragments are loaded from (initial accumulators). */
  acc?: readonly string[];
  /** Arrays left fragments are stored to (fragment staging: v4's `:fs`). */
  storeLeft?: readonly string[];
}

export interface SgOps {
  /** `enable` lines and diagnostics. */
  header: string;
  /** Module-scope helper code (the emulation's functions; empty for the real builtins). */
  helpers: string;
  left: string;
  right: string;
  acc: string;
  /** Extra entry-point parameter(s) and the WGSL expression of this invocation's subgroup index. */
  param: string;
  sgIndex: string;
  /** Statement run first in main. */
  init: string;
  loadLeft(arr: string, off: string, colMajor: boolean, stride: string): string;
  loadRight(arr: string, off: string, colMajor: boolean, stride: string): string;
  /** Statement: acc = a·b + acc. */
  mma(a: string, b: string, acc: string): string;
  /** Statement: store an f32 result fragment row-major. */
  store(arr: string, off: string, v: string, stride: string): string;
  /** Statement: store an f16 left fragment row-major. */
  storeLeft(arr: string, off: string, v: string, stride: string): string;
  /** Expression: an f32 result fragment loaded row-major. */
  loadAcc(arr: string, off: string, stride: string): string;
  /** Expression: result fragment `v` times the f32 scalar `s`. */
  scale(v: string, s: string): string;
  /**
   * A loop's trip count n as WGSL: the constant itself, or (emulated) n | 0 with the 0 read from a
   * uniform, so that lavapipe's LLVM does not unroll the kernel's fixed-count loops (unrolled, a
   * tensor-core attention kernel took minutes to compile there; the emulation runs nowhere else).
   */
  bound(n: number): string;
}

/** The real builtins (Dawn docs/dawn/features/subgroup_matrix.md). */
export function realOps(syntax: SgSyntax): SgOps {
  const L = `subgroup_matrix_left<f16, ${FRAG}, ${FRAG}>`;
  const R = `subgroup_matrix_right<f16, ${FRAG}, ${FRAG}>`;
  const major = (cm: boolean) => (cm ? 'col_major' : 'row_major');
  const A = `subgroup_matrix_result<f32, ${FRAG}, ${FRAG}>`;
  const load = (T: string) =>
    syntax === 'new'
      ? (arr: string, off: string, cm: boolean, stride: string) => `subgroupMatrixLoad<${T}, ${major(cm)}>(&${arr}, ${off}, ${stride})`
      : (arr: string, off: string, cm: boolean, stride: string) => `subgroupMatrixLoad<${T}>(&${arr}, ${off}, ${cm}, ${stride})`;
  return {
    header: `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);`,
    helpers: '',
    left: L,
    right: R,
    acc: A,
    param: `, @builtin(subgroup_id) sgId: u32`,
    sgIndex: 'sgId',
    init: '',
    loadLeft: load(L),
    loadRight: load(R),
    mma: (a, b, acc) => `${acc} = subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${acc});`,
    store: (arr, off, v, stride) =>
      syntax === 'new' ? `subgroupMatrixStore<row_major>(&${arr}, ${off}, ${v}, ${stride});` : `subgroupMatrixStore(&${arr}, ${off}, ${v}, false, ${stride});`,
    storeLeft: (arr, off, v, stride) =>
      syntax === 'new' ? `subgroupMatrixStore<row_major>(&${arr}, ${off}, ${v}, ${stride});` : `subgroupMatrixStore(&${arr}, ${off}, ${v}, false, ${stride});`,
    loadAcc: (arr, off, stride) => load(A)(arr, off, false, stride),
    scale: (v, s) => `subgroupMatrixScalarMultiply(${v}, ${s})`,
    bound: (n) => tripCount(n, false),
  };
}

/**
 * Plain-WGSL stand-ins for the arrays named in `arrays`. `zero` is a WGSL expression equal to 0
 * read from a uniform: the loop bound 16 | zero keeps lavapipe's compiler from unrolling the
 * emulation loops at every call site (which takes minutes to compile). The entry point must name
 * its local index `lidx`.
 */
export function emulatedOps(arrays: FragArrays, zero: string): SgOps {
  const F = FRAG;
  const left = arrays.left.map((a) => /* wgsl */ `
fn emuLoadL_${a}(off: u32, colMajor: bool, stride: u32) -> EmuL {
  var m: EmuL;
  for (var c = 0u; c < emuN; c++) { m[c] = ${a}[emuIdx(off, emuLane / 2u, c, colMajor, stride)]; }
  return m;
}`);
  const right = arrays.right.map((a) => /* wgsl */ `
fn emuLoadR_${a}(off: u32, colMajor: bool, stride: u32) -> EmuR {
  var m: EmuR;
  let c0 = (emuLane % 2u) * 8u;
  for (var r = 0u; r < emuN; r++) { for (var j = 0u; j < emuN / 2u; j++) { m[r * 8u + j] = ${a}[emuIdx(off, r, c0 + j, colMajor, stride)]; } }
  return m;
}`);
  const store = arrays.store.map((a) => /* wgsl */ `
fn emuStore_${a}(off: u32, v: EmuC, stride: u32) {
  for (var j = 0u; j < emuN / 2u; j++) { ${a}[off + (emuLane / 2u) * stride + (emuLane % 2u) * 8u + j] = v[j]; }
}`);
  // (Both lanes of a pair hold the row: the even one writes it.)
  const storeLeft = (arrays.storeLeft ?? []).map((a) => /* wgsl */ `
fn emuStoreL_${a}(off: u32, v: EmuL, stride: u32) {
  if (emuLane % 2u == 0u) { for (var c = 0u; c < emuN; c++) { ${a}[off + (emuLane / 2u) * stride + c] = v[c]; } }
}`);
  const loadAcc = (arrays.acc ?? []).map((a) => /* wgsl */ `
fn emuLoadC_${a}(off: u32, stride: u32) -> EmuC {
  var m: EmuC;
  for (var j = 0u; j < emuN / 2u; j++) { m[j] = ${a}[off + (emuLane / 2u) * stride + (emuLane % 2u) * 8u + j]; }
  return m;
}`);
  return {
    header: `enable f16;`,
    helpers: /* wgsl */ `
var<private> emuLane: u32;
var<private> emuN: u32;
var<private> emuZ: u32;
alias EmuL = array<f16, ${F}>;       // row emuLane/2 of a left fragment
alias EmuR = array<f16, ${F * 8}>;   // columns (emuLane%2)·8 .. +8 of a right fragment, row-major [k][8]
alias EmuC = array<f32, 8>;          // row emuLane/2, columns (emuLane%2)·8 .. +8
fn emuIdx(off: u32, r: u32, c: u32, colMajor: bool, stride: u32) -> u32 {
  return select(off + r * stride + c, off + c * stride + r, colMajor);
}
fn emuMma(a: EmuL, b: EmuR, acc: EmuC) -> EmuC {
  var m = acc;
  for (var j = 0u; j < emuN / 2u; j++) {
    var s = m[j];
    for (var k = 0u; k < emuN; k++) { s += f32(a[k]) * f32(b[k * 8u + j]); }
    m[j] = s;
  }
  return m;
}
fn emuScale(v: EmuC, s: f32) -> EmuC {
  var m = v;
  for (var j = 0u; j < emuN / 2u; j++) { m[j] = m[j] * s; }
  return m;
}${left.join('')}${right.join('')}${store.join('')}${storeLeft.join('')}${loadAcc.join('')}`,
    left: 'EmuL',
    right: 'EmuR',
    acc: 'EmuC',
    param: '',
    sgIndex: `lidx / ${SUBGROUP}u`,
    init: `emuLane = lidx % ${SUBGROUP}u; emuZ = ${zero}; emuN = ${F}u | emuZ;`,
    loadLeft: (arr, off, cm, stride) => `emuLoadL_${arr}(${off}, ${cm}, ${stride})`,
    loadRight: (arr, off, cm, stride) => `emuLoadR_${arr}(${off}, ${cm}, ${stride})`,
    mma: (a, b, acc) => `${acc} = emuMma(${a}, ${b}, ${acc});`,
    store: (arr, off, v, stride) => `emuStore_${arr}(${off}, ${v}, ${stride});`,
    storeLeft: (arr, off, v, stride) => `emuStoreL_${arr}(${off}, ${v}, ${stride});`,
    loadAcc: (arr, off, stride) => `emuLoadC_${arr}(${off}, ${stride})`,
    scale: (v, s) => `emuScale(${v}, ${s})`,
    bound: (n) => tripCount(n, true, 'emuZ'),
  };
}

/**
 * WGSL helpers of the x3 split (f32 products on f16 fragments: v4's `:x3`, kernels/matmul-sgmat.ts,
 * and the f32 attention on tensor cores, kernels/attention-sgmat.ts). x3Exp: from the bits of
 * max |x| (kernels/absmax.ts), the exponent e that puts max |x|·2^e in [2^13, 2^14) (so x·2^e and
 * its remainder fit f16, the largest hi·hi product 2^28 and a sum over K = 65536 of them 2^44 fit
 * f32), 0 when the max is 0, infinite or NaN, clamped to ±100 (an operand below 2^-86 loses
 * precision; a bias times both scales must stay finite). pow2(e) builds 2^e from its exponent
 * bits (e clamped to f32's normal range). x3Hi(x): x with its significand cut to f16's 11 bits by
 * a mask, so hi = f16(x3Hi(x)) is exact and x − x3Hi(x) is exact in f32; rounding to f16 and
 * back instead (x − f32(f16(x))) is folded to 0 by compilers (lavapipe's is).
 */
export const X3_WGSL = /* wgsl */ `fn x3Exp(bits: u32) -> i32 {
  if (bits == 0u || bits >= 0x7f800000u) { return 0; }
  return clamp(14 - (i32(bits >> 23u) - 126), -100, 100);  // max = f·2^(E − 126), f in [0.5, 1)
}
fn pow2(e: i32) -> f32 { return bitcast<f32>(u32(clamp(127 + e, 1, 254)) << 23u); }
fn x3Hi(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) & 0xffffe000u); }
fn x3Hi4(x: vec4<f32>) -> vec4<f32> { return bitcast<vec4<f32>>(bitcast<vec4<u32>>(x) & vec4<u32>(0xffffe000u)); }`;
