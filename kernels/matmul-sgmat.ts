/**
 * v4: mixed-precision matmul on subgroup matrices (tensor cores): f32 operands are rounded to
 * f16 while being staged in workgroup memory, multiplied as 16×16×16 f16 fragments and
 * accumulated in f32 (WGSL `chromium_experimental_subgroup_matrix`, Vulkan cooperative matrices).
 *
 * Tiling (default BM = BN = 128, BK = 32, a 2×4 grid of subgroups = 256 threads):
 *
 *   - A workgroup computes a BM×BN tile of out; it has SGM×SGN subgroups of 32 invocations, and
 *     subgroup (sm, sn) owns the (BM/SGM)×(BN/SGN) sub-tile at rows sm·BM/SGM, columns sn·BN/SGN,
 *     i.e. TM×TN accumulator fragments of 16×16 f32 (TM = BM/(16·SGM), TN = BN/(16·SGN)).
 *   - K is walked in steps of BK. The BM×BK slice of A and the BK×BN slice of B are staged in
 *     workgroup memory as f16 in the layout they have in global memory (rows along the operand's
 *     outer dimension, contiguous along its inner one, each row padded by 8 halves = 16 bytes to
 *     spread rows over banks). The fragments are then loaded row-major or column-major to match:
 *       A not transposed: As[m][k] → left fragments row-major;  A transposed: As[k][m] → column-major
 *       B not transposed: Bs[k][n] → right fragments row-major; B transposed: Bs[n][k] → column-major
 *     so no operand is ever transposed by hand. Per 16-wide k slice a subgroup loads TM left and
 *     TN right fragments and issues TM·TN multiply-accumulates.
 *   - Two stages of workgroup memory with register prefetch of the next K-step (as in v2); one
 *     barrier per K-step. Config `:s1` uses one stage (two barriers per K-step, half the memory,
 *     so that 256×128 tiles with BK = 32 fit in 48 KiB). Out-of-range elements load as 0 (edges and K tails are free).
 *   - Write-back: a workgroup whose tile lies inside out (and N % 4 == 0, flag bit 0) stores its
 *     fragments straight to global memory (row-major, stride N). Edge workgroups stage fragment
 *     (i, j) of every subgroup in workgroup memory (one 16×16 f32 block per subgroup), and the
 *     whole workgroup writes the in-range elements; this never needs to know how invocations map
 *     to subgroups.
 *
 * Subgroup-matrix rules this respects (Dawn docs/dawn/features/subgroup_matrix.md):
 *   - the workgroup's x size is a multiple of the max subgroup size (32 on NVIDIA);
 *   - `col_major` arguments are constant expressions; pointers are to arrays of the scalar type
 *     (f16 workgroup arrays, the f32 output array);
 *   - builtins are called in workgroup-uniform control flow (loops with uniform bounds), but their
 *     offsets depend on the subgroup id, so Tint's conservative uniformity diagnostic is turned
 *     off (`diagnostic(off, chromium.subgroup_matrix_uniformity)`, as llama.cpp and onnxruntime do);
 *   - Dawn's robustness predicates loads/stores on offset + stride·(rows−1) + cols ≤ length, which
 *     every direct store satisfies since the whole fragment is in range.
 *
 * Emulation (`emulate = true`, variant `v4emu`): the same kernel text with the subgroup-matrix
 * types and builtins replaced by plain WGSL (a "subgroup" is 32 consecutive invocations, each
 * holding its share of every fragment, see EMU). It is slow, but it runs on lavapipe (shader-f16
 * only) and so tests all the tiling, offsets, strides and majorness of v4.
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
  type TileLoad,
} from './matmul-common.ts';
import { emulatedOps, FRAG, realOps, SUBGROUP, X3_WGSL, type SgOps, type SgSyntax } from './sgmat-ops.ts';

export interface SgConfig {
  BM: number;
  BN: number;
  BK: number;
  /** Subgroup grid: SGM along M, SGN along N. */
  SGM: number;
  SGN: number;
  /**
   * Workgroup-memory stages: 2 (default) = double-buffered, one barrier per K-step; 1 = single
   * buffer, two barriers per K-step, half the memory (room for bigger tiles / BK).
   */
  ST?: number;
  /** Prefetch registers hold f16 (operands converted as they arrive: half the registers). Flag `h`. */
  H?: boolean;
  /**
   * No register prefetch: each K-step's tile is loaded and stored right before the MMAs (its
   * registers live briefly; latency is hidden by other resident warps, not by this warp's MMAs). Flag `np`.
   */
  NP?: boolean;
  /**
   * Staggered staging stores (flag `z`): a thread writes its four halves of a register as two
   * 32-bit words, and the lanes whose words would share banks with the other lanes' (see
   * `storeStagger`) write their second word first. Same data, same stores, reordered. Flag `z`.
   */
  Z?: boolean;
  /**
   * B straight from global memory (flag `gb`; benchmarks, and mixed precision's direct form,
   * kernels/matmul.ts directVariant): B arrives as f16 (a converted copy, such as the backend's
   * copies of weights, engine/webgpu/f16-cache.ts) and each subgroup loads its right fragments
   * from the storage buffer itself; only A is staged in workgroup memory, so the staging stores and
   * their barriers' share are halved. Needs K and N multiples of 16 (fragments past K or N are
   * skipped, not masked). Same products in the same order as without: the same results.
   */
  GB?: boolean;
  /**
   * A straight from global memory too (flag `ga`, needs `gb`; as `gb`): both operands
   * arrive as f16 and every fragment is loaded from the storage buffers; nothing is staged, the
   * K loop has no barrier, and the workgroup tile only sets which fragments share L1 (and, with
   * the grouped tile order, L2). Needs M a multiple of 16 too: a left fragment past M is read at
   * the last whole fragment instead (its products land in accumulator rows never written back).
   */
  GA?: boolean;
  /**
   * Both operands f16 in global memory as with `gb:ga`, but staged in workgroup memory like the
   * plain v4 (flag `fs`, needs `gb`; with `gb` alone only B is so copied, an f32 A is staged from
   * registers as usual): each K-step's A and B tiles are copied block by 16×16
   * block through fragments (a fragment load from the storage buffer, a fragment store into the
   * tile), the subgroups sharing the blocks, then the MMAs read the tiles as usual. Against the
   * plain v4, which converts f32 registers and writes the tiles four halves at a time (16-bit
   * stores), half the global bytes and no scalar stores; against `gb:ga`, every element read once
   * per workgroup rather than once per subgroup that uses it. Blocks past M or N are read at the
   * last whole block (their products land in rows or columns never written back), k slices past
   * K are skipped (K % 16 = 0).
   */
  FS?: boolean;
  /**
   * f32 products on the f16 tensor cores (flag `x3`): each operand, scaled by a power of two that
   * puts its largest |x| in [2^13, 2^14) (from kernels/absmax.ts), is staged as two f16 arrays, its
   * leading 11 significand bits hi and the remainder lo = f16(x − hi), together 21–22 of f32's 24
   * significand bits; A·B ≈ Al·Bh + Ah·Bl + Ah·Bh (the dropped Al·Bl is 2^-22 of a term), three
   * MMAs a fragment pair accumulated in f32, scaled back at the end. Twice the staging memory and
   * stores of the plain form, three times its MMAs. Not with `h`, `gb` or `ga`.
   */
  X3?: boolean;
  /**
   * With X3, scale back in the staged write-back (flag `x3s`, which implies x3): every tile's
   * fragments go through workgroup memory and each element is multiplied as it is written, instead
   * of multiplying the fragments (`subgroupMatrixScalarMultiply`, which only the x3 split uses)
   * and storing interior tiles straight from them. A slower epilogue that needs no builtin beyond
   * the plain v4's.
   */
  X3S?: boolean;
}

/** The config as written in a variant string: BMxBNxBK:SGMxSGN[:s1][:h][:np][:z][:gb][:ga][:fs][:x3 | :x3s]. */
export function sgName(c: SgConfig): string {
  return `${c.BM}x${c.BN}x${c.BK}:${c.SGM}x${c.SGN}${(c.ST ?? 2) === 2 ? '' : `:s${c.ST}`}${c.H ? ':h' : ''}${c.NP ? ':np' : ''}${c.Z ? ':z' : ''}${c.GB ? ':gb' : ''}${c.GA ? ':ga' : ''}${c.FS ? ':fs' : ''}${c.X3 ? (c.X3S ? ':x3s' : ':x3') : ''}`;
}

export type { SgSyntax } from './sgmat-ops.ts';

export const SG_DEFAULT: SgConfig = { BM: 128, BN: 128, BK: 32, SGM: 2, SGN: 4 };
/** Small config (fits lavapipe's 32 KiB of workgroup memory); used by the emulation tests. */
export const SG_SMALL: SgConfig = { BM: 64, BN: 64, BK: 32, SGM: 2, SGN: 2 };

/** Fragment size (the f16×f16→f32 16×16×16 subgroup-matrix config). */
const F = FRAG;
export { SUBGROUP };
/** Row padding of the staged tiles, in halves (16 bytes). */
const PAD = 8;

export function sgThreads(c: SgConfig): number {
  return c.SGM * c.SGN * SUBGROUP;
}

function check(c: SgConfig): { TM: number; TN: number } {
  const TM = c.BM / (F * c.SGM);
  const TN = c.BN / (F * c.SGN);
  if (!Number.isInteger(TM) || !Number.isInteger(TN) || TM < 1 || TN < 1 || c.BK % F !== 0) {
    throw new Error(`v4 config ${JSON.stringify(c)}: BM/(16·SGM), BN/(16·SGN), BK/16 must be whole`);
  }
  return { TM, TN };
}

/**
 * Bank conflicts of the staging stores, and the lane mask that avoids them.
 *
 * Register j of lane L holds halves (o, i … i+3) of the tile (matmul-common.ts loaderLoad: with
 * v = L + j·T, o = v / rowVecs, i = 4·(v % rowVecs)), stored at half o·ld + i + q by four 16-bit
 * stores q = 0 … 3: stores 0 and 1 fill the 32-bit word (o·ld + i)/2, stores 2 and 3 the next one.
 * A warp's 32 lanes write at 8-byte strides, so at the default tiles lanes L and L + 16 hit the same
 * bank in different words (e.g. BK = 64, ld = 72: two rows of 16 lanes, rows 36 words apart ≡ 4
 * mod 32, every even bank twice): each store takes two shared-memory wavefronts.
 *
 * With a mask, the lanes where parity(L & mask) = 1 write their second word first (stores 0, 1
 * go to word + 1 and stores 2, 3 to word), which moves them to the odd banks. The mask is chosen
 * here by counting, for the warp's 32 lanes, the most distinct words any bank gets in one store
 * (the wavefronts it costs); all lanes of every warp and every register j see the same pattern
 * shifted (T and the warp size are multiples of rowVecs or of 32), so one warp decides.
 */
export function storeStagger(rowVecs: number, ld: number): { mask: number; wavefronts: number; without: number } {
  const degree = (mask: number): number =>
    Math.max(
      ...[0, 1].map((second) =>
        storeWavefronts((lane) => {
          const o = Math.floor(lane / rowVecs), i = 4 * (lane % rowVecs);
          return (o * ld + i) / 2 + (second ^ (popcount(lane & mask) & 1));
        }, SUBGROUP),
      ),
    );
  const without = degree(0);
  let best = { mask: 0, wavefronts: without };
  for (let mask = 1; mask < SUBGROUP; mask++) {
    const d = degree(mask);
    if (d < best.wavefronts || (d === best.wavefronts && popcount(mask) < popcount(best.mask))) best = { mask, wavefronts: d };
  }
  return { ...best, without };
}

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/** Staged tile sizes (halves per stage) for A and B. */
function stageSizes(c: SgConfig, transA: boolean, transB: boolean): { stA: number; stB: number; ldA: number; ldB: number } {
  // Row length (padded) of each staged tile: along the operand's inner (contiguous) dimension.
  const ldA = (transA ? c.BM : c.BK) + PAD;
  const ldB = (transB ? c.BK : c.BN) + PAD;
  const rowsA = transA ? c.BK : c.BM;
  const rowsB = transB ? c.BN : c.BK;
  return { stA: c.GA && !c.FS ? 0 : rowsA * ldA, stB: c.GB && !c.FS ? 0 : rowsB * ldB, ldA, ldB };
}

/**
 * Floats of the f32 block Cs: one 16×16 fragment per subgroup for the edge write-back, and with a
 * bias the 16 × BN bias rows the accumulators start from.
 */
function csFloats(c: SgConfig, bias: boolean): number {
  return Math.max(c.SGM * c.SGN * F * F, bias ? F * c.BN : 0);
}

/** Workgroup memory bytes (worst case over transposes and bias). */
export function sgSharedBytes(c: SgConfig): number {
  let worst = 0;
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      const { stA, stB } = stageSizes(c, tA, tB);
      worst = Math.max(worst, (c.ST ?? 2) * (stA + stB) * 2 * (c.X3 ? 2 : 1) + csFloats(c, true) * 4);
    }
  }
  return worst;
}

export function sgKey(c: SgConfig, transA: boolean, transB: boolean, vec4: boolean, emulate: boolean, syntax: SgSyntax = 'new', bias = false): string {
  return `matmul/${emulate ? 'v4emu' : `v4${syntax === 'old' ? 'old' : ''}`}/${c.BM}x${c.BN}x${c.BK}/${c.SGM}x${c.SGN}/s${c.ST ?? 2}${c.H ? 'h' : ''}${c.NP ? 'np' : ''}${c.Z ? 'z' : ''}${c.GB ? 'gb' : ''}${c.GA ? 'ga' : ''}${c.FS ? 'fs' : ''}${c.X3 ? (c.X3S ? 'x3s' : 'x3') : ''}/${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}/${vec4 ? 'vec4' : 'scalar'}${bias ? '/bias' : ''}`;
}

/** A tile `:fs` copies: its loader description, staged row length, array, next-stage offset and register prefix. */
type FsTile = [TileLoad, number, string, string, string];

/**
 * WGSL of `:fs` staging: each K-step's tiles copied 16×16 block by block through left fragments
 * (load from the f16 operand, store into the tile in the operand's own layout), subgroup sg taking
 * blocks sg, sg + NSG, … of each tile. The next K-step's blocks are loaded into fragment registers
 * before the MMAs and stored after them (`prefetch`, `store`: kStaging's places), without a branch
 * (the registers are assigned in straight-line code): past the last K-step, and for blocks past M,
 * N or K, the reads are clamped to the operand's last whole block (their data is never used).
 */
function fragmentStaging(
  ops: SgOps, tiles: FsTile[], NSG: number, BK: number,
): { decl: string; load: (k0: string) => string; prefetch: string; store: string } {
  const per = tiles.map(([t]) => {
    const perRow = t.innerT / F, n = (t.outerT / F) * perRow;
    if (n % NSG !== 0) throw new Error(`v4 :fs: ${n} blocks of ${t.src}'s tile do not divide among ${NSG} subgroups`);
    return { perRow, q: n / NSG };
  });
  const blocks = (f: (t: TileLoad, ld: number, arr: string, nxt: string, reg: string, perRow: number, q: number) => string): string =>
    tiles.flatMap(([t, ld, arr, nxt, reg], i) => Array.from({ length: per[i]!.q }, (_, q) => f(t, ld, arr, nxt, reg, per[i]!.perRow, q))).join('\n');
  const where = (perRow: number, q: number) => `let bo = (sg + ${q * NSG}u) / ${perRow}u; let bi = (sg + ${q * NSG}u) % ${perRow}u;`;
  const load = (k0: string) => blocks((t, _ld, _arr, _nxt, reg, perRow, q) => `    { ${where(perRow, q)}
      let go = min(${t.outer0(k0)} + bo * ${F}u, ${t.outerSize} - ${F}u);
      let gi = min(${t.inner0(k0)} + bi * ${F}u, ${t.innerSize} - ${F}u);
      ${reg}${q} = ${ops.loadLeft(t.src, `${t.offset} + go * ${t.innerSize} + gi`, false, t.innerSize)}; }`);
  return {
    decl: blocks((_t, _ld, _arr, _nxt, reg, _perRow, q) => `  var ${reg}${q}: ${ops.left};`),
    load,
    prefetch: `    {\n      let k0 = (t + 1u) * ${BK}u;\n${load('k0')}\n    }`,
    store: blocks((_t, ld, arr, nxt, reg, perRow, q) => `    { ${where(perRow, q)} ${ops.storeLeft(arr, `${nxt} + bo * ${F * ld}u + bi * ${F}u`, `${reg}${q}`, `${ld}u`)} }`),
  };
}

/** `bias`: out = op(A)·op(B) + bias[N] on every row (the accumulators start at the bias, see below). */
export function sgWgsl(c: SgConfig, transA: boolean, transB: boolean, vec4: boolean, emulate: boolean, syntax: SgSyntax = 'new', bias = false): string {
  const GB = !!c.GB;
  const GA = !!c.GA;
  const FS = !!c.FS;
  // The MMAs read A / B fragments straight from global memory (gb, ga without fs).
  const gA = GA && !FS, gB = GB && !FS;
  const X3 = !!c.X3;
  if (GA && !GB) throw new Error(`v4 config ${sgName(c)}: ga (A from global memory) needs gb`);
  if (X3 && (GB || c.H)) throw new Error(`v4 config ${sgName(c)}: x3 (f32 split in two f16 halves) stages both operands from f32 registers: not with gb, ga or h`);
  if (FS && !GB) throw new Error(`v4 config ${sgName(c)}: fs needs gb`);
  const ops = emulate
    ? emulatedOps({
      left: X3 ? ['As', 'Al'] : FS ? ['As', ...(GA ? ['A'] : []), 'B'] : [GA ? 'A' : 'As'], right: X3 ? ['Bs', 'Bl'] : [gB ? 'B' : 'Bs'],
      store: ['out', 'Cs'], acc: ['Cs'], storeLeft: FS ? [...(GA ? ['As'] : []), 'Bs'] : [],
    }, 'P.p0')
    : realOps(syntax);
  const { TM, TN } = check(c);
  const { BM, BN, BK, SGM, SGN } = c;
  const ST = c.ST ?? 2;
  if (ST !== 1 && ST !== 2) throw new Error(`v4 config ${sgName(c)}: stages must be 1 or 2`);
  const T = sgThreads(c);
  const NSG = SGM * SGN;
  const { stA, stB, ldA, ldB } = stageSizes(c, transA, transB);
  const { a, b } = operandTiles(transA, transB, BM, BN, BK);
  const reg = c.H ? 'f16' : 'f32';

  // Registers → f16 workgroup memory, in the operand's own (outer, inner) layout. With Z, lanes
  // with flip = 1 write the register's second word first (storeStagger).
  const mask = (t: { innerT: number }, ld: number) => (c.Z ? storeStagger(t.innerT / 4, ld).mask : 0);
  const maskA = mask(a, ldA), maskB = GB ? 0 : mask(b, ldB);
  // With X3, the register scaled by the operand's power of two (exact) is stored as hi in As / Bs
  // and lo = f16(x − hi) in Al / Bl, at the same places. hi is x with its significand cut to f16's
  // 11 bits by a mask (exact in f16, and x − hi exact in f32): rounding to f16 and back to get the
  // remainder would be x − f32(f16(x)), which compilers fold to 0 (lavapipe does).
  const stage = (arrs: readonly string[], sc: string, nxt: string, ld: number, flip: string | null) => (o: string, i: string, r: string) => {
    const vals = X3 ? ['hv', 'lv'] : ['hv'];
    return [
      `    {`,
      ...(X3
        ? [
            `      let xv = ${r} * ${sc};`,
            `      let xh = x3Hi4(xv);`,
            `      let hv = vec4<f16>(xh);`,
            `      let lv = vec4<f16>(xv - xh);`,
          ]
        : [`      let hv = ${c.H ? r : `vec4<f16>(${r})`};`]), // one vector conversion (unless the registers are f16), then four 16-bit stores
      `      let d = ${nxt} + ${o} * ${ld}u + ${i};`,
      ...(flip ? [`      let d0 = d + select(0u, 2u, ${flip});`, `      let d1 = d + select(2u, 0u, ${flip});`] : []),
      ...vals.flatMap((v, n) => {
        const arr = arrs[n]!;
        return flip
          ? [
              `      let ${v}s = select(${v}, ${v}.zwxy, ${flip});`,
              `      ${arr}[d0] = ${v}s.x;`,
              `      ${arr}[d0 + 1u] = ${v}s.y;`,
              `      ${arr}[d1] = ${v}s.z;`,
              `      ${arr}[d1 + 1u] = ${v}s.w;`,
            ]
          : [0, 1, 2, 3].map((q) => `      ${arr}[d + ${q}u] = ${v}.${'xyzw'[q]};`);
      }),
      `    }`,
    ].join('\n');
  };
  const stageA = stage(['As', 'Al'], 'scA', 'nxtA', ldA, maskA ? 'flipA' : null);
  const stageB = stage(['Bs', 'Bl'], 'scB', 'nxtB', ldB, maskB ? 'flipB' : null);
  const flipDecl = [
    maskA ? `  let flipA = (countOneBits(lidx & ${maskA}u) & 1u) == 1u; // staggered stores of A (storeStagger)` : '',
    maskB ? `  let flipB = (countOneBits(lidx & ${maskB}u) & 1u) == 1u; // and of B` : '',
  ].filter(Boolean).join('\n');
  // Staging: an f32 operand through registers (kStaging; A unless ga, B unless gb), and with fs the
  // f16 ones (B, and with ga A) through fragment copies.
  const fs = FS ? fragmentStaging(ops, [...(GA ? [[a, ldA, 'As', 'nxtA', 'fa'] as FsTile] : []), [b, ldB, 'Bs', 'nxtB', 'fb']], NSG, BK) : null;
  const regs = GA ? null : kStaging(a, GB ? null : b, T, BK, vec4, stageA, stageB, reg);
  const k = { prefetch: [regs?.prefetch, fs?.prefetch].filter(Boolean).join('\n'), store: [regs?.store, fs?.store].filter(Boolean).join('\n') };

  // One BK slice: for each 16-wide k step, TM left and TN right fragments, TM·TN MMAs (X3: the
  // lo fragments too, and per pair the two small cross terms first, then hi·hi).
  const body: string[] = [];
  const terms = X3 ? [['l', 'b'], ['a', 'c'], ['a', 'b']] : [['a', 'b']];
  if (GB) body.push(`    let k0t = t * ${BK}u;  // this K-step's first k (B's fragments are read at global k)`);
  for (let kk = 0; kk < BK; kk += F) {
    // With GB, k slices past K hold no B (K % 16 = 0; A's staged tail is zeros anyway).
    body.push(GB ? `    if (k0t + ${kk}u < P.K) {` : `    {`);
    for (let i = 0; i < TM; i++) {
      if (gA) {
        // Left fragment i from global memory: A [M, K] row-major, or A [K, M] (transposed) read
        // column-major; past M (M % 16 = 0) the last whole fragment stands in (see SgConfig.GA).
        const row = `min(m0 + rowSg + ${i * F}u, P.M - ${F}u)`;
        const off = transA ? `offA + (k0t + ${kk}u) * P.M + ${row}` : `offA + ${row} * P.K + k0t + ${kk}u`;
        body.push(`      let a${i} = ${ops.loadLeft('A', off, transA, transA ? 'P.M' : 'P.K')};`);
        continue;
      }
      const row = `rowSg + ${i * F}u`; // first m of left fragment i
      const off = transA ? `curA + ${kk * ldA}u + ${row}` : `curA + (${row}) * ${ldA}u + ${kk}u`;
      body.push(`      let a${i} = ${ops.loadLeft('As', off, transA, `${ldA}u`)};`);
      if (X3) body.push(`      let l${i} = ${ops.loadLeft('Al', off, transA, `${ldA}u`)};`);
    }
    for (let j = 0; j < TN; j++) {
      if (gB) {
        // Right fragment j from global memory: B [K, N] row-major, or B [N, K] (transposed) read
        // column-major; skipped past N (N % 16 = 0, so a fragment is all in or all out).
        const col = `n0 + colSg + ${j * F}u`;
        const off = transB ? `offB + (${col}) * P.K + k0t + ${kk}u` : `offB + (k0t + ${kk}u) * P.N + ${col}`;
        body.push(`      if (${col} < P.N) {`);
        body.push(`        let b${j} = ${ops.loadRight('B', off, transB, transB ? 'P.K' : 'P.N')};`);
        for (let i = 0; i < TM; i++) body.push(`        ${ops.mma(`a${i}`, `b${j}`, `acc${i}_${j}`)}`);
        body.push(`      }`);
        continue;
      }
      const col = `colSg + ${j * F}u`; // first n of right fragment j
      const off = transB ? `curB + (${col}) * ${ldB}u + ${kk}u` : `curB + ${kk * ldB}u + ${col}`;
      body.push(`      let b${j} = ${ops.loadRight('Bs', off, transB, `${ldB}u`)};`);
      if (X3) body.push(`      let c${j} = ${ops.loadRight('Bl', off, transB, `${ldB}u`)};`);
    }
    if (!gB) for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) for (const [l, r] of terms) body.push(`      ${ops.mma(`${l}${i}`, `${r}${j}`, `acc${i}_${j}`)}`);
    body.push(`    }`);
  }

  // Accumulators start at zero or, with a bias, at 16 copies of the bias of their columns: the
  // workgroup writes bias[n0 .. n0 + BN) into 16 rows of Cs and each fragment is loaded from there.
  const accDecl: string[] = [];
  if (bias) {
    // (X3: in the operands' scaled units, as the accumulators.)
    accDecl.push(`  for (var e = lidx; e < ${F * BN}u; e += ${T}u) { Cs[e] = biasAt(n0 + e % ${BN}u)${X3 ? ' * scA * scB' : ''}; }`);
    accDecl.push(`  workgroupBarrier();`);
  }
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) {
      accDecl.push(bias ? `  var acc${i}_${j} = ${ops.loadAcc('Cs', `colSg + ${j * F}u`, `${BN}u`)};` : `  var acc${i}_${j}: ${ops.acc};`);
    }
  }

  // X3: back from the operands' scaled units (two exact multiplies by powers of two).
  const unscale: string[] = [];
  const X3S = X3 && !!c.X3S;
  if (X3 && !X3S) for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) unscale.push(`  acc${i}_${j} = ${ops.scale(ops.scale(`acc${i}_${j}`, 'downA'), 'downB')};`);
  // Direct stores (interior workgroups).
  const direct: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) {
      direct.push(`    ${ops.store('out', `offO + (m0 + rowSg + ${i * F}u) * P.N + n0 + colSg + ${j * F}u`, `acc${i}_${j}`, 'P.N')}`);
    }
  }
  // Staged stores (edge workgroups): fragment (i, j) of every subgroup, then a cooperative write.
  const staged: string[] = [];
  const perThread = (NSG * F * F) / T; // = 8
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) {
      staged.push(`    ${ops.store('Cs', `sg * ${F * F}u`, `acc${i}_${j}`, `${F}u`)}`);
      staged.push(`    workgroupBarrier();`);
      staged.push(`    for (var e = 0u; e < ${perThread}u; e++) {`);
      staged.push(`      let idx = lidx + e * ${T}u;`);
      staged.push(`      let s = idx / ${F * F}u;            // whose fragment`);
      staged.push(`      let r = (idx % ${F * F}u) / ${F}u;`);
      staged.push(`      let q = idx % ${F}u;`);
      staged.push(`      let gr = m0 + (s % ${SGM}u) * ${BM / SGM}u + ${i * F}u + r;`);
      staged.push(`      let gc = n0 + (s / ${SGM}u) * ${BN / SGN}u + ${j * F}u + q;`);
      staged.push(`      if (gr < P.M && gc < P.N) { out[offO + gr * P.N + gc] = Cs[idx]${X3S ? ' * downA * downB' : ''}; }`);
      staged.push(`    }`);
      staged.push(`    workgroupBarrier();`);
    }
  }

  return /* wgsl */ `${ops.header}
// ${sgKey(c, transA, transB, vec4, emulate, syntax, bias)}: see kernels/matmul-sgmat.ts for the tiling.
${MATMUL_UNIFORMS_WGSL}
${bindings(vec4, false, bias, GB ? 'f16' : undefined, GA ? 'f16' : undefined, X3)}

${gA ? '// Nothing staged: every fragment is loaded from global memory.' : `// ${ST} stage(s) of f16 tiles, rows padded to ${ldA} (A) / ${ldB} (B) halves${gB ? ' (B: none, read from global memory)' : FS ? ' (copied through fragments from f16 operands)' : ''}.
var<workgroup> As: array<f16, ${ST * stA}>;`}
${gB ? '' : `var<workgroup> Bs: array<f16, ${ST * stB}>;`}
${X3 ? `// x3: the remainders lo = f16(x − hi), laid out as As / Bs.
var<workgroup> Al: array<f16, ${ST * stA}>;
var<workgroup> Bl: array<f16, ${ST * stB}>;
${X3_WGSL}` : ''}
// Edge write-back: one 16×16 f32 block per subgroup (first, with a bias: the bias rows).
var<workgroup> Cs: array<f32, ${csFloats(c, bias)}>;
${ops.helpers}

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lidx: u32${ops.param}) {
${tilePrologue(BM, BN)}
  ${ops.init}
  let sg = ${ops.sgIndex};
${flipDecl}
  let rowSg = (sg % ${SGM}u) * ${BM / SGM}u;  // this subgroup's first row / column in the tile
  let colSg = (sg / ${SGM}u) * ${BN / SGN}u;
${X3 ? `  let eA = x3Exp(S[0]);  // A and B are staged times 2^eA, 2^eB
  let eB = x3Exp(S[1]);
  let scA = pow2(eA);
  let scB = pow2(eB);
  let downA = pow2(-eA);
  let downB = pow2(-eB);` : ''}
${accDecl.join('\n')}
${GA ? '' : loaderDecl(a, T, reg)}
${GB ? '' : loaderDecl(b, T, reg)}
${fs?.decl ?? ''}
  let nT = (P.K + ${BK - 1}u) / ${BK}u;
${gA ? `
  // No staging, so no barrier: each K-step is fragment loads and MMAs.
  for (var t = 0u; t < nT; t++) {
${body.join('\n')}
  }` : `
  {
    let nxtA = 0u;
    let nxtB = 0u;
${GA ? '' : loaderLoad(a, T, '0u', vec4, reg)}
${GB ? '' : loaderLoad(b, T, '0u', vec4, reg)}
${GA ? '' : loaderStore(a, T, stageA)}
${GB ? '' : loaderStore(b, T, stageB)}
${fs ? `${fs.load('0u')}\n${fs.store}` : ''}
  }
  workgroupBarrier();

${
  ST === 2
    ? `  for (var t = 0u; t < nT; t++) {
    let curA = (t & 1u) * ${stA}u;
    let curB = (t & 1u) * ${stB}u;
    let nxtA = ${stA}u - curA;
    let nxtB = ${stB}u - curB;
    let more = t + 1u < nT;
${
  c.NP
    ? `    // No prefetch: K-step t+1 goes straight to the other stage (read last in step t−1, before the barrier).
${k.prefetch}
${k.store}
${body.join('\n')}`
    : `${k.prefetch}
${body.join('\n')}
${k.store}`
}
    workgroupBarrier();
  }`
    : `  // One stage: ${c.NP ? 'compute on t, barrier, load and overwrite with t+1' : 'prefetch K-step t+1 into registers, compute on t, barrier, overwrite'}, barrier.
  let curA = 0u;
  let curB = 0u;
  let nxtA = 0u;
  let nxtB = 0u;
  for (var t = 0u; t < nT; t++) {
    let more = t + 1u < nT;
${c.NP ? '' : k.prefetch}
${body.join('\n')}
    workgroupBarrier();
${c.NP ? k.prefetch : ''}
${k.store}
    workgroupBarrier();
  }`
}`}

${unscale.join('\n')}
  let interior = ${X3S ? 'false;  // x3s: every tile is scaled back in the staged write-back' : `(P.flags & 1u) != 0u && m0 + ${BM}u <= P.M && n0 + ${BN}u <= P.N;`}
  if (interior) {
${direct.join('\n')}
  } else {
${staged.join('\n')}
  }
}
`;
}
