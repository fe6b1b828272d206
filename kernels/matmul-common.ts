/**
 * Pieces shared by every matmul variant (kernels/matmul.ts picks one):
 *
 * - the uniform block (sizes never go into pipeline keys),
 * - the workgroup → (batch, tile row, tile column) mapping, with a grouped ("swizzled") order
 *   so that workgroups running at the same time share rows of A and columns of B in L2,
 * - the operand-tile loader that moves a tile of A or B from global memory into registers and
 *   then (through a callback that each variant writes) into workgroup memory.
 *
 * Conventions. Per batch i, A is [M, K] row-major at element offset i·strideA (or [K, M] when
 * transA), B is [K, N] (or [N, K] when transB), out is contiguous [batch, M, N] f32.
 * In memory each operand is a row-major matrix with an "outer" dimension (rows) and an "inner"
 * dimension (contiguous elements):
 *
 *   operand   transposed?  outer  inner  leading dimension
 *   A         no           m      k      K
 *   A         yes          k      m      M
 *   B         no           k      n      N
 *   B         yes          n      k      K
 *
 * The loader walks tiles in that memory order (coalesced reads); each variant decides how the
 * tile is laid out in workgroup memory.
 */

/** The uniform block of every matmul kernel (all u32; `uniformsFor` packs it in this order). */
export const MATMUL_UNIFORMS_WGSL = /* wgsl */ `
struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32,
  tilesM: u32, tilesN: u32,
  // bit 0: the output may be written straight from subgroup matrices (N % 4 == 0).
  flags: u32, p0: u32, p1: u32, p2: u32,
}`;

/** Grouped tile order: GROUP_M tile rows are walked column by column before moving on. */
export const GROUP_M = 8;

/**
 * WGSL prologue: from the (possibly folded) workgroup id to `batch`, `m0`, `n0` (first output
 * row / column of this workgroup's BM×BN tile) and the element offsets `offA`, `offB`, `offO`.
 * Returns early (uniformly for the whole workgroup) on the overshoot of a folded grid.
 */
export function tilePrologue(BM: number, BN: number): string {
  return /* wgsl */ `
  let wgLinear = wid.x + wid.y * nwg.x;
  let tilesPerBatch = P.tilesM * P.tilesN;
  if (wgLinear >= tilesPerBatch * P.batch) { return; }
  let batch = wgLinear / tilesPerBatch;
  let t = wgLinear % tilesPerBatch;
  // Grouped order (as in Triton's tutorial matmul): ${GROUP_M} tile rows at a time.
  let perGroup = ${GROUP_M}u * P.tilesN;
  let firstM = (t / perGroup) * ${GROUP_M}u;
  let groupRows = min(P.tilesM - firstM, ${GROUP_M}u);
  let tm = firstM + (t % perGroup) % groupRows;
  let tn = (t % perGroup) / groupRows;
  let m0 = tm * ${BM}u;
  let n0 = tn * ${BN}u;
  let offA = batch * P.strideA;
  let offB = batch * P.strideB;
  let offO = batch * P.M * P.N;`;
}

export interface MatmulShape {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  strideA: number;
  strideB: number;
}

/** Pack the Params struct. */
export function uniformsFor(s: MatmulShape, BM: number, BN: number, flags = 0): ArrayBuffer {
  const u = new Uint32Array(12);
  u.set([s.M, s.N, s.K, s.batch, s.strideA, s.strideB, Math.ceil(s.M / BM), Math.ceil(s.N / BN), flags]);
  return u.buffer;
}

/**
 * Whether every operand can be read (and the output written) as vec4<f32>: the contiguous
 * dimension of A, B and out and both batch strides are multiples of 4.
 */
export function vec4Aligned(s: MatmulShape): boolean {
  const innerA = s.transA ? s.M : s.K;
  const innerB = s.transB ? s.K : s.N;
  return innerA % 4 === 0 && innerB % 4 === 0 && s.N % 4 === 0 && s.strideA % 4 === 0 && s.strideB % 4 === 0;
}

/** One operand tile as the loader sees it (all sizes in elements; WGSL expressions as strings). */
export interface TileLoad {
  /** Binding name of the operand ('A' or 'B'). */
  src: string;
  /** Register name prefix (e.g. 'ra' → ra0, ra1, ...). */
  reg: string;
  /** Tile extent along the outer (row) and inner (contiguous) dimension of the operand in memory. */
  outerT: number;
  innerT: number;
  /** WGSL expressions: first outer / inner coordinate of the tile at K-step `k0`. */
  outer0: (k0: string) => string;
  inner0: (k0: string) => string;
  /** WGSL expressions: extents of the whole operand along outer / inner, and its element offset. */
  outerSize: string;
  innerSize: string;
  offset: string;
}

/** Geometry of a loader: how many vec4 registers each thread holds, and where they come from. */
export function loaderGeometry(t: TileLoad, threads: number): { perThread: number; rowVecs: number } {
  if (t.innerT % 4 !== 0) throw new Error(`tile inner extent ${t.innerT} is not a multiple of 4`);
  const vecs = (t.outerT * t.innerT) / 4;
  if (vecs % threads !== 0) throw new Error(`tile ${t.outerT}×${t.innerT} does not split over ${threads} threads`);
  return { perThread: vecs / threads, rowVecs: t.innerT / 4 };
}

/**
 * Element type of the prefetch registers: f32, or f16 (operands converted as they arrive, for
 * kernels that stage f16 anyway: half the registers, so more resident warps or bigger tiles).
 */
export type RegType = 'f32' | 'f16';

/** WGSL: `var` declarations of the prefetch registers. */
export function loaderDecl(t: TileLoad, threads: number, reg: RegType = 'f32'): string {
  const { perThread } = loaderGeometry(t, threads);
  return Array.from({ length: perThread }, (_, j) => `  var ${t.reg}${j} = vec4<${reg}>(0.0);`).join('\n');
}

/**
 * WGSL: load this thread's share of the tile at K-step `k0` into the registers, zero outside
 * the operand. Register j holds elements (o, i..i+3) of the tile with
 *   v = lidx + j·threads,  o = v / (innerT/4),  i = 4·(v % (innerT/4)).
 * Consecutive threads read consecutive vec4s of a row: coalesced.
 * `vec4` mode reads array<vec4<f32>> (the launcher checked alignment); scalar mode checks each
 * of the four elements.
 */
export function loaderLoad(t: TileLoad, threads: number, k0: string, vec4: boolean, reg: RegType = 'f32'): string {
  const { perThread, rowVecs } = loaderGeometry(t, threads);
  const cv = (x: string) => (reg === 'f16' ? `vec4<f16>(${x})` : x);
  const c1 = (x: string) => (reg === 'f16' ? `f16(${x})` : x);
  const lines: string[] = [];
  for (let j = 0; j < perThread; j++) {
    const v = `(lidx + ${j * threads}u)`;
    lines.push(`  {`);
    lines.push(`    let o = ${t.outer0(k0)} + ${v} / ${rowVecs}u;`);
    lines.push(`    let i = ${t.inner0(k0)} + (${v} % ${rowVecs}u) * 4u;`);
    lines.push(`    let base = ${t.offset} + o * ${t.innerSize} + i;`);
    if (vec4) {
      lines.push(`    if (o < ${t.outerSize} && i < ${t.innerSize}) { ${t.reg}${j} = ${cv(`${t.src}[base / 4u]`)}; } else { ${t.reg}${j} = vec4<${reg}>(0.0); }`);
    } else {
      lines.push(`    let rowOk = o < ${t.outerSize};`);
      for (let c = 0; c < 4; c++) {
        lines.push(`    if (rowOk && i + ${c}u < ${t.innerSize}) { ${t.reg}${j}[${c}] = ${c1(`${t.src}[base + ${c}u]`)}; } else { ${t.reg}${j}[${c}] = 0.0; }`);
      }
    }
    lines.push(`  }`);
  }
  return lines.join('\n');
}

/**
 * WGSL: hand each register to `store(o, i, reg)`, where (o, i) are the tile-local outer / inner
 * coordinates (WGSL u32 expressions) of the register's first element; the variant writes it
 * into workgroup memory in its own layout.
 */
export function loaderStore(t: TileLoad, threads: number, store: (o: string, i: string, reg: string) => string): string {
  const { perThread, rowVecs } = loaderGeometry(t, threads);
  const lines: string[] = [];
  for (let j = 0; j < perThread; j++) {
    const v = `(lidx + ${j * threads}u)`;
    lines.push(`  {`);
    lines.push(`    let o = ${v} / ${rowVecs}u;`);
    lines.push(`    let i = (${v} % ${rowVecs}u) * 4u;`);
    lines.push(store('o', 'i', `${t.reg}${j}`));
    lines.push(`  }`);
  }
  return lines.join('\n');
}

/**
 * WGSL of the K loop's register staging, shared by the tiled and subgroup-matrix kernels: inside
 * `for t`, with `more = t + 1u < nT`, `prefetch` loads K-step t+1 of both operands into registers
 * (its latency hides behind the FMAs of step t) and `store` writes those registers into workgroup
 * memory through each variant's own layout.
 */
export function kStaging(
  a: TileLoad, b: TileLoad | null, threads: number, BK: number, vec4: boolean,
  storeA: (o: string, i: string, reg: string) => string, storeB: (o: string, i: string, reg: string) => string,
  reg: RegType = 'f32',
): { prefetch: string; store: string } {
  return {
    prefetch: `    if (more) {
      let k0 = (t + 1u) * ${BK}u;
${loaderLoad(a, threads, 'k0', vec4, reg)}
${b ? loaderLoad(b, threads, 'k0', vec4, reg) : ''}
    }`,
    store: `    if (more) {
${loaderStore(a, threads, storeA)}
${b ? loaderStore(b, threads, storeB) : ''}
    }`,
  };
}

/** The TileLoad of A and B for a BM×BN×BK workgroup tile. */
export function operandTiles(transA: boolean, transB: boolean, BM: number, BN: number, BK: number): { a: TileLoad; b: TileLoad } {
  const a: TileLoad = transA
    ? { src: 'A', reg: 'ra', outerT: BK, innerT: BM, outer0: (k0) => k0, inner0: () => 'm0', outerSize: 'P.K', innerSize: 'P.M', offset: 'offA' }
    : { src: 'A', reg: 'ra', outerT: BM, innerT: BK, outer0: () => 'm0', inner0: (k0) => k0, outerSize: 'P.M', innerSize: 'P.K', offset: 'offA' };
  const b: TileLoad = transB
    ? { src: 'B', reg: 'rb', outerT: BN, innerT: BK, outer0: () => 'n0', inner0: (k0) => k0, outerSize: 'P.N', innerSize: 'P.K', offset: 'offB' }
    : { src: 'B', reg: 'rb', outerT: BK, innerT: BN, outer0: (k0) => k0, inner0: () => 'n0', outerSize: 'P.K', innerSize: 'P.N', offset: 'offB' };
  return { a, b };
}

/**
 * Binding declarations shared by all variants: A, B (read), out (read_write), with `bias` a
 * bias [N] (read) added to every row of out, with `scales` the two max-|x| bit patterns of A and B
 * (kernels/absmax.ts; v4's `:x3` split), then P (uniform). `bElem` / `aElem`: B's / A's element
 * type when it is not the f32 the launcher chose (v4's `:gb` reads B as f16, `:ga` A too).
 */
export function bindings(vec4: boolean, outVec4 = vec4, bias = false, bElem = vec4 ? 'vec4<f32>' : 'f32', aElem = vec4 ? 'vec4<f32>' : 'f32', scales = false): string {
  const outT = outVec4 ? 'vec4<f32>' : 'f32';
  let next = 3;
  const extra: string[] = [];
  if (bias) extra.push(`@group(0) @binding(${next++}) var<storage, read> bias: array<f32>;`);
  if (scales) extra.push(`@group(0) @binding(${next++}) var<storage, read> S: array<u32>;`);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> A: array<${aElem}>;
@group(0) @binding(1) var<storage, read> B: array<${bElem}>;
@group(0) @binding(2) var<storage, read_write> out: array<${outT}>;
${extra.map((l) => `${l}\n`).join('')}@group(0) @binding(${next}) var<uniform> P: Params;
${bias ? '// Bias of column n (0 past the last column).\nfn biasAt(n: u32) -> f32 { return select(0.0, bias[min(n, P.N - 1u)], n < P.N); }' : ''}`;
}

/**
 * Shared-memory wavefronts one store instruction of a warp costs: the most distinct 32-bit words
 * that land in one of the 32 banks (lanes writing the same word do not conflict). `wordOf(lane)`
 * is the word each lane writes. For the codegen-time layout choices (matmul-sgmat.ts
 * storeStagger, matmul-tiled.ts tileSwizzle).
 */
export function storeWavefronts(wordOf: (lane: number) => number, lanes = 32): number {
  const words = new Map<number, Set<number>>();
  for (let lane = 0; lane < lanes; lane++) {
    const word = wordOf(lane);
    const bank = word % 32;
    if (!words.has(bank)) words.set(bank, new Set());
    words.get(bank)!.add(word);
  }
  let worst = 0;
  for (const w of words.values()) worst = Math.max(worst, w.size);
  return worst;
}
