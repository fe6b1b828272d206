/**
 * Mixed-precision flash attention on subgroup matrices (tensor cores): Q, K, V, dO are rounded to
 * f16 as they are staged in workgroup memory, every product (Q Kᵀ, P V, dO Vᵀ, dS K, Pᵀ dO,
 * dSᵀ Q) is a 16×16×16 f16 fragment MMA accumulated in f32, and the softmax statistics (row max,
 * row sum, lse, D) stay f32. Same contract as the f32 kernels (attention.ts, attention-bwd.ts):
 * q [n,l,dqk], k [n,s,dqk], v [n,s,dv] f32 in, o [n,l,dv] and lse [n,l] f32 out (rows found through
 * attention-layout.ts, so the operands may also be heads inside a packed projection); the l×s
 * score matrix never exists in memory.
 *
 * Layout. A workgroup owns a block of rows (queries; keys for dK/dV), 16 per subgroup of 32
 * invocations; subgroup g owns rows 16g .. 16g+15 and every fragment along them. Head dims are
 * padded with zeros to a multiple of 16; f16 tiles are row-major [row][dim] with rows padded by
 * 8 halves. The element-wise work (exp, masks, dS) is done by invocation pairs: invocation i
 * handles row i/2 (a row of its own subgroup) and one half of the tile's columns; scores go
 * through workgroup memory as f32 (fragment store), probabilities back as f16 (fragment load).
 *
 * Forward without rescaling. Fragment accumulators cannot be scaled row by row, so instead of the
 * online softmax (attention.ts) the forward makes two passes over the keys: the first computes
 * the row maxima m of S = (scale·Q) Kᵀ, the second P = e^{S−m} (≤ 1, safe in f16), ℓ = Σ P and
 * O += P V in fragments; at the end o = O/ℓ, lse = m + log ℓ. The first pass is half the second's
 * MMAs (no P V), so the forward costs 1.5× the MMAs of a one-pass kernel, all on tensor cores.
 * A one-pass form with lazy rescaling (onePassLoop) is an option for the GPU sweep, not yet measured.
 *
 * Backward (FA2, Dao 2023, Alg. 2, with no atomics, as attention-bwd.ts): D = rowsum(dO∘O) by
 * the f32 row-dot kernel; dQ: per query block, for each key tile S = Q̃Kᵀ (Q̃ = scale·Q),
 * dP = dO Vᵀ, dS = P∘(dP − D) with P = e^{S − lse} (f16 into workgroup memory), dQ += dS K, and
 * dQ·scale at the end; dK/dV: per key block, for each query tile Sᵀ = K Q̃ᵀ, dPᵀ = V dOᵀ, then
 * dV += Pᵀ dO and dK += dSᵀ Q̃ (Q̃ carries the scale). Transposed operands are fragment loads in
 * column-major order from the same row-major tiles.
 *
 * `emulate` swaps the builtins for plain WGSL (kernels/sgmat-ops.ts) so lavapipe runs the same
 * tiling in CI.
 */
import { uniforms, type Dispatch, type GpuContext } from './context.ts';
import type { AttentionShape } from './attention.ts';
import { encodeRowDot } from './attention-bwd.ts';
import { headBasesWgsl, inputRowsWgsl, layoutUniforms, LAYOUT_FIELDS, rowAtWgsl, rowIO, rowIOKey, type RowIO } from './attention-layout.ts';
import { envTable } from './env-table.ts';
import { grid, GROUP_INDEX_WGSL } from './grid.ts';
import { MATMUL_DEFAULTS } from './matmul.ts';
import { emulatedOps, FRAG as F, realOps, SUBGROUP, type SgOps, type SgSyntax } from './sgmat-ops.ts';

export type MixedKernel = 'fwd' | 'dq' | 'dkdv';

/** A block of `bo` owned rows (multiple of 16) streaming tiles of `bt` rows (multiple of 16). */
export interface MixedTiles {
  bo: number;
  bt: number;
}

/** Row padding of f16 tiles (halves) and of f32 score tiles (floats). */
const PADH = 8;
const PADF = 4;

const pad16 = (d: number): number => Math.ceil(d / F) * F;

interface Dims {
  /** Padded head dims and the row strides of their f16 tiles. */
  Dq: number;
  Dv: number;
  ldQ: number;
  ldV: number;
  /** Row strides of the f32 score tiles and of the f16 probability tiles. */
  SS: number;
  LP: number;
  NT: number;
}

function dimsOf(dqk: number, dv: number, t: MixedTiles): Dims {
  const Dq = pad16(dqk), Dv = pad16(dv);
  return { Dq, Dv, ldQ: Dq + PADH, ldV: Dv + PADH, SS: t.bt + PADF, LP: t.bt + PADH, NT: (t.bo / F) * SUBGROUP };
}

/** Workgroup bytes of a kernel at a tile config (must fit the device's limit). */
export function mixedTileBytes(kind: MixedKernel, t: MixedTiles, dqk: number, dv: number): number {
  const { ldQ, ldV, SS, LP } = dimsOf(dqk, dv, t);
  const f16 = (rows: number, ld: number) => 2 * rows * ld;
  const f32 = (rows: number, ld: number) => 4 * rows * ld;
  // Double-buffered: the streamed tiles twice over (and the forward's scores, twoPassLoop).
  const n = doubleBufferOn(kind) ? 2 : 1;
  if (kind === 'fwd') return f16(t.bo, ldQ) + n * (f16(t.bt, ldQ) + f16(t.bt, ldV) + f32(t.bo, SS)) + f16(t.bo, LP) + 8 * t.bo + 8; // + the one-pass flags
  if (kind === 'dq') return f16(t.bo, ldQ) + f16(t.bo, ldV) + n * (f16(t.bt, ldQ) + f16(t.bt, ldV)) + 2 * f32(t.bo, SS) + f16(t.bo, LP);
  return f16(t.bo, ldQ) + f16(t.bo, ldV) + n * (f16(t.bt, ldQ) + f16(t.bt, ldV) + 8 * t.bt) + 2 * f32(t.bo, SS) + 2 * f16(t.bo, LP);
}

// Bigger owned blocks first (fewer reloads of the streamed side). On the H200 (bench/RESULTS.md,
// runs 7–8) these first picks made the XL training step's attention 11% faster than the tiles the
// kernel-alone sweep found fastest, which differed from them by less than the sweep's noise.
// The forward's 128-row blocks (8 subgroups, 256 invocations: twice the warps, half the K/V
// staging per query) fit 48 KiB only with 16-row tiles; its 64-key tiles (half the tiles, so half
// the barriers per row: the spatial forward's element-wise work and barriers outweighed its MMAs
// on the H200, run 8) only with 32-row blocks (41 KiB at d = 72). Both listed last, for the sweep,
// until measured.
const PREFERENCE: Record<MixedKernel, [number, number][]> = {
  fwd: [[64, 32], [64, 16], [32, 32], [32, 16], [16, 16], [128, 16], [32, 64]],
  dq: [[64, 16], [32, 32], [32, 16], [16, 16]],
  dkdv: [[64, 16], [32, 32], [32, 16], [16, 16]],
};

/**
 * Test and benchmark hooks: forced tiles per kernel; `emulate` runs the plain-WGSL stand-ins
 * where the device has no subgroup matrices (lavapipe); `off` keeps mixed precision's attention
 * on the f32 kernels (to compare); `scalarStaging` reads every operand one f32 at a time instead of
 * as vec4; `prefetch` issues the next streamed tile's loads before the current tile's MMAs
 * (streamLoop). Empty in normal use.
 */
export const mixedAttentionTuning: {
  tiles: Partial<Record<MixedKernel, MixedTiles>>;
  emulate?: boolean;
  off?: boolean;
  scalarStaging?: boolean;
  prefetch?: boolean;
  onePass?: boolean;
  doubleBuffer?: Partial<Record<MixedKernel, boolean>>;
} = { tiles: {} };

/** Whether the forward runs its one-pass form (onePassLoop): `mixedAttentionTuning.onePass` or AVDIT_MIXED_ONEPASS=1. */
const onePassOn = (): boolean => !!mixedAttentionTuning.onePass || (typeof process !== 'undefined' && process.env.AVDIT_MIXED_ONEPASS === '1');
/**
 * Whether a kernel double-buffers its streamed tiles (phasedLoop; the forward also its scores,
 * twoPassLoop): `mixedAttentionTuning.doubleBuffer[kind]`, or AVDIT_MIXED_DB = 1 (every kernel) or
 * a list such as `fwd,dkdv`. Not with the one-pass forward.
 */
export function doubleBufferOn(kind: MixedKernel): boolean {
  if (kind === 'fwd' && onePassOn()) return false;
  if (mixedAttentionTuning.doubleBuffer?.[kind]) return true;
  const env = typeof process !== 'undefined' ? process.env.AVDIT_MIXED_DB : undefined;
  return env === '1' || (env ?? '').split(',').map((x) => x.trim()).includes(kind);
}

/**
 * How attention runs under mixed precision on this device: the tensor-core kernels when it has
 * f16×f16→f32 16×16×16 subgroup matrices, the emulated ones when a test asks, else null (the
 * f32 kernels run). AVDIT_MIXED_ATTENTION=0 keeps mixed precision's attention in f32.
 */
export function mixedAttentionOptions(ctx: GpuContext): MixedOptions | null {
  if (mixedAttentionTuning.off || process.env.AVDIT_MIXED_ATTENTION === '0') return null;
  const sm = ctx.features.subgroupMatrix;
  if (sm && sm.M === F && sm.N === F && sm.K === F) return { emulate: false, syntax: MATMUL_DEFAULTS.sgSyntax };
  if (mixedAttentionTuning.emulate && ctx.features.f16) return { emulate: true, syntax: MATMUL_DEFAULTS.sgSyntax };
  return null;
}

/** Every config that fits `limitBytes`, best first: preferred order, blocks not much larger than the extent. */
export function mixedTileCandidates(kind: MixedKernel, ownExtent: number, dqk: number, dv: number, limitBytes: number): MixedTiles[] {
  const boMax = ownExtent <= 16 ? 16 : ownExtent <= 32 ? 32 : 64;
  const fits = PREFERENCE[kind].map(([bo, bt]) => ({ bo, bt })).filter((t) => mixedTileBytes(kind, t, dqk, dv) <= limitBytes);
  return [...fits.filter((t) => t.bo <= boMax), ...fits.filter((t) => t.bo > boMax)];
}

/** Key of a shape in a table of measured tiles: `kind:dqkxdv:ownExtent`. */
export const tunedKey = (kind: MixedKernel, dqk: number, dv: number, ownExtent: number): string => `${kind}:${dqk}x${dv}:${ownExtent}`;

/**
 * Measured tiles from AVDIT_MIXED_TILES, a JSON object {"fwd:72x72:256": "64x16", …} that
 * bench/gpu-attention-mixed.ts writes from its sweep (gpu-run.sh hands it to the later parts).
 */
const envTiles = (): Record<string, MixedTiles> =>
  envTable('AVDIT_MIXED_TILES', (s) => {
    const m = /^(\d+)x(\d+)$/.exec(s);
    return m ? { bo: Number(m[1]), bt: Number(m[2]) } : null;
  }, 'BOxBT');

/** The tile config of a kernel: forced (mixedAttentionTuning), else measured (AVDIT_MIXED_TILES) if it fits, else the first candidate. */
export function pickMixedTiles(kind: MixedKernel, ownExtent: number, dqk: number, dv: number, limitBytes: number): MixedTiles {
  const forced = mixedAttentionTuning.tiles[kind];
  if (forced) {
    const bytes = mixedTileBytes(kind, forced, dqk, dv);
    if (bytes > limitBytes) throw new Error(`mixed attention ${kind} tiles ${forced.bo}×${forced.bt} at ${dqk}/${dv} need ${bytes} bytes of workgroup memory (limit ${limitBytes})`);
    return forced;
  }
  const tuned = envTiles()[tunedKey(kind, dqk, dv, ownExtent)];
  if (tuned && mixedTileBytes(kind, tuned, dqk, dv) <= limitBytes) return tuned;
  const c = mixedTileCandidates(kind, ownExtent, dqk, dv, limitBytes)[0];
  if (!c) throw new Error(`mixed attention: head dims ${dqk}/${dv} need more workgroup memory than the device's ${limitBytes} bytes`);
  return c;
}

// Accumulators are declared with the zero-value constructor: a bare `var x: T;` inside a loop is
// not reliably zeroed again on each iteration (seen on lavapipe).
const rep = (n: number, f: (i: number) => string, sep = '\n  '): string => Array.from({ length: n }, (_, i) => f(i)).join(sep);

/**
 * How the kernels read q/k (`vq`) and v/dO (`vv`) rows: vec4 where the layout allows
 * (attention-layout.ts), unless a benchmark asks for scalars.
 */
function ioOf(d: AttentionShape): RowIO {
  const io = rowIO(d);
  return mixedAttentionTuning.scalarStaging ? { ...io, vq: false, vv: false } : io;
}
/** WGSL element type of an operand's binding. */
const rowElem = (vec: boolean): string => (vec ? 'vec4<f32>' : 'f32');

/**
 * Staging of one operand: rows [first, first + valid) of head h (from `<buf>Base`, see headBasesWgsl) of
 * an f32 buffer with rows of d into an f16 tile of
 * `rows` rows (stride ld, Dp columns, zeros past d and past valid), times `mul`. Each invocation
 * holds its share in registers `<buf>R<i>` (vec4 where the rows allow): `load` issues all its global
 * loads at once, `store` converts them and writes the tile. Split so that a loop can issue the next
 * tile's loads before computing on the current one (streamLoop).
 */
interface Staged {
  decl: string;
  load(first: string, valid: string): string;
  store: string;
  /** `store` into the tile starting at element `base` of the array (a WGSL u32 expression; double buffering). */
  storeAt(base: string): string;
}

function staged(dst: string, buf: string, d: number, Dp: number, rows: number, ld: number, NT: number, vec: boolean, mul = ''): Staged {
  const W = vec ? 4 : 1;
  const perRow = Dp / W;
  const slots = rows * perRow;
  const n = Math.ceil(slots / NT);
  const zero = W === 4 ? 'vec4<f32>()' : '0.0';
  const reg = (i: number) => `${buf}R${i}`;
  const slot = (i: number) => `lidx + ${i * NT}u`;
  const inRange = (i: number) => ((i + 1) * NT > slots ? `${slot(i)} < ${slots}u` : '');
  const rowOf = (i: number) => `(${slot(i)}) / ${perRow}u`;
  const colOf = (i: number) => `(${slot(i)}) % ${perRow}u`; // in units of W
  return {
    decl: rep(n, (i) => `var ${reg(i)} = ${zero};`),
    load: (first, valid) =>
      rep(n, (i) => {
        const cond = [inRange(i), `${rowOf(i)} < ${valid}`, `${colOf(i)} < ${d / W}u`].filter(Boolean).join(' && ');
        return `${reg(i)} = ${zero};
    if (${cond}) { ${reg(i)} = ${buf}[row_${buf}(${buf}Base, (${first}) + ${rowOf(i)}) + ${colOf(i)}]${mul}; }`;
      }, '\n    '),
    store: storeAt('0u'),
    storeAt,
  };
  function storeAt(base: string): string {
    return rep(n, (i) => {
      const at = `${base} + (${rowOf(i)}) * ${ld}u + (${colOf(i)}) * ${W}u`;
      const body = W === 4 ? `let hv = vec4<f16>(${reg(i)}); let a = ${at}; ${rep(4, (j) => `${dst}[a + ${j}u] = hv.${'xyzw'[j]};`, ' ')}` : `${dst}[${at}] = f16(${reg(i)});`;
      return inRange(i) ? `if (${inRange(i)}) { ${body} }` : `{ ${body} }`;
    }, '\n    ');
  }
}

/** WGSL: stage the operands once (the block a workgroup owns). */
const stageOnce = (parts: Staged[], first: string, valid: string): string =>
  `{
    ${parts.map((p) => p.decl).join('\n    ')}
    ${parts.map((p) => p.load(first, valid)).join('\n    ')}
    ${parts.map((p) => p.store).join('\n    ')}
  }`;

/**
 * WGSL: for (var <v> = 0; v < extent; v += bt), the tile of rows [v, v + count) of head h
 * (count = min(bt, extent − v), a `let` named `count`) staged into workgroup memory, then `body`.
 * With `mixedAttentionTuning.prefetch` the next tile's global loads are issued before `body` runs
 * (software pipelining: in flight during its MMAs). Measured on the H200 it was not faster inside
 * the XL training step (the forward and dK/dV slower by about a fifth, dQ 5% faster; bench/RESULTS.md,
 * run 8), so it is off: each tile's loads are issued together at the top of its iteration.
 */
function streamLoop(parts: Staged[], v: string, count: string, extent: string, bt: number, body: string): string {
  const prefetch = !!mixedAttentionTuning.prefetch;
  const loads = (first: string, valid: string) => parts.map((p) => p.load(first, valid)).join('\n      ');
  const next = `${v} + ${bt}u`;
  return `{
    ${parts.map((p) => p.decl).join('\n    ')}
    ${prefetch ? loads('0u', `min(${bt}u, ${extent})`) : ''}
    for (var ${v} = 0u; ${v} < ${extent}; ${v} += ${bt}u) {
      let ${count} = min(${bt}u, ${extent} - ${v});
      ${prefetch ? '' : loads(v, count)}
      workgroupBarrier();
      ${parts.map((p) => p.store).join('\n      ')}
      workgroupBarrier();
      ${prefetch ? `if (${next} < ${extent}) { ${loads(next, `min(${bt}u, ${extent} - ${next})`)} }` : ''}
      ${body}
    }
  }`;
}

/** A streamed tile's work in three phases, separated by barriers: products into f32 tiles, element-wise work on them, products of the results. */
interface Phases {
  products: string;
  elementwise: string;
  mmas: string;
}

/**
 * WGSL: the loop over streamed tiles (as streamLoop) for three-phase bodies. `phases(cur)` gets,
 * per part, the WGSL offset of the current tile in its array.
 *
 * Single-buffered (db false): load, barrier, store, barrier, products, barrier, element-wise,
 * barrier, MMAs: four barriers per tile, every offset 0.
 *
 * Double-buffered (db true; each part's array holds two tiles of `halves[i]` elements): tile i
 * sits in half i & 1, and tile i + 1 is loaded and stored into the other half during tile i's
 * element-wise phase, so each barrier serves twice: products, barrier, element-wise + next tile's
 * store, barrier, MMAs; two per tile. A half is rewritten (in tile i + 1's element-wise phase)
 * only after the barrier that follows its last reads (tile i − 1's products and MMAs); the f32
 * tiles the products write are read only in the element-wise phase before the next barrier.
 */
function phasedLoop(
  db: boolean, parts: Staged[], halves: number[], v: string, count: string, extent: string, bt: number, phases: (cur: string[]) => Phases,
): string {
  if (!db) {
    const p = phases(parts.map(() => '0u'));
    return streamLoop(parts, v, count, extent, bt, `${p.products}
    workgroupBarrier();
    ${p.elementwise}
    workgroupBarrier();
    ${p.mmas}`);
  }
  return dbLoop(parts, halves, v, count, extent, bt, (cur, storeNext) => {
    const p = phases(cur);
    return `${p.products}
      workgroupBarrier();
      ${p.elementwise}
      ${storeNext}
      workgroupBarrier();
      ${p.mmas}`;
  });
}

/**
 * WGSL: the skeleton of a double-buffered tile loop. Each part's array holds two tiles of
 * `halves[i]` elements; tile 0 is staged into half 0 before the loop; inside it `par` is the
 * current tile's half (0 or 1) and `<v>Cur<i>` the offset of part i's current tile, and `body`
 * gets those offsets and `storeNext`, the statement that loads tile i + 1 and stores it into the
 * other halves (to be placed after a barrier that follows every read of those halves).
 */
function dbLoop(
  parts: Staged[], halves: number[], v: string, count: string, extent: string, bt: number, body: (cur: string[], storeNext: string) => string,
): string {
  const BT = `${bt}u`;
  const cur = parts.map((_, i) => `${v}Cur${i}`);
  const loads = (first: string, valid: string, ind: string) => parts.map((x) => x.load(first, valid)).join(`\n${ind}`);
  const stores = (bases: string[], ind: string) => parts.map((x, i) => x.storeAt(bases[i]!)).join(`\n${ind}`);
  const storeNext = `if (${v} + ${BT} < ${extent}) {
        ${loads(`${v} + ${BT}`, `min(${BT}, ${extent} - ${v} - ${BT})`, '        ')}
        ${stores(cur.map((c, i) => `${halves[i]}u - ${c}`), '        ')}
      }`;
  return `{
    ${parts.map((x) => x.decl).join('\n    ')}
    ${loads('0u', `min(${BT}, ${extent})`, '    ')}
    ${stores(parts.map(() => '0u'), '    ')}
    workgroupBarrier();
    for (var ${v} = 0u; ${v} < ${extent}; ${v} += ${BT}) {
      let ${count} = min(${BT}, ${extent} - ${v});
      let par = (${v} / ${BT}) & 1u;
      ${cur.map((c, i) => `let ${c} = par * ${halves[i]}u;`).join(' ')}
      ${body(cur, storeNext)}
    }
  }`;
}

interface StageDims {
  dqk: number;
  dv: number;
  Dq: number;
  Dv: number;
  ldQ: number;
  ldV: number;
  NT: number;
  io: RowIO;
}

/** The key side's staging, K (and V) tiles of `rows` rows. */
function kvParts(d: StageDims, rows: number, withV = true): Staged[] {
  const k = staged('Ks', 'k', d.dqk, d.Dq, rows, d.ldQ, d.NT, d.io.vq);
  return withV ? [k, staged('Vs', 'v', d.dv, d.Dv, rows, d.ldV, d.NT, d.io.vv)] : [k];
}

/** The query side's staging, Q·scale (and dO) tiles of `rows` rows. */
function qgParts(d: StageDims, rows: number, withG = true): Staged[] {
  const q = staged('Qs', 'q', d.dqk, d.Dq, rows, d.ldQ, d.NT, d.io.vq, ' * u.scale');
  return withG ? [q, staged('Gs', 'dO', d.dv, d.Dv, rows, d.ldV, d.NT, d.io.vv)] : [q];
}

/**
 * The dK/dV kernel's per-tile lse and D rows (f32) as a staged part: invocation e < bt holds
 * query qb + e's pair and stores it at LDs[base + e] and LDs[base + bt + e] (0 past the valid rows).
 */
function lseDParts(bt: number, NT: number): Staged {
  if (NT < bt) throw new Error(`mixed attention dK/dV: ${NT} invocations cannot stage ${bt} rows of lse and D`);
  const storeAt = (base: string): string => `if (lidx < ${bt}u) { LDs[${base} + lidx] = ldA; LDs[${base} + ${bt}u + lidx] = ldB; }`;
  return {
    decl: 'var ldA = 0.0;\n    var ldB = 0.0;',
    load: (first, valid) => `ldA = 0.0;
    ldB = 0.0;
    if (lidx < ${bt}u && lidx < ${valid}) { ldA = lse[h * u.l + ${first} + lidx]; ldB = D[h * u.l + ${first} + lidx]; }`,
    store: storeAt('0u'),
    storeAt,
  };
}

/** WGSL: the backward kernels' f16 tiles, the owned side (`own`: queries or keys) of bo rows, the streamed side of bt. */
function bwdTiles(own: 'q' | 'k', t: MixedTiles, ldQ: number, ldV: number, db = false): string {
  // The streamed side twice over when double-buffered (phasedLoop).
  const rows = (side: 'q' | 'k') => (side === own ? t.bo : (db ? 2 : 1) * t.bt);
  return `var<workgroup> Qs: array<f16, ${rows('q') * ldQ}>;
var<workgroup> Gs: array<f16, ${rows('q') * ldV}>;
var<workgroup> Ks: array<f16, ${rows('k') * ldQ}>;
var<workgroup> Vs: array<f16, ${rows('k') * ldV}>;`;
}

/**
 * WGSL: acc_j (j < nf) += A·B over `steps` 16-wide k slices, where A is a left fragment and B_j
 * right fragments; aOff(c), bOff(c, j) give the offsets of slice c (a WGSL u32 `c`).
 */
function mmaLoop(ops: SgOps, acc: string, nf: number, steps: number, A: [string, (c: string) => string, boolean, number], B: [string, (c: string, j: number) => string, boolean, number]): string {
  const [aArr, aOff, aCm, aLd] = A;
  const [bArr, bOff, bCm, bLd] = B;
  return `for (var c = 0u; c < ${ops.bound(steps)}; c++) {
    let fa = ${ops.loadLeft(aArr, aOff('c'), aCm, `${aLd}u`)};
    ${rep(nf, (j) => `{ let fb = ${ops.loadRight(bArr, bOff('c', j), bCm, `${bLd}u`)}; ${ops.mma('fa', 'fb', `${acc}${j}`)} }`, '\n    ')}
  }`;
}

/** WGSL: store result fragments acc_j to an f32 tile at the subgroup's rows, column 16j. */
const storeFrags = (ops: SgOps, acc: string, nf: number, arr: string, SS: number, base = '0u'): string =>
  rep(nf, (j) => ops.store(arr, `${base} + rowSg * ${SS}u + ${j * F}u`, `${acc}${j}`, `${SS}u`));

/**
 * WGSL: the scores-like product of the block's rows with the tile's rows, own · tileᵀ (both f16
 * tiles row-major with stride ld, `steps` 16-wide slices of the shared dim; the tile read
 * column-major), NS fresh fragments `acc_j` stored to the f32 tile `out` (row stride SS).
 */
function ownTimesTileT(ops: SgOps, acc: string, NS: number, steps: number, own: string, tile: string, ld: number, out: string, SS: number, tileBase = '0u', outBase = '0u'): string {
  return `${rep(NS, (j) => `var ${acc}${j} = ${ops.acc}();`)}
    ${mmaLoop(ops, acc, NS, steps, [own, (c) => `rowSg * ${ld}u + ${c} * ${F}u`, false, ld], [tile, (c, j) => `${tileBase} + ${j * F * ld}u + ${c} * ${F}u`, true, ld])}
    ${storeFrags(ops, acc, NS, out, SS, outBase)}`;
}

/**
 * WGSL: write result fragments acc_j (the block's [bo, dim] output) to global memory through the
 * f32 tile `tmp`: fragment j of every subgroup is stored, then invocation pair (row, half) writes
 * 8 columns of its row, times `mul` (a per-row WGSL expression).
 */
function writeOut(ops: SgOps, acc: string, nf: number, tmp: string, SS: number, out: string, d: number, rowValid: string, outRow: string, mul: string, arr = out): string {
  return rep(nf, (j) => `workgroupBarrier();
  ${ops.store(tmp, `rowSg * ${SS}u`, `${acc}${j}`, `${SS}u`)}
  workgroupBarrier();
  if (${rowValid}) {
    let ob = row_${out}(${out}Base, ${outRow});
    for (var t = 0u; t < ${ops.bound(8)}; t++) {
      let col = ${j * F}u + half * 8u + t;
      if (col < ${d}u) { ${arr}[ob + col] = ${tmp}[row * ${SS}u + half * 8u + t] * ${mul}; }
    }
  }`);
}

/**
 * WGSL: the tile column (key or query) an invocation's element-wise step j works on. The pair of a
 * row splits the tile's 2·HT columns by parity (`half`), and each row starts its walk at its own
 * offset: `2·((j + row) mod HT) + half`. Walking the columns in the same order on every row
 * (`half·HT + j`) made the 32 lanes of a subgroup hit 8 banks of the f32 score tile 4 times
 * each (its row stride, bt + 4 floats, is 4 mod 32); with the skew a 32- or 64-column tile is
 * read without conflicts and a 16-column one 2-way (and the f16 tiles written likewise).
 * Element-wise work is per column (sums and maxima do not care about the order).
 */
const tileColumn = (HT: number): string => `(2u * ((j + row) & ${HT - 1}u) + half)`;

const PROLOGUE = (ops: SgOps): string => `${ops.init}
  let g = groupIndex(wid, nwg);
  let h = g / u.blocks;
  if (h >= u.n) { return; }
  let b0 = (g % u.blocks) * BO;
  let rowSg = (${ops.sgIndex}) * ${F}u;
  let row = lidx / 2u;   // the block row this invocation's element-wise work is on
  let half = lidx % 2u;  // which half of the tile's columns`;

const ENTRY = (ops: SgOps, NT: number): string => `@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lidx: u32${ops.param})`;

const UNIFORMS = `struct U { n: u32, l: u32, s: u32, blocks: u32, scale: f32, zero: u32, ${LAYOUT_FIELDS} }`;

function opsFor(emulate: boolean, syntax: SgSyntax, left: string[], right: string[], store: string[], acc: string[] = []): SgOps {
  return emulate ? emulatedOps({ left, right, store, acc }, 'u.zero') : realOps(syntax);
}

/**
 * WGSL of the forward's key loops, two passes (the default): the row maxima m over all keys
 * first (each invocation over its half of every tile, then pairs combined), then P = e^{S − m}
 * (≤ 1, f16), ℓ = Σ P, O += P V. Declares m, den (this invocation's part of ℓ) and o<j>.
 *
 * Double-buffered (`db`, `mixedAttentionTuning.doubleBuffer.fwd`): in the max pass K tile i sits in
 * half i & 1 of Ks and its scores in half i & 1 of Ss; S_i = Q K_iᵀ, K_{i+1} stored into the other
 * half, one barrier, the maximum over S_i while the next scores go to the other half of Ss: one
 * barrier per tile, against three. The P·V pass is phasedLoop's double-buffered form. Twice the
 * K/V/score memory: 32-row blocks with 32-key tiles, or 64 with 16, fit 48 KiB at d = 72.
 */
function twoPassLoop(db: boolean, ops: SgOps, sd: StageDims, t: MixedTiles, NO: number, NS: number, SS: number, LP: number, ldV: number, HT: number): string {
  const rowMax = (sBase: string): string => `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let key = ${tileColumn(HT)};
      if (key < nk) { m = max(m, Ss[${sBase} + row * ${SS}u + key]); }
    }`;
  return `var m = NEG;
  ${db ? dbMaxPass(ops, sd, t, NS, SS, rowMax('sCur')) : streamLoop(kvParts(sd, t.bt, false), 'kb', 'nk', 'u.s', t.bt, `${ownTimesTileT(ops, 's', NS, sd.Dq / F, 'Qs', 'Ks', sd.ldQ, 'Ss', SS)}
    workgroupBarrier();
    ${rowMax('0u')}`)}
  red[lidx] = m;
  workgroupBarrier();
  m = max(red[row * 2u], red[row * 2u + 1u]);
  var den = 0.0;
  ${rep(NO, (j) => `var o${j} = ${ops.acc}();`)}
  ${pvPass(db, ops, sd, t, NO, NS, SS, LP, ldV, HT)}`;
}

/** WGSL: the double-buffered max pass of twoPassLoop (`rowMax` folds this invocation's half row of the scores at `sCur` into m). */
function dbMaxPass(ops: SgOps, sd: StageDims, t: MixedTiles, NS: number, SS: number, rowMax: string): string {
  return dbLoop(kvParts(sd, t.bt, false), [t.bt * sd.ldQ], 'kb', 'nk', 'u.s', t.bt, ([k], storeNext) => `let sCur = par * ${t.bo * SS}u;
      ${ownTimesTileT(ops, 's', NS, sd.Dq / F, 'Qs', 'Ks', sd.ldQ, 'Ss', SS, k, 'sCur')}
      ${storeNext}
      workgroupBarrier();
      ${rowMax}`);
}

/** WGSL: the forward's second pass, P = e^{S − m}, ℓ and O += P V over the key tiles (phasedLoop). */
function pvPass(db: boolean, ops: SgOps, sd: StageDims, t: MixedTiles, NO: number, NS: number, SS: number, LP: number, ldV: number, HT: number): string {
  return phasedLoop(db, kvParts(sd, t.bt), [t.bt * sd.ldQ, t.bt * ldV], 'kb', 'nk', 'u.s', t.bt, ([k, v]) => ({
    products: ownTimesTileT(ops, 's', NS, sd.Dq / F, 'Qs', 'Ks', sd.ldQ, 'Ss', SS, k),
    elementwise: probabilities(ops, HT, SS, LP),
    mmas: accumulatePV(ops, NO, NS, LP, ldV, v),
  }));
}


/** WGSL: this invocation's half row of P = e^{S − m} (f16, 0 past the tile's nk keys) into Ps, its sum into den. */
const probabilities = (ops: SgOps, HT: number, SS: number, LP: number): string => `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let key = ${tileColumn(HT)};
      var p = f16(0.0);
      if (key < nk) { p = f16(exp(Ss[row * ${SS}u + key] - m)); }
      den += f32(p);
      Ps[row * ${LP}u + key] = p;
    }`;

/** WGSL: O (fragments o<j>) += P V for the current tile (P in Ps, V in Vs). */
const accumulatePV = (ops: SgOps, NO: number, NS: number, LP: number, ldV: number, vBase = '0u'): string =>
  mmaLoop(ops, 'o', NO, NS, ['Ps', (c) => `rowSg * ${LP}u + ${c} * ${F}u`, false, LP], ['Vs', (c, j) => `${vBase} + ${c} * ${F * ldV}u + ${j * F}u`, false, ldV]);

/** How far a row's running maximum may lag behind its scores before the one-pass forward rebases (P ≤ e^8 ≈ 2981, well inside f16). */
const LAG = 8;

/**
 * WGSL of the forward's key loop in one pass (`mixedAttentionTuning.onePass`, or AVDIT_MIXED_ONEPASS=1),
 * an online softmax with lazy rescaling. Fragment accumulators cannot be scaled row by row, so a
 * row keeps its running maximum m as long as the tile's maximum exceeds it by at most LAG:
 * P = e^{S − m} ≤ e^{LAG} is still exact enough in f16 (its relative precision does not depend on
 * the magnitude) and ℓ, O accumulate in f32. When some row of the block would pass that, the whole
 * workgroup rebases (a uniform decision, through `workgroupUniformLoad`): every row takes its new
 * maximum m', ℓ·e^{m − m'}, and the O fragments go through workgroup memory to be scaled row by
 * row. The first tile sets m directly. For scores that do not keep climbing, that happens rarely:
 * one pass over K and V instead of two, no second Q Kᵀ.
 */
function onePassLoop(ops: SgOps, sd: StageDims, t: MixedTiles, scores: string, NO: number, NS: number, SS: number, LP: number, ldV: number, HT: number): string {
  const rescale = rep(NO, (j) => `workgroupBarrier();
        ${ops.store('Ss', `rowSg * ${SS}u`, `o${j}`, `${SS}u`)}
        workgroupBarrier();
        for (var e = 0u; e < ${ops.bound(8)}; e++) { Ss[row * ${SS}u + half * 8u + e] *= c; }
        workgroupBarrier();
        o${j} = ${ops.loadAcc('Ss', `rowSg * ${SS}u`, `${SS}u`)};`, '\n        ');
  return `var m = NEG;
  var den = 0.0;
  ${rep(NO, (j) => `var o${j} = ${ops.acc}();`)}
  // Both vote slots start cleared (workgroup memory is not zeroed for us: engine/webgpu/device.ts).
  if (lidx == 0u) { rebase[0] = 0u; rebase[1] = 0u; }
  ${streamLoop(kvParts(sd, t.bt), 'kb', 'nk', 'u.s', t.bt, `${scores}
    // Flag slot kb/bt % 2 collects this tile's "rebase" votes; the other slot, read last tile, is cleared.
    let slot = (kb / ${t.bt}u) & 1u;
    if (lidx == 0u) { rebase[1u - slot] = 0u; }
    workgroupBarrier();
    var tm = NEG;
    for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let key = ${tileColumn(HT)};
      if (key < nk) { tm = max(tm, Ss[row * ${SS}u + key]); }
    }
    red[lidx] = tm;
    workgroupBarrier();
    let mNew = max(m, max(red[row * 2u], red[row * 2u + 1u]));
    if (kb == 0u) { m = mNew; }
    if (mNew > m + ${LAG}.0) { rebase[slot] = 1u; }
    let any = workgroupUniformLoad(&rebase[slot]);
    var c = 1.0;
    if (any != 0u) { c = exp(m - mNew); m = mNew; den *= c; }
    ${probabilities(ops, HT, SS, LP)}
    if (any != 0u) {
      // Scale each O fragment's rows by c, through Ss (its scores are in Ps by now).
      ${rescale}
    }
    workgroupBarrier();
    ${accumulatePV(ops, NO, NS, LP, ldV)}`)}`;
}

function fwdCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO): string {
  const { Dq, Dv, ldQ, ldV, SS, LP, NT } = dimsOf(dqk, dv, t);
  const sd: StageDims = { dqk, dv, Dq, Dv, ldQ, ldV, NT, io };
  const ops = opsFor(emulate, syntax, ['Qs', 'Ps'], ['Ks', 'Vs'], ['Ss'], ['Ss']);
  const NS = t.bt / F, NO = Dv / F, HT = t.bt / 2;
  const scores = ownTimesTileT(ops, 's', NS, Dq / F, 'Qs', 'Ks', ldQ, 'Ss', SS);
  const onePass = onePassOn();
  const db = doubleBufferOn('fwd');
  const tiles = db ? 2 : 1;
  return /* wgsl */ `${ops.header}
@group(0) @binding(0) var<storage, read> q: array<${rowElem(io.vq)}>;
@group(0) @binding(1) var<storage, read> k: array<${rowElem(io.vq)}>;
@group(0) @binding(2) var<storage, read> v: array<${rowElem(io.vv)}>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
${UNIFORMS}
@group(0) @binding(5) var<uniform> u: U;
${inputRowsWgsl(dqk, dv, io, false)}
${rowAtWgsl('o', 'o', 'u.l', dv, 1, io.strided)}
const NEG = -1e30;
const BO = ${t.bo}u;
var<workgroup> Qs: array<f16, ${t.bo * ldQ}>;
var<workgroup> Ks: array<f16, ${tiles * t.bt * ldQ}>;
var<workgroup> Vs: array<f16, ${tiles * t.bt * ldV}>;
var<workgroup> Ss: array<f32, ${tiles * t.bo * SS}>;
var<workgroup> Ps: array<f16, ${t.bo * LP}>;
var<workgroup> red: array<f32, ${2 * t.bo}>;
${onePass ? 'var<workgroup> rebase: array<u32, 2>;' : ''}
${ops.helpers}
${GROUP_INDEX_WGSL}
${ENTRY(ops, NT)} {
  ${PROLOGUE(ops)}
  ${headBasesWgsl(['q', 'k', 'v', 'o'])}
  ${stageOnce(qgParts(sd, t.bo, false), 'b0', 'u.l - b0')}
  ${onePass ? onePassLoop(ops, sd, t, scores, NO, NS, SS, LP, ldV, HT) : twoPassLoop(db, ops, sd, t, NO, NS, SS, LP, ldV, HT)}
  workgroupBarrier();
  red[lidx] = den;
  workgroupBarrier();
  let tot = red[row * 2u] + red[row * 2u + 1u];
  let valid = b0 + row < u.l;
  if (valid && half == 0u) { lse[h * u.l + b0 + row] = m + log(tot); }
  let inv = 1.0 / tot;
  ${writeOut(ops, 'o', NO, 'Ss', SS, 'o', dv, 'valid', 'b0 + row', 'inv')}
}`;
}

const bwdBindings = (dqk: number, dv: number, io: RowIO): string => `@group(0) @binding(0) var<storage, read> q: array<${rowElem(io.vq)}>;
@group(0) @binding(1) var<storage, read> k: array<${rowElem(io.vq)}>;
@group(0) @binding(2) var<storage, read> v: array<${rowElem(io.vv)}>;
@group(0) @binding(3) var<storage, read> dO: array<${rowElem(io.vv)}>;
${inputRowsWgsl(dqk, dv, io, true)}
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> D: array<f32>;`;

function dqCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO): string {
  const { Dq, Dv, ldQ, ldV, SS, LP, NT } = dimsOf(dqk, dv, t);
  const sd: StageDims = { dqk, dv, Dq, Dv, ldQ, ldV, NT, io };
  const ops = opsFor(emulate, syntax, ['Qs', 'Gs', 'DSs'], ['Ks', 'Vs'], ['Ss', 'DPs']);
  const NS = t.bt / F, NQ = Dq / F, HT = t.bt / 2;
  const db = doubleBufferOn('dq');
  return /* wgsl */ `${ops.header}
${bwdBindings(dqk, dv, io)}
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
${UNIFORMS}
@group(0) @binding(7) var<uniform> u: U;
${rowAtWgsl('dq', 'q', 'u.l', dqk, 1, io.strided)}
const BO = ${t.bo}u;
${bwdTiles('q', t, ldQ, ldV, db)}
var<workgroup> Ss: array<f32, ${t.bo * SS}>;
var<workgroup> DPs: array<f32, ${t.bo * SS}>;
var<workgroup> DSs: array<f16, ${t.bo * LP}>;
${ops.helpers}
${GROUP_INDEX_WGSL}
${ENTRY(ops, NT)} {
  ${PROLOGUE(ops)}
  ${headBasesWgsl(['q', 'dO', 'k', 'v', 'dq'])}
  ${stageOnce(qgParts(sd, t.bo), 'b0', 'u.l - b0')}
  let valid = b0 + row < u.l;
  var lrow = 0.0;
  var drow = 0.0;
  if (valid) { lrow = lse[h * u.l + b0 + row]; drow = D[h * u.l + b0 + row]; }
  ${rep(NQ, (j) => `var dq${j} = ${ops.acc}();`)}
  ${phasedLoop(db, kvParts(sd, t.bt), [t.bt * ldQ, t.bt * ldV], 'kb', 'nk', 'u.s', t.bt, ([kc, vc]) => ({
    products: `${ownTimesTileT(ops, 's', NS, Dq / F, 'Qs', 'Ks', ldQ, 'Ss', SS, kc)}
    ${ownTimesTileT(ops, 'p', NS, Dv / F, 'Gs', 'Vs', ldV, 'DPs', SS, vc)}`,
    elementwise: `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let key = ${tileColumn(HT)};
      var ds = 0.0;
      if (key < nk) { ds = exp(Ss[row * ${SS}u + key] - lrow) * (DPs[row * ${SS}u + key] - drow); }
      DSs[row * ${LP}u + key] = f16(ds);
    }`,
    mmas: mmaLoop(ops, 'dq', NQ, NS, ['DSs', (c) => `rowSg * ${LP}u + ${c} * ${F}u`, false, LP], ['Ks', (c, j) => `${kc} + ${c} * ${F * ldQ}u + ${j * F}u`, false, ldQ]),
  }))}
  ${writeOut(ops, 'dq', NQ, 'Ss', SS, 'dq', dqk, 'valid', 'b0 + row', 'u.scale')}
}`;
}

/** `packed`: dk and dv are columns of one buffer, bound once as `dkv` (two writable bindings of one buffer are invalid). */
function dkdvCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, packed = false): string {
  const { Dq, Dv, ldQ, ldV, SS, LP, NT } = dimsOf(dqk, dv, t);
  const sd: StageDims = { dqk, dv, Dq, Dv, ldQ, ldV, NT, io };
  const ops = opsFor(emulate, syntax, ['Ks', 'Vs', 'PTs', 'DSTs'], ['Qs', 'Gs'], ['STs', 'DPTs']);
  const NS = t.bt / F, NQ = Dq / F, NV = Dv / F, HT = t.bt / 2;
  const db = doubleBufferOn('dkdv');
  return /* wgsl */ `${ops.header}
${bwdBindings(dqk, dv, io)}
${packed ? '@group(0) @binding(6) var<storage, read_write> dkv: array<f32>;' : `@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;`}
${UNIFORMS}
@group(0) @binding(${packed ? 7 : 8}) var<uniform> u: U;
${rowAtWgsl('dk', 'k', 'u.s', dqk, 1, io.strided)}
${rowAtWgsl('dv', 'v', 'u.s', dv, 1, io.strided)}
const BO = ${t.bo}u;
${bwdTiles('k', t, ldQ, ldV, db)}
var<workgroup> LDs: array<f32, ${(db ? 2 : 1) * 2 * t.bt}>;  // lse, then D, of the query tile (twice over when double-buffered)
var<workgroup> STs: array<f32, ${t.bo * SS}>;
var<workgroup> DPTs: array<f32, ${t.bo * SS}>;
var<workgroup> PTs: array<f16, ${t.bo * LP}>;
var<workgroup> DSTs: array<f16, ${t.bo * LP}>;
${ops.helpers}
${GROUP_INDEX_WGSL}
${ENTRY(ops, NT)} {
  ${PROLOGUE(ops)}
  ${headBasesWgsl(['q', 'dO', 'k', 'v', 'dk', 'dv'])}
  ${stageOnce(kvParts(sd, t.bo), 'b0', 'u.s - b0')}
  ${rep(NQ, (j) => `var dk${j} = ${ops.acc}();`)}
  ${rep(NV, (j) => `var dv${j} = ${ops.acc}();`)}
  ${phasedLoop(db, [...qgParts(sd, t.bt), lseDParts(t.bt, NT)], [t.bt * ldQ, t.bt * ldV, 2 * t.bt], 'qb', 'nq', 'u.l', t.bt, ([qc, gc, lc]) => ({
    products: `${ownTimesTileT(ops, 's', NS, Dq / F, 'Ks', 'Qs', ldQ, 'STs', SS, qc)}
    ${ownTimesTileT(ops, 'p', NS, Dv / F, 'Vs', 'Gs', ldV, 'DPTs', SS, gc)}`,
    elementwise: `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let qi = ${tileColumn(HT)};
      var p = 0.0;
      var ds = 0.0;
      if (qi < nq) {
        p = exp(STs[row * ${SS}u + qi] - LDs[${lc} + qi]);
        ds = p * (DPTs[row * ${SS}u + qi] - LDs[${lc} + ${t.bt}u + qi]);
      }
      PTs[row * ${LP}u + qi] = f16(p);
      DSTs[row * ${LP}u + qi] = f16(ds);
    }`,
    mmas: `${mmaLoop(ops, 'dv', NV, NS, ['PTs', (c) => `rowSg * ${LP}u + ${c} * ${F}u`, false, LP], ['Gs', (c, j) => `${gc} + ${c} * ${F * ldV}u + ${j * F}u`, false, ldV])}
    ${mmaLoop(ops, 'dk', NQ, NS, ['DSTs', (c) => `rowSg * ${LP}u + ${c} * ${F}u`, false, LP], ['Qs', (c, j) => `${qc} + ${c} * ${F * ldQ}u + ${j * F}u`, false, ldQ])}`,
  }))}
  let valid = b0 + row < u.s;
  ${writeOut(ops, 'dk', NQ, 'STs', SS, 'dk', dqk, 'valid', 'b0 + row', '1.0', packed ? 'dkv' : 'dk')}
  ${writeOut(ops, 'dv', NV, 'STs', SS, 'dv', dv, 'valid', 'b0 + row', '1.0', packed ? 'dkv' : 'dv')}
}`;
}

const CODE = { fwd: fwdCode, dq: dqCode, dkdv: dkdvCode };

/** Pipeline key of a mixed kernel. */
const keyOf = (kind: MixedKernel, d: AttentionShape, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, packed: boolean): string =>
  `attention-mixed/${kind}/${emulate ? 'emu' : syntax}/${d.dqk}x${d.dv}/o${t.bo}t${t.bt}${rowIOKey(io)}${packed ? '/packed' : ''}${mixedAttentionTuning.scalarStaging ? '/scalar' : ''}${mixedAttentionTuning.prefetch ? '/prefetch' : ''}${kind === 'fwd' && onePassOn() ? '/1p' : ''}${doubleBufferOn(kind) ? '/db' : ''}`;

/** The dispatch of one mixed kernel (without recording it): benchmarks time or alter its WGSL. */
export function mixedDispatch(
  ctx: GpuContext, kind: MixedKernel, d: AttentionShape, buffers: GPUBuffer[], emulate: boolean, syntax: SgSyntax,
): Dispatch {
  const own = kind === 'dkdv' ? d.s : d.l;
  const t = pickMixedTiles(kind, own, d.dqk, d.dv, ctx.limits.maxComputeWorkgroupStorageSize);
  const blocks = Math.ceil(own / t.bo);
  const io = ioOf(d);
  const packed = kind === 'dkdv' && (d.layout?.packed ?? false);
  return {
    key: keyOf(kind, d, t, emulate, syntax, io, packed),
    code: CODE[kind](d.dqk, d.dv, t, emulate, syntax, io, packed),
    buffers,
    uniforms: uniforms([['u32', d.n], ['u32', d.l], ['u32', d.s], ['u32', blocks], ['f32', d.scale], ['u32', 0], ...layoutUniforms(d)]),
    workgroups: grid(ctx, d.n * blocks),
  };
}

export interface MixedOptions {
  /** Plain-WGSL stand-ins for the subgroup-matrix builtins (lavapipe; slow). */
  emulate: boolean;
  syntax: SgSyntax;
}

export function encodeAttentionMixed(ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, d: AttentionShape, opt: MixedOptions): void {
  if (d.n === 0 || d.l === 0) return;
  ctx.dispatch(mixedDispatch(ctx, 'fwd', d, [q, k, v, o, lse], opt.emulate, opt.syntax));
}

export function encodeAttentionBwdMixed(
  ctx: GpuContext, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, o: GPUBuffer, lse: GPUBuffer, dO: GPUBuffer,
  out: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, d: AttentionShape, opt: MixedOptions,
): void {
  if (d.n === 0 || d.l === 0 || d.s === 0) return;
  const D = ctx.scratch(d.n * d.l * 4);
  encodeRowDot(ctx, dO, o, D, d);
  const ins = [q, k, v, dO, lse, D];
  ctx.dispatch(mixedDispatch(ctx, 'dq', d, [...ins, out.dq], opt.emulate, opt.syntax));
  ctx.dispatch(mixedDispatch(ctx, 'dkdv', d, d.layout?.packed ? [...ins, out.dk] : [...ins, out.dk, out.dv], opt.emulate, opt.syntax));
}
