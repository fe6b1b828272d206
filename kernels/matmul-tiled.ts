/**
 * v2 (f32) and v3 (f16 operands, f32 accumulation): register-blocked tiled matmul.
 *
 * Tiling (defaults BM = BN = 128, BK = 16, 256 threads):
 *
 *   - A workgroup computes a BM×BN tile of out. Its threads form a (BM/8)×(BN/8) grid; thread
 *     (tx, ty) owns an 8×8 block of outputs held in 16 vec4<f32> registers, split in two 4-row
 *     halves and two 4-column halves so that neighbouring threads read neighbouring vec4s:
 *       rows    ty·4 .. ty·4+3          and  BM/2 + ty·4 .. BM/2 + ty·4+3
 *       columns tx·4 .. tx·4+3          and  BN/2 + tx·4 .. BN/2 + tx·4+3
 *   - K is walked in steps of BK. The BK×BM slice of A and the BK×BN slice of B are staged in
 *     workgroup memory k-major (As[k][m], Bs[k][n], as vec4 along m / n), so the inner loop reads
 *     2 vec4 of A and 2 vec4 of B per k and does 16 vec4 FMAs (64 multiply-adds): 4 FMA per load.
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
  loaderLoad,
  loaderStore,
  operandTiles,
  tilePrologue,
} from './matmul-common.ts';

export interface TiledConfig {
  BM: number;
  BN: number;
  BK: number;
}

export const TILED_DEFAULT: TiledConfig = { BM: 128, BN: 128, BK: 16 };
export const TILED_SMALL: TiledConfig = { BM: 64, BN: 64, BK: 16 };

export function tiledThreads(c: TiledConfig): number {
  return (c.BM / 8) * (c.BN / 8);
}

/** Workgroup memory bytes used by a config. */
export function tiledSharedBytes(c: TiledConfig, f16: boolean): number {
  return 2 * c.BK * (c.BM + c.BN) * (f16 ? 2 : 4);
}

export function tiledKey(c: TiledConfig, f16: boolean, transA: boolean, transB: boolean, vec4: boolean): string {
  return `matmul/${f16 ? 'v3' : 'v2'}/${c.BM}x${c.BN}x${c.BK}/${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}/${vec4 ? 'vec4' : 'scalar'}`;
}

export function tiledWgsl(c: TiledConfig, f16: boolean, transA: boolean, transB: boolean, vec4: boolean): string {
  const { BM, BN, BK } = c;
  if (BM % 8 !== 0 || BN % 8 !== 0) throw new Error(`tiled matmul: BM, BN must be multiples of 8 (got ${BM}, ${BN})`);
  const T = tiledThreads(c);
  const ST = f16 ? 'f16' : 'f32'; // workgroup-memory element type
  const stageA = (BK * BM) / 4; // vec4s per stage
  const stageB = (BK * BN) / 4;
  const { a, b } = operandTiles(transA, transB, BM, BN, BK);
  const toS = (v: string) => (f16 ? `vec4<f16>(${v})` : v);
  const toS1 = (v: string) => (f16 ? `f16(${v})` : v);

  // Writing a register to workgroup memory (k-major layout). `o`, `i` are tile-local
  // outer / inner coordinates of the register's first element.
  const storeA = (o: string, i: string, r: string) =>
    transA
      ? `    As[nxtA + ${o} * ${BM / 4}u + ${i} / 4u] = ${toS(r)};` // outer = k, inner = m: a vec4 along m
      : [0, 1, 2, 3] // outer = m, inner = k: transpose into As[k][m]
          .map((q) => `    As[nxtA + (${i} + ${q}u) * ${BM / 4}u + ${o} / 4u][${o} % 4u] = ${toS1(`${r}[${q}]`)};`)
          .join('\n');
  const storeB = (o: string, i: string, r: string) =>
    transB
      ? [0, 1, 2, 3] // outer = n, inner = k: transpose into Bs[k][n]
          .map((q) => `    Bs[nxtB + (${i} + ${q}u) * ${BN / 4}u + ${o} / 4u][${o} % 4u] = ${toS1(`${r}[${q}]`)};`)
          .join('\n')
      : `    Bs[nxtB + ${o} * ${BN / 4}u + ${i} / 4u] = ${toS(r)};`; // outer = k, inner = n

  // The inner product over one BK slice, fully unrolled (constant register indices).
  const widen = (v: string) => (f16 ? `vec4<f32>(${v})` : v);
  const inner: string[] = [];
  for (let kk = 0; kk < BK; kk++) {
    inner.push(`    {`);
    inner.push(`      let a0 = ${widen(`As[curA + ${kk * (BM / 4)}u + ty]`)};`);
    inner.push(`      let a1 = ${widen(`As[curA + ${kk * (BM / 4) + BM / 8}u + ty]`)};`);
    inner.push(`      let b0 = ${widen(`Bs[curB + ${kk * (BN / 4)}u + tx]`)};`);
    inner.push(`      let b1 = ${widen(`Bs[curB + ${kk * (BN / 4) + BN / 8}u + tx]`)};`);
    for (let r = 0; r < 8; r++) {
      const av = `a${r >> 2}.${'xyzw'[r & 3]}`;
      inner.push(`      acc${r}_0 = fma(vec4<f32>(${av}), b0, acc${r}_0); acc${r}_1 = fma(vec4<f32>(${av}), b1, acc${r}_1);`);
    }
    inner.push(`    }`);
  }

  // Write-back of the 8×8 block.
  const write: string[] = [];
  for (let r = 0; r < 8; r++) {
    const row = r < 4 ? `ty * 4u + ${r}u` : `${BM / 2}u + ty * 4u + ${r - 4}u`;
    write.push(`  {`);
    write.push(`    let gr = m0 + ${row};`);
    for (let h = 0; h < 2; h++) {
      const col = h === 0 ? `tx * 4u` : `${BN / 2}u + tx * 4u`;
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

  const accDecl: string[] = [];
  for (let r = 0; r < 8; r++) accDecl.push(`  var acc${r}_0 = vec4<f32>(0.0); var acc${r}_1 = vec4<f32>(0.0);`);

  return /* wgsl */ `${f16 ? 'enable f16;\n' : ''}
// ${tiledKey(c, f16, transA, transB, vec4)}: see kernels/matmul-tiled.ts for the tiling.
${MATMUL_UNIFORMS_WGSL}
${bindings(vec4)}

// Two stages of k-major tiles, as vec4 along m (As) and n (Bs).
var<workgroup> As: array<vec4<${ST}>, ${2 * stageA}>;
var<workgroup> Bs: array<vec4<${ST}>, ${2 * stageB}>;

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lidx: u32) {
${tilePrologue(BM, BN)}
  let tx = lidx % ${BN / 8}u;
  let ty = lidx / ${BN / 8}u;
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
    if (more) {
      let k0 = (t + 1u) * ${BK}u;
${loaderLoad(a, T, 'k0', vec4)}
${loaderLoad(b, T, 'k0', vec4)}
    }
${inner.join('\n')}
    if (more) {
${loaderStore(a, T, storeA)}
${loaderStore(b, T, storeB)}
    }
    workgroupBarrier();
  }

${write.join('\n')}
}
`;
}
