/**
 * WGSL building blocks shared by the mixed-precision attention kernels (attention-sgmat-fwd.ts,
 * attention-sgmat-bwd.ts): staging f32 rows into f16 tiles, the loops over streamed tiles (single
 * and double-buffered), fragment products into f32 tiles, the write-back, and the entry point.
 */
import type { AttentionShape } from './attention.ts';
import { headBasesWgsl, LAYOUT_FIELDS, rowIO, type RowIO } from './attention-layout.ts';
import { mixedAttentionTuning, type MixedTiles } from './attention-sgmat-tiles.ts';
import { GROUP_INDEX_WGSL } from './grid.ts';
import { emulatedOps, FRAG as F, realOps, X3_WGSL, type SgOps, type SgSyntax } from './sgmat-ops.ts';

/**
 * The fragment builtins of a kernel and whether it runs the x3 split (f32 operands as hi + lo f16
 * tiles, three MMAs per fragment pair: attention-sgmat.ts). With x3 every f16 tile `X` has a twin
 * `XL` holding the remainders, and mmaLoop multiplies both.
 */
export type AttnOps = SgOps & { x3: boolean };

// Accumulators are declared with the zero-value constructor: a bare `var x: T;` inside a loop is
// not reliably zeroed again on each iteration (seen on lavapipe).
export const rep = (n: number, f: (i: number) => string, sep = '\n  '): string => Array.from({ length: n }, (_, i) => f(i)).join(sep);

/**
 * How the kernels read q/k (`vq`) and v/dO (`vv`) rows: vec4 where the layout allows
 * (attention-layout.ts), unless a benchmark asks for scalars.
 */
export function ioOf(d: AttentionShape): RowIO {
  const io = rowIO(d);
  return mixedAttentionTuning.scalarStaging ? { ...io, vq: false, vv: false } : io;
}
/** WGSL element type of an operand's binding. */
export const rowElem = (vec: boolean): string => (vec ? 'vec4<f32>' : 'f32');

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

function staged(dst: string, buf: string, d: number, Dp: number, rows: number, ld: number, NT: number, vec: boolean, mul = '', x3 = false): Staged {
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
      const body = x3 ? x3Store(dst, at, reg(i), W) : W === 4 ? `let hv = vec4<f16>(${reg(i)}); let a = ${at}; ${rep(4, (j) => `${dst}[a + ${j}u] = hv.${'xyzw'[j]};`, ' ')}` : `${dst}[${at}] = f16(${reg(i)});`;
      return inRange(i) ? `if (${inRange(i)}) { ${body} }` : `{ ${body} }`;
    }, '\n    ');
  }
}

/** WGSL: the f32 (W = 1) or vec4 (W = 4) value `x` split into f16 hi at `dst[at…]` and lo at `dstL[at…]` (x3Hi, sgmat-ops.ts). */
function x3Store(dst: string, at: string, x: string, W: number): string {
  if (W === 1) return storeHalf(true, dst, at, x);
  return `let xh = x3Hi4(${x}); let hv = vec4<f16>(xh); let lv = vec4<f16>(${x} - xh); let a = ${at}; ${rep(4, (j) => `${dst}[a + ${j}u] = hv.${'xyzw'[j]}; ${dst}L[a + ${j}u] = lv.${'xyzw'[j]};`, ' ')}`;
}

/** WGSL statement: the f32 expression `x` into the f16 tile `arr` at `at` (x3: hi there, lo in `arrL`). */
export const storeHalf = (x3: boolean, arr: string, at: string, x: string): string =>
  x3 ? `{ let xs = ${x}; let xh = x3Hi(xs); ${arr}[${at}] = f16(xh); ${arr}L[${at}] = f16(xs - xh); }` : `${arr}[${at}] = f16(${x});`;

/** WGSL: stage the operands once (the block a workgroup owns). */
export const stageOnce = (parts: Staged[], first: string, valid: string): string =>
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
export function streamLoop(parts: Staged[], v: string, count: string, extent: string, bt: number, body: string): string {
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
export function phasedLoop(
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
export function dbLoop(
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

export interface StageDims {
  dqk: number;
  dv: number;
  Dq: number;
  Dv: number;
  ldQ: number;
  ldV: number;
  NT: number;
  io: RowIO;
  /** The x3 split: tiles staged as hi + lo, each operand times its power of two (`sK`, `sV`, `qMul`, `sG`: x3Scales). */
  x3: boolean;
}

/** The key side's staging, K (and V) tiles of `rows` rows. */
export function kvParts(d: StageDims, rows: number, withV = true): Staged[] {
  const k = staged('Ks', 'k', d.dqk, d.Dq, rows, d.ldQ, d.NT, d.io.vq, d.x3 ? ' * sK' : '', d.x3);
  return withV ? [k, staged('Vs', 'v', d.dv, d.Dv, rows, d.ldV, d.NT, d.io.vv, d.x3 ? ' * sV' : '', d.x3)] : [k];
}

/** The query side's staging, Q·scale (and dO) tiles of `rows` rows. */
export function qgParts(d: StageDims, rows: number, withG = true): Staged[] {
  const q = staged('Qs', 'q', d.dqk, d.Dq, rows, d.ldQ, d.NT, d.io.vq, d.x3 ? ' * qMul' : ' * u.scale', d.x3);
  return withG ? [q, staged('Gs', 'dO', d.dv, d.Dv, rows, d.ldV, d.NT, d.io.vv, d.x3 ? ' * sG' : '', d.x3)] : [q];
}

/**
 * The dK/dV kernel's per-tile lse and D rows (f32) as a staged part: invocation e < bt holds
 * query qb + e's pair and stores it at LDs[base + e] and LDs[base + bt + e] (0 past the valid rows).
 */
export function lseDParts(bt: number, NT: number, dMul = ''): Staged {
  if (NT < bt) throw new Error(`mixed attention dK/dV: ${NT} invocations cannot stage ${bt} rows of lse and D`);
  const storeAt = (base: string): string => `if (lidx < ${bt}u) { LDs[${base} + lidx] = ldA; LDs[${base} + ${bt}u + lidx] = ldB; }`;
  return {
    decl: 'var ldA = 0.0;\n    var ldB = 0.0;',
    load: (first, valid) => `ldA = 0.0;
    ldB = 0.0;
    if (lidx < ${bt}u && lidx < ${valid}) { ldA = lse[h * u.l + ${first} + lidx]; ldB = D[h * u.l + ${first} + lidx]${dMul}; }`,
    store: storeAt('0u'),
    storeAt,
  };
}

/** WGSL: the backward kernels' f16 tiles, the owned side (`own`: queries or keys) of bo rows, the streamed side of bt. */
export function bwdTiles(own: 'q' | 'k', t: MixedTiles, ldQ: number, ldV: number, db = false, x3 = false): string {
  // The streamed side twice over when double-buffered (phasedLoop).
  const rows = (side: 'q' | 'k') => (side === own ? t.bo : (db ? 2 : 1) * t.bt);
  return halfTiles(x3, [['Qs', rows('q') * ldQ], ['Gs', rows('q') * ldV], ['Ks', rows('k') * ldQ], ['Vs', rows('k') * ldV]]);
}

/** WGSL: f16 workgroup arrays [name, elements] (x3: each with its twin `nameL` for the remainders). */
export const halfTiles = (x3: boolean, arrays: [string, number][]): string =>
  arrays.flatMap(([a, n]) => [`var<workgroup> ${a}: array<f16, ${n}>;`, ...(x3 ? [`var<workgroup> ${a}L: array<f16, ${n}>;`] : [])]).join('\n');

/**
 * WGSL: acc_j (j < nf) += A·B over `steps` 16-wide k slices, where A is a left fragment and B_j
 * right fragments; aOff(c), bOff(c, j) give the offsets of slice c (a WGSL u32 `c`).
 */
export function mmaLoop(ops: AttnOps, acc: string, nf: number, steps: number, A: [string, (c: string) => string, boolean, number], B: [string, (c: string, j: number) => string, boolean, number]): string {
  const [aArr, aOff, aCm, aLd] = A;
  const [bArr, bOff, bCm, bLd] = B;
  // x3: A·B ≈ A_lo·B_hi + A_hi·B_lo + A_hi·B_hi, the two small terms first (as v4's :x3).
  const products = (j: number): string =>
    ops.x3
      ? `let fb = ${ops.loadRight(bArr, bOff('c', j), bCm, `${bLd}u`)}; let fbl = ${ops.loadRight(`${bArr}L`, bOff('c', j), bCm, `${bLd}u`)}; ${ops.mma('fal', 'fb', `${acc}${j}`)} ${ops.mma('fa', 'fbl', `${acc}${j}`)} ${ops.mma('fa', 'fb', `${acc}${j}`)}`
      : `let fb = ${ops.loadRight(bArr, bOff('c', j), bCm, `${bLd}u`)}; ${ops.mma('fa', 'fb', `${acc}${j}`)}`;
  return `for (var c = 0u; c < ${ops.bound(steps)}; c++) {
    let fa = ${ops.loadLeft(aArr, aOff('c'), aCm, `${aLd}u`)};${ops.x3 ? `
    let fal = ${ops.loadLeft(`${aArr}L`, aOff('c'), aCm, `${aLd}u`)};` : ''}
    ${rep(nf, (j) => `{ ${products(j)} }`, '\n    ')}
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
export function ownTimesTileT(ops: AttnOps, acc: string, NS: number, steps: number, own: string, tile: string, ld: number, out: string, SS: number, tileBase = '0u', outBase = '0u'): string {
  return `${rep(NS, (j) => `var ${acc}${j} = ${ops.acc}();`)}
    ${mmaLoop(ops, acc, NS, steps, [own, (c) => `rowSg * ${ld}u + ${c} * ${F}u`, false, ld], [tile, (c, j) => `${tileBase} + ${j * F * ld}u + ${c} * ${F}u`, true, ld])}
    ${storeFrags(ops, acc, NS, out, SS, outBase)}`;
}

/**
 * WGSL: write result fragments acc_j (the block's [bo, dim] output) to global memory through the
 * f32 tile `tmp`: fragment j of every subgroup is stored, then invocation pair (row, half) writes
 * 8 columns of its row, times `mul` (a per-row WGSL expression). `plus(j)`: a WGSL array of this
 * invocation's 8 columns of fragment j held elsewhere (indexed by the loop's `t`), added first.
 */
export function writeOut(
  ops: SgOps, acc: string, nf: number, tmp: string, SS: number, out: string, d: number, rowValid: string, outRow: string, mul: string, arr = out,
  plus?: (j: number) => string,
): string {
  return rep(nf, (j) => `workgroupBarrier();
  ${ops.store(tmp, `rowSg * ${SS}u`, `${acc}${j}`, `${SS}u`)}
  workgroupBarrier();
  if (${rowValid}) {
    let ob = row_${out}(${out}Base, ${outRow});
    for (var t = 0u; t < ${ops.bound(8)}; t++) {
      let col = ${j * F}u + half * 8u + t;
      if (col < ${d}u) { ${arr}[ob + col] = (${tmp}[row * ${SS}u + half * 8u + t]${plus ? ` + ${plus(j)}` : ''}) * ${mul}; }
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
export const tileColumn = (HT: number): string => `(2u * ((j + row) & ${HT - 1}u) + half)`;

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

/**
 * WGSL from the module-scope helpers to the top of `main`: the entry point of NT invocations, the
 * workgroup's head h, block start b0 and this invocation's row / half, and where the rows of the
 * buffers `bufs` start (headBasesWgsl). The kernel's body follows, then its closing brace.
 */
export const mainStart = (ops: AttnOps, NT: number, bufs: string[]): string => `${ops.helpers}
${ops.x3 ? X3_WGSL : ''}
${GROUP_INDEX_WGSL}
${ENTRY(ops, NT)} {
  ${PROLOGUE(ops)}
  ${headBasesWgsl(bufs)}`;

export const UNIFORMS = `struct U { n: u32, l: u32, s: u32, blocks: u32, scale: f32, zero: u32, ${LAYOUT_FIELDS} }`;

/** The builtins (or their emulation, with stand-ins for the arrays named: x3 adds each `XL` twin). */
export function opsFor(emulate: boolean, syntax: SgSyntax, x3: boolean, left: string[], right: string[], store: string[], acc: string[] = []): AttnOps {
  const twins = (a: string[]) => (x3 ? a.flatMap((x) => [x, `${x}L`]) : a);
  return { ...(emulate ? emulatedOps({ left: twins(left), right: twins(right), store, acc }, 'u.zero') : realOps(syntax)), x3 };
}

/** WGSL: the x3 operands' maxima bound at `at` (read-only bits), and `slots`, the constants SQ, SK, SV, SG naming each one's word. */
export const x3Binding = (at: number, slots: string): string => `@group(0) @binding(${at}) var<storage, read> x3s: array<u32>;\n${slots}`;

/**
 * WGSL of the x3 split's scales, from the operands' largest |x| (bits in `x3s`, slots SQ, SK, SV
 * and SG: attention-sgmat.ts): each operand is staged times 2^e (x3Exp; for q, of max |q|·scale),
 * which puts it in [2^13, 2^14): `qMul` = scale·2^eQ, `sK`, `sV`, `sG` = 2^eK, 2^eV, 2^eG; `iQ`, `iK`
 * = 2^-eQ, 2^-eK. Probabilities are split times 2^P_EXP (P ≤ 1), so their products carry it too.
 */
export const P_EXP = 13;
export const x3Scales = (withG: boolean): string => `let eQ = x3Exp(bitcast<u32>(bitcast<f32>(x3s[SQ]) * u.scale));
  let eK = x3Exp(x3s[SK]);
  let eV = x3Exp(x3s[SV]);
  let qMul = u.scale * pow2(eQ);
  let sK = pow2(eK);
  let sV = pow2(eV);
  let iQ = pow2(-eQ);  // scores in the staged units are S·2^(eQ + eK): back with two exact multiplies
  let iK = pow2(-eK);${withG ? `
  let eG = x3Exp(x3s[SG]);
  let sG = pow2(eG);` : ''}`;
