/**
 * The mixed-precision attention forward (attention-sgmat.ts): two passes over the keys (row maxima,
 * then P = e^{S − m}, ℓ and O += P V), optionally double-buffered, or one pass with lazy rescaling.
 */
import { inputRowsWgsl, rowAtWgsl, type RowIO } from './attention-layout.ts';
import {
  dbLoop, halfTiles, kvParts, mainStart, mmaLoop, opsFor, ownTimesTileT, P_EXP, phasedLoop, qgParts, rep, rowElem, stageOnce, storeHalf, streamLoop,
  tileColumn, UNIFORMS, writeOut, x3Binding, x3Scales, type AttnOps, type StageDims,
} from './attention-sgmat-parts.ts';
import { dimsOf, doubleBufferOn, onePassOn, type MixedTiles } from './attention-sgmat-tiles.ts';
import { FRAG as F, type SgSyntax } from './sgmat-ops.ts';

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
function twoPassLoop(db: boolean, ops: AttnOps, sd: StageDims, t: MixedTiles, NO: number, NS: number, SS: number, LP: number, ldV: number, HT: number): string {
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
  m = max(red[row * 2u], red[row * 2u + 1u]);${ops.x3 ? `
  if (m > NEG) { m = m * iQ * iK; }  // x3: the maximum in the scores' own units` : ''}
  var den = 0.0;
  ${rep(NO, (j) => `var o${j} = ${ops.acc}();`)}
  ${pvPass(db, ops, sd, t, NO, NS, SS, LP, ldV, HT)}`;
}

/** WGSL: the double-buffered max pass of twoPassLoop (`rowMax` folds this invocation's half row of the scores at `sCur` into m). */
function dbMaxPass(ops: AttnOps, sd: StageDims, t: MixedTiles, NS: number, SS: number, rowMax: string): string {
  return dbLoop(kvParts(sd, t.bt, false), [t.bt * sd.ldQ], 'kb', 'nk', 'u.s', t.bt, ([k], storeNext) => `let sCur = par * ${t.bo * SS}u;
      ${ownTimesTileT(ops, 's', NS, sd.Dq / F, 'Qs', 'Ks', sd.ldQ, 'Ss', SS, k, 'sCur')}
      ${storeNext}
      workgroupBarrier();
      ${rowMax}`);
}

/** WGSL: the forward's second pass, P = e^{S − m}, ℓ and O += P V over the key tiles (phasedLoop). */
function pvPass(db: boolean, ops: AttnOps, sd: StageDims, t: MixedTiles, NO: number, NS: number, SS: number, LP: number, ldV: number, HT: number): string {
  return phasedLoop(db, kvParts(sd, t.bt), [t.bt * sd.ldQ, t.bt * ldV], 'kb', 'nk', 'u.s', t.bt, ([k, v]) => ({
    products: ownTimesTileT(ops, 's', NS, sd.Dq / F, 'Qs', 'Ks', sd.ldQ, 'Ss', SS, k),
    elementwise: probabilities(ops, HT, SS, LP),
    mmas: accumulatePV(ops, NO, NS, LP, ldV, v),
  }));
}


/**
 * WGSL: this invocation's half row of P = e^{S − m} (f16, 0 past the tile's nk keys) into Ps, its
 * sum into den. x3: S from the staged units, P in f32 (den sums it) split into Ps, PsL times 2^P_EXP.
 */
const probabilities = (ops: AttnOps, HT: number, SS: number, LP: number): string => ops.x3 ? `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let key = ${tileColumn(HT)};
      var p = 0.0;
      if (key < nk) { p = exp(Ss[row * ${SS}u + key] * iQ * iK - m); }
      den += p;
      ${storeHalf(true, 'Ps', `row * ${LP}u + key`, `p * ${2 ** P_EXP}.0`)}
    }` : `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let key = ${tileColumn(HT)};
      var p = f16(0.0);
      if (key < nk) { p = f16(exp(Ss[row * ${SS}u + key] - m)); }
      den += f32(p);
      Ps[row * ${LP}u + key] = p;
    }`;

/** WGSL: O (fragments o<j>) += P V for the current tile (P in Ps, V in Vs). */
const accumulatePV = (ops: AttnOps, NO: number, NS: number, LP: number, ldV: number, vBase = '0u'): string =>
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
 * maximum m', ℓ·e^{m − m'}, and what O holds so far leaves the fragments: each fragment goes
 * through workgroup memory into this invocation's share of the row, `ot` (8 columns of each
 * fragment, f32 registers), as ot ← (ot + fragment)·e^{m − m'}, and the fragment restarts at zero.
 * The write-back adds ot to the last fragments. The first tile sets m directly. For scores that do
 * not keep climbing a rebase is rare: one pass over K and V instead of two, no second Q Kᵀ.
 *
 * (On the H200 two earlier forms failed although their emulation passed: o off by ~100% with lse
 * right, and NaN under workgroup poison. Run 9's scaled the fragments in workgroup memory and
 * loaded them back as result fragments; run 11's stored them and assigned zero fragments inside the
 * rebase branch. What both did and no kernel that passes there does: assign a result fragment other
 * than by an MMA inside a branch within the loop. This form only stores inside the branch and
 * restarts the fragments by a scalar multiply (0 or 1) on every tile, the builtin v4's x3 split
 * already runs correctly there. Until a GPU run passes with it, AVDIT_MIXED_ONEPASS=1 refuses real
 * tensor cores: attention-sgmat-tiles.ts onePassRefusal.)
 */
function onePassLoop(ops: AttnOps, sd: StageDims, t: MixedTiles, scores: string, NO: number, NS: number, SS: number, LP: number, ldV: number, HT: number): string {
  const moveOut = rep(NO, (j) => `workgroupBarrier();
        ${ops.store('Ss', `rowSg * ${SS}u`, `o${j}`, `${SS}u`)}
        workgroupBarrier();
        for (var e = 0u; e < ${ops.bound(8)}; e++) { ot[${j * 8}u + e] = (ot[${j * 8}u + e] + Ss[row * ${SS}u + half * 8u + e]) * c; }`, '\n        ');
  return `var m = NEG;
  var den = 0.0;
  ${rep(NO, (j) => `var o${j} = ${ops.acc}();`)}
  // This invocation's 8 columns of each O fragment, moved out of the fragments at each rebase.
  var ot = array<f32, ${8 * NO}>();
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
      // O so far into ot, scaled by c (through Ss: its scores are in Ps by now).
      ${moveOut}
    }
    // and the fragments restart at zero: times 0 after a rebase (O is finite), else times 1, on
    // every tile, outside the branch (both earlier forms assigned fragments inside it and failed
    // on the H200, runs 9 and 11).
    let keep = select(1.0, 0.0, any != 0u);
    ${rep(NO, (j) => `o${j} = ${ops.scale(`o${j}`, 'keep')};`, '\n    ')}
    workgroupBarrier();
    ${accumulatePV(ops, NO, NS, LP, ldV)}`)}`;
}

/**
 * `x3Slots`: f32 attention with the x3 split (attention-sgmat.ts; the WGSL naming the slots of its
 * operands' maxima, bound at 5, the uniforms then at 6), null for f16 operands.
 */
export function fwdCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, x3Slots: string | null = null): string {
  const x3 = x3Slots !== null;
  const { Dq, Dv, ldQ, ldV, SS, LP, NT } = dimsOf(dqk, dv, t);
  const sd: StageDims = { dqk, dv, Dq, Dv, ldQ, ldV, NT, io, x3 };
  const ops = opsFor(emulate, syntax, x3, ['Qs', 'Ps'], ['Ks', 'Vs'], ['Ss']);
  const NS = t.bt / F, NO = Dv / F, HT = t.bt / 2;
  const scores = ownTimesTileT(ops, 's', NS, Dq / F, 'Qs', 'Ks', ldQ, 'Ss', SS);
  const onePass = onePassOn() && !x3;
  const db = doubleBufferOn('fwd', x3);
  const tiles = db ? 2 : 1;
  return /* wgsl */ `${ops.header}
@group(0) @binding(0) var<storage, read> q: array<${rowElem(io.vq)}>;
@group(0) @binding(1) var<storage, read> k: array<${rowElem(io.vq)}>;
@group(0) @binding(2) var<storage, read> v: array<${rowElem(io.vv)}>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
${x3 ? x3Binding(5, x3Slots) : ''}
${UNIFORMS}
@group(0) @binding(${x3 ? 6 : 5}) var<uniform> u: U;
${inputRowsWgsl(dqk, dv, io, false)}
${rowAtWgsl('o', 'o', 'u.l', dv, 1, io.strided)}
const NEG = -1e30;
const BO = ${t.bo}u;
${halfTiles(x3, [['Qs', t.bo * ldQ], ['Ks', tiles * t.bt * ldQ], ['Vs', tiles * t.bt * ldV]])}
var<workgroup> Ss: array<f32, ${tiles * t.bo * SS}>;
${halfTiles(x3, [['Ps', t.bo * LP]])}
var<workgroup> red: array<f32, ${2 * t.bo}>;
${onePass ? 'var<workgroup> rebase: array<u32, 2>;' : ''}
${mainStart(ops, NT, ['q', 'k', 'v', 'o'])}
  ${x3 ? x3Scales(false) : ''}
  ${stageOnce(qgParts(sd, t.bo, false), 'b0', 'u.l - b0')}
  ${onePass ? onePassLoop(ops, sd, t, scores, NO, NS, SS, LP, ldV, HT) : twoPassLoop(db, ops, sd, t, NO, NS, SS, LP, ldV, HT)}
  workgroupBarrier();
  red[lidx] = den;
  workgroupBarrier();
  let tot = red[row * 2u] + red[row * 2u + 1u];
  let valid = b0 + row < u.l;
  if (valid && half == 0u) { lse[h * u.l + b0 + row] = m + log(tot); }
  let inv = 1.0 / tot;${x3 ? `
  let oDown = pow2(-${P_EXP} - eV);  // O holds (2^P_EXP·P)·(2^eV·V)` : ''}
  ${writeOut(ops, 'o', NO, 'Ss', SS, 'o', dv, 'valid', 'b0 + row', x3 ? 'inv * oDown' : 'inv', 'o', onePass ? (j) => `ot[${j * 8}u + t]` : undefined)}
}`;
}
