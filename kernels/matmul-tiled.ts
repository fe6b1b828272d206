/**
 * v2 (f32) and v3 (f16 operands, f32 accumulation): register-blocked tiled matmul.
 *
 * Tiling (config `BMxBNxBK:TMxTN`; the defaults are MATMUL_DEFAULTS in kernels/matmul.ts, e.g.
 * 128×256×16 with 8×8 outputs per thread, 512 threads):
 *
 *   - A workgroup computes a BM×BN tile of out. Its threads form a (BM/TM)×(BN/TN) grid; thread
 *     (tx, ty) owns a TM×TN block of outputs (TM, TN multiples of 4) held in TM·TN/4 vec4<f32>
 *     registers, split in TM/4 four-row and TN/4 four-column pieces spread across the tile so
 *     that neighbouring threads read neighbouring vec4s (conflict-free / broadcast reads):
 *       rows    h·(BM·4/TM) + ty·4 .. +3   for h < TM/4
 *       columns h·(BN·4/TN) + tx·4 .. +3   for h < TN/4
 *   - K is walked in steps of BK. The BK×BM slice of A and the BK×BN slice of B are staged in
 *     workgroup memory k-major (As[k][m], Bs[k][n], as vec4 along m / n), so the inner loop reads
 *     TM/4 vec4 of A and TN/4 vec4 of B per k and does TM·TN/4 vec4 FMAs (8×8: 4 FMA per load).
 *     A tile that is contiguous along k in global memory (A not transposed, B transposed) is
 *     transposed while being written to workgroup memory.
 *   - Two stages of workgroup memory: while the threads compute on stage t % 2, the next tile is
 *     already in registers (loaded before the compute, so its latency hides behind it) and is
 *     written to the other stage afterwards; one barrier per K-step.
 *   - Global reads are vec4 when every contiguous dimension and batch stride is a multiple of 4
 *     (`vec4Aligned`), scalar with per-element bounds checks otherwise. Out-of-range elements
 *     load as 0, so edges and K tails need no special case; the write-back checks bounds.
 *
 * v3 is the same kernel with f16 workgroup memory: operands are rounded to f16 when they are
 * written to workgroup memory (halving its size and bandwidth) and widened back to f32 for the
 * FMAs, so accumulation stays f32. It is the data path of the mixed-precision tensor-core kernel
 * (v4) without subgroup matrices, and runs wherever `shader-f16` does (lavapipe included).
 */
import {
  MATMUL_UNIFORMS_WGSL,
  bindings,
  loaderDecl,
  kStaging,
  loaderLoad,
  loaderStore,
  operandTiles,
  storeWavefronts,
  tilePrologue,
} from './matmul-common.ts';
import { tripCount, tripCountKey } from './loop-bound.ts';

export interface TiledConfig {
  BM: number;
  BN: number;
  BK: number;
  /** Outputs per thread along M and N (multiples of 4; default 8×8). */
  TM?: number;
  TN?: number;
}

export const TILED_SMALL: TiledConfig = { BM: 64, BN: 64, BK: 16, TM: 8, TN: 8 };

export function tiledThreads(c: TiledConfig): number {
  return (c.BM / (c.TM ?? 8)) * (c.BN / (c.TN ?? 8));
}

/** Why a config cannot be built (null when it can): shapes that do not divide. */
export function tiledConfigError(c: TiledConfig): string | null {
  const TM = c.TM ?? 8;
  const TN = c.TN ?? 8;
  if (TM % 4 !== 0 || TN % 4 !== 0) return `TM, TN must be multiples of 4 (got ${TM}, ${TN})`;
  if (c.BM % TM !== 0 || c.BN % TN !== 0) return `BM, BN must be multiples of TM, TN`;
  if (c.BK % 4 !== 0) return `BK must be a multiple of 4`;
  const T = tiledThreads(c);
  if (((c.BM * c.BK) / 4) % T !== 0 || ((c.BN * c.BK) / 4) % T !== 0) return `BM·BK/4 and BN·BK/4 must be multiples of ${T} threads`;
  return null;
}

/** The config as written in a variant string: BMxBNxBK:TMxTN. */
export function tiledName(c: TiledConfig): string {
  return `${c.BM}x${c.BN}x${c.BK}:${c.TM ?? 8}x${c.TN ?? 8}`;
}

/** Workgroup memory bytes used by a config. */
export function tiledSharedBytes(c: TiledConfig, f16: boolean): number {
  return 2 * c.BK * (c.BM + c.BN) * (f16 ? 2 : 4);
}

export function tiledKey(c: TiledConfig, f16: boolean, transA: boolean, transB: boolean, vec4: boolean, bias = false, rolled = false): string {
  const z = tiledTuning.swizzle ? '' : '/noswz';
  return `matmul/${f16 ? 'v3' : 'v2'}/${c.BM}x${c.BN}x${c.BK}x${c.TM ?? 8}x${c.TN ?? 8}/${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}/${vec4 ? 'vec4' : 'scalar'}${bias ? '/bias' : ''}${z}${tripCountKey(rolled)}`;
}

/**
 * `swizzle`: the XOR layout of transposed tiles (tileSwizzle); AVDIT_MATMUL_SWIZZLE=0 turns it off
 * (for comparisons). `unrolled`: keep the inner product unrolled where AVDIT_ROLL_LOOPS would roll
 * it (a test runs the form GPUs get on lavapipe; see tiledWgsl's `rolled`).
 */
export const tiledTuning: { swizzle: boolean; unrolled?: boolean } = { swizzle: process.env['AVDIT_MATMUL_SWIZZLE'] !== '0' };

/**
 * An XOR swizzle of a k-major tile's vec4 columns: the vec4 holding elements 4c … 4c+3 of row k
 * sits at column c ^ g(k), g(k) = ((k >> 2) & (r − 1))·s.
 *
 * Why: a tile that is contiguous along k in global memory (A not transposed, B transposed: every
 * forward projection x·Wᵀ has both) is transposed while it is written, one scalar per store. The
 * loader gives rowVecs consecutive lanes the same row o of the operand and consecutive k, so
 * those lanes write the same column o of rows k, k + 4, …, whose starts are a multiple of 32 words
 * apart: the same bank, a rowVecs-way conflict (4-way at BK = 16). g(k) moves each group of four k
 * to its own columns. The inner loop reads a whole vec4 column index c = h·step + t (t the thread's
 * row or column, below step, a power of two), so with g < step the swizzled index is h·step + (t ^ g):
 * each thread keeps t ^ g for the few values of g in registers and the reads cost nothing extra.
 *
 * Chosen here by counting bank conflicts for one warp's stores (all warps and registers see the
 * same pattern shifted); null when nothing beats the plain layout.
 */
export function tileSwizzle(rowVecs: number, rowFloats: number, step: number, threads: number): { r: number; s: number; wavefronts: number; without: number } | null {
  const lanes = Math.min(32, threads);
  const cost = (r: number, sh: number): number =>
    Math.max(
      ...[0, 1, 2, 3].map((q) =>
        storeWavefronts((L) => {
          const o = Math.floor(L / rowVecs), k = 4 * (L % rowVecs) + q;
          return k * rowFloats + 4 * ((o >> 2) ^ (((k >> 2) & (r - 1)) * sh)) + (o & 3);
        }, lanes),
      ),
    );
  const without = cost(1, 0);
  let best: { r: number; s: number; wavefronts: number } | null = null;
  for (const r of [2, 4, 8]) {
    for (const sh of [1, 2, 4, 8]) {
      if ((r - 1) * sh >= step || (step & (step - 1)) !== 0) continue;
      const c = cost(r, sh);
      if (c < (best?.wavefronts ?? without)) best = { r, s: sh, wavefronts: c };
    }
  }
  return best ? { ...best, without } : null;
}

/** WGSL lets `<t>X<g> = t ^ g` for the values g(k) takes over a BK slice (none without a swizzle). */
function swizzleRegs(t: string, sw: { r: number; s: number } | null, BK: number): string {
  if (!sw) return '';
  const gs = [...new Set(Array.from({ length: BK / 4 }, (_, j) => (j & (sw.r - 1)) * sw.s))];
  return gs.map((g) => `  let ${t}X${g} = ${t} ^ ${g}u;\n`).join('');
}

/**
 * `bias`: out = op(A)·op(B) + bias[N] on every row (the accumulators start at the bias).
 * `rolled` (software adapters under AVDIT_ROLL_LOOPS=1, kernels/loop-bound.ts): the inner product over a BK slice is a loop
 * with an opaque trip count instead of BK unrolled steps, the swizzled columns computed per step;
 * the same products in the same order. Unrolled, lavapipe's LLVM took 5.5–8.7 s to compile one
 * 64×128×16 8×8 kernel.
 */
export function tiledWgsl(c: TiledConfig, f16: boolean, transA: boolean, transB: boolean, vec4: boolean, bias = false, rolled = false): string {
  const { BM, BN, BK } = c;
  const TM = c.TM ?? 8;
  const TN = c.TN ?? 8;
  const bad = tiledConfigError(c);
  if (bad) throw new Error(`tiled matmul ${tiledName(c)}: ${bad}`);
  const T = tiledThreads(c);
  const QM = TM / 4; // four-row pieces per thread
  const QN = TN / 4;
  const stepM = BM / 4 / QM; // vec4 distance between a thread's pieces (in As / Bs rows)
  const stepN = BN / 4 / QN;
  const ST = f16 ? 'f16' : 'f32'; // workgroup-memory element type
  const stageA = (BK * BM) / 4; // vec4s per stage
  const stageB = (BK * BN) / 4;
  const { a, b } = operandTiles(transA, transB, BM, BN, BK);
  const toS = (v: string) => (f16 ? `vec4<f16>(${v})` : v);
  const toS1 = (v: string) => (f16 ? `f16(${v})` : v);
  // XOR swizzles of the transposed tiles (tileSwizzle): A's when A is not transposed, B's when B is.
  const swz = (needed: boolean, rowFloats: number, step: number) => (tiledTuning.swizzle && needed ? tileSwizzle(BK / 4, rowFloats, step, T) : null);
  const swA = swz(!transA, BM, stepM);
  const swB = swz(transB, BN, stepN);
  /** WGSL: g(k) for the k of a register whose first k is `i` (a multiple of 4). */
  const gOf = (sw: { r: number; s: number }, i: string) => `(((${i} >> 2u) & ${sw.r - 1}u) * ${sw.s}u)`;

  // Writing a register to workgroup memory (k-major layout). `o`, `i` are tile-local
  // outer / inner coordinates of the register's first element.
  const transposed = (arr: string, nxt: string, rowVecs: number, sw: { r: number; s: number } | null) => (o: string, i: string, r: string) =>
    [
      `    {`,
      `      let col = ${sw ? `(${o} / 4u) ^ ${gOf(sw, i)}` : `${o} / 4u`};`,
      ...[0, 1, 2, 3].map((q) => `      ${arr}[${nxt} + (${i} + ${q}u) * ${rowVecs}u + col][${o} % 4u] = ${toS1(`${r}[${q}]`)};`),
      `    }`,
    ].join('\n');
  const storeA = (o: string, i: string, r: string) =>
    transA
      ? `    As[nxtA + ${o} * ${BM / 4}u + ${i} / 4u] = ${toS(r)};` // outer = k, inner = m: a vec4 along m
      : transposed('As', 'nxtA', BM / 4, swA)(o, i, r); // outer = m, inner = k: transpose into As[k][m]
  const storeB = (o: string, i: string, r: string) =>
    transB
      ? transposed('Bs', 'nxtB', BN / 4, swB)(o, i, r) // outer = n, inner = k: transpose into Bs[k][n]
      : `    Bs[nxtB + ${o} * ${BN / 4}u + ${i} / 4u] = ${toS(r)};`; // outer = k, inner = n
  const k = kStaging(a, b, T, BK, vec4, storeA, storeB);

  // The inner product over one BK slice, fully unrolled (constant register indices), or rolled.
  const widen = (v: string) => (f16 ? `vec4<f32>(${v})` : v);
  const inner: string[] = [];
  const fmas = (pad: string): string[] =>
    Array.from({ length: TM }, (_, r) => {
      const av = `a${r >> 2}.${'xyzw'[r & 3]}`;
      return `${pad}${Array.from({ length: QN }, (_, h) => `acc${r}_${h} = fma(vec4<f32>(${av}), b${h}, acc${r}_${h});`).join(' ')}`;
    });
  if (rolled) {
    const tA = swA ? `(ty ^ ${gOf(swA, 'kk')})` : 'ty';
    const tB = swB ? `(tx ^ ${gOf(swB, 'kk')})` : 'tx';
    inner.push(`    for (var kk = 0u; kk < ${tripCount(BK, true, 'P.p0')}; kk++) {`);
    for (let h = 0; h < QM; h++) inner.push(`      let a${h} = ${widen(`As[curA + kk * ${BM / 4}u + ${h * stepM}u + ${tA}]`)};`);
    for (let h = 0; h < QN; h++) inner.push(`      let b${h} = ${widen(`Bs[curB + kk * ${BN / 4}u + ${h * stepN}u + ${tB}]`)};`);
    inner.push(...fmas('      '), `    }`);
  }
  for (let kk = 0; kk < (rolled ? 0 : BK); kk++) {
    inner.push(`    {`);
    // With a swizzle, the column of row kk is (h·step + t) ^ g(kk) = h·step + (t ^ g(kk)): t ^ g in registers.
    const tA = swA ? `tyX${((kk >> 2) & (swA.r - 1)) * swA.s}` : 'ty';
    const tB = swB ? `txX${((kk >> 2) & (swB.r - 1)) * swB.s}` : 'tx';
    for (let h = 0; h < QM; h++) inner.push(`      let a${h} = ${widen(`As[curA + ${kk * (BM / 4) + h * stepM}u + ${tA}]`)};`);
    for (let h = 0; h < QN; h++) inner.push(`      let b${h} = ${widen(`Bs[curB + ${kk * (BN / 4) + h * stepN}u + ${tB}]`)};`);
    inner.push(...fmas('      '), `    }`);
  }

  // Write-back of the 8×8 block.
  const write: string[] = [];
  for (let r = 0; r < TM; r++) {
    const row = `${(r >> 2) * stepM * 4}u + ty * 4u + ${r & 3}u`;
    write.push(`  {`);
    write.push(`    let gr = m0 + ${row};`);
    for (let h = 0; h < QN; h++) {
      const col = `${h * stepN * 4}u + tx * 4u`;
      write.push(`    {`);
      write.push(`      let gc = n0 + ${col};`);
      if (vec4) {
        write.push(`      if (gr < P.M && gc < P.N) { out[(offO + gr * P.N + gc) / 4u] = acc${r}_${h}; }`);
      } else {
        write.push(`      if (gr < P.M) {`);
        for (let q = 0; q < 4; q++) write.push(`        if (gc + ${q}u < P.N) { out[offO + gr * P.N + gc + ${q}u] = acc${r}_${h}[${q}]; }`);
        write.push(`      }`);
      }
      write.push(`    }`);
    }
    write.push(`  }`);
  }

  // Accumulators start at zero, or at the bias of their four columns.
  const accDecl: string[] = [];
  const init = (h: number) => (bias ? `bias${h}` : 'vec4<f32>(0.0)');
  if (bias) {
    for (let h = 0; h < QN; h++) {
      const gc = `n0 + ${h * stepN * 4}u + tx * 4u`;
      accDecl.push(`  let bias${h} = vec4<f32>(${[0, 1, 2, 3].map((q) => `biasAt(${gc} + ${q}u)`).join(', ')});`);
    }
  }
  for (let r = 0; r < TM; r++) {
    accDecl.push(`  ${Array.from({ length: QN }, (_, h) => `var acc${r}_${h} = ${init(h)};`).join(' ')}`);
  }

  return /* wgsl */ `${f16 ? 'enable f16;\n' : ''}
// ${tiledKey(c, f16, transA, transB, vec4, bias, rolled)}: see kernels/matmul-tiled.ts for the tiling.
${MATMUL_UNIFORMS_WGSL}
${bindings(vec4, vec4, bias)}

// Two stages of k-major tiles, as vec4 along m (As) and n (Bs).
var<workgroup> As: array<vec4<${ST}>, ${2 * stageA}>;
var<workgroup> Bs: array<vec4<${ST}>, ${2 * stageB}>;

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lidx: u32) {
${tilePrologue(BM, BN)}
  let tx = lidx % ${BN / TN}u;
  let ty = lidx / ${BN / TN}u;
${rolled ? '' : swizzleRegs('ty', swA, BK) + swizzleRegs('tx', swB, BK)}
${accDecl.join('\n')}
${loaderDecl(a, T)}
${loaderDecl(b, T)}
  let nT = (P.K + ${BK - 1}u) / ${BK}u;

  // Stage 0 <- K-step 0.
  {
    let nxtA = 0u;
    let nxtB = 0u;
${loaderLoad(a, T, '0u', vec4)}
${loaderLoad(b, T, '0u', vec4)}
${loaderStore(a, T, storeA)}
${loaderStore(b, T, storeB)}
  }
  workgroupBarrier();

  for (var t = 0u; t < nT; t++) {
    let curA = (t & 1u) * ${stageA}u;
    let curB = (t & 1u) * ${stageB}u;
    let nxtA = ${stageA}u - curA;
    let nxtB = ${stageB}u - curB;
    let more = t + 1u < nT;
    // Prefetch K-step t+1 into registers; its latency hides behind the FMAs below.
${k.prefetch}
${inner.join('\n')}
${k.store}
    workgroupBarrier();
  }

${write.join('\n')}
}
`;
}
