/**
 * The mixed-precision attention backward passes (attention-sgmat.ts): dQ per query block, dK and dV
 * per key block (FA2, Alg. 2, no atomics; D = rowsum(dO∘O) comes from the f32 row-dot kernel).
 */
import { inputRowsWgsl, rowAtWgsl, type RowIO } from './attention-layout.ts';
import {
  bwdTiles, halfTiles, kvParts, lseDParts, mainStart, mmaLoop, opsFor, ownTimesTileT, P_EXP, phasedLoop, qgParts, rep, rowElem, stageOnce, storeHalf,
  tileColumn, UNIFORMS, writeOut, x3Binding, x3Scales, type StageDims,
} from './attention-sgmat-parts.ts';
import { dimsOf, doubleBufferOn, type MixedTiles } from './attention-sgmat-tiles.ts';
import { FRAG as F, type SgSyntax } from './sgmat-ops.ts';

const bwdBindings = (dqk: number, dv: number, io: RowIO): string => `@group(0) @binding(0) var<storage, read> q: array<${rowElem(io.vq)}>;
@group(0) @binding(1) var<storage, read> k: array<${rowElem(io.vq)}>;
@group(0) @binding(2) var<storage, read> v: array<${rowElem(io.vv)}>;
@group(0) @binding(3) var<storage, read> dO: array<${rowElem(io.vv)}>;
${inputRowsWgsl(dqk, dv, io, true)}
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> D: array<f32>;`;

/**
 * The x3 split's dS: with dO and V staged times 2^eG, 2^eV (each largest |x| in [2^13, 2^14)),
 * |dP'| ≤ dv·2^28 and |D'| ≤ max |dP'|, so dS' = P∘(dP' − D') ≤ 2·dv·2^28; times 2^-DS_EXP it stays
 * below 2^15, inside f16 with its remainder. Returns DS_EXP and the WGSL constant DSK = 2^-DS_EXP.
 */
function dsScale(dv: number): [number, string] {
  const e = 14 + Math.ceil(Math.log2(Math.max(dv, 1)));
  return [e, `const DSK = ${2 ** -e};  // 2^-${e}`];
}

/**
 * `x3Slots`: f32 attention with the x3 split (attention-sgmat.ts; the WGSL naming the slots of its
 * operands' maxima, bound at 7), null for f16 operands.
 */
export function dqCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, x3Slots: string | null = null): string {
  const x3 = x3Slots !== null;
  const { Dq, Dv, ldQ, ldV, SS, LP, NT } = dimsOf(dqk, dv, t);
  const sd: StageDims = { dqk, dv, Dq, Dv, ldQ, ldV, NT, io, x3 };
  const ops = opsFor(emulate, syntax, x3, ['Qs', 'Gs', 'DSs'], ['Ks', 'Vs'], ['Ss', 'DPs']);
  const [dsExp, dsConst] = dsScale(dv);
  const NS = t.bt / F, NQ = Dq / F, HT = t.bt / 2;
  const db = doubleBufferOn('dq', x3);
  return /* wgsl */ `${ops.header}
${bwdBindings(dqk, dv, io)}
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
${x3 ? `${x3Binding(7, x3Slots)}\n${dsConst}` : ''}
${UNIFORMS}
@group(0) @binding(${x3 ? 8 : 7}) var<uniform> u: U;
${rowAtWgsl('dq', 'q', 'u.l', dqk, 1, io.strided)}
const BO = ${t.bo}u;
${bwdTiles('q', t, ldQ, ldV, db, x3)}
var<workgroup> Ss: array<f32, ${t.bo * SS}>;
var<workgroup> DPs: array<f32, ${t.bo * SS}>;
${halfTiles(x3, [['DSs', t.bo * LP]])}
${mainStart(ops, NT, ['q', 'dO', 'k', 'v', 'dq'])}
  ${x3 ? x3Scales(true) : ''}
  ${stageOnce(qgParts(sd, t.bo), 'b0', 'u.l - b0')}
  let valid = b0 + row < u.l;
  var lrow = 0.0;
  var drow = 0.0;
  if (valid) { lrow = lse[h * u.l + b0 + row]; drow = D[h * u.l + b0 + row]${x3 ? ' * sG * sV' : ''}; }
  ${rep(NQ, (j) => `var dq${j} = ${ops.acc}();`)}
  ${phasedLoop(db, kvParts(sd, t.bt), [t.bt * ldQ, t.bt * ldV], 'kb', 'nk', 'u.s', t.bt, ([kc, vc]) => ({
    products: `${ownTimesTileT(ops, 's', NS, Dq / F, 'Qs', 'Ks', ldQ, 'Ss', SS, kc)}
    ${ownTimesTileT(ops, 'p', NS, Dv / F, 'Gs', 'Vs', ldV, 'DPs', SS, vc)}`,
    elementwise: `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let key = ${tileColumn(HT)};
      var ds = 0.0;
      if (key < nk) { ds = exp(Ss[row * ${SS}u + key]${x3 ? ' * iQ * iK' : ''} - lrow) * (DPs[row * ${SS}u + key] - drow)${x3 ? ' * DSK' : ''}; }
      ${storeHalf(x3, 'DSs', `row * ${LP}u + key`, 'ds')}
    }`,
    mmas: mmaLoop(ops, 'dq', NQ, NS, ['DSs', (c) => `rowSg * ${LP}u + ${c} * ${F}u`, false, LP], ['Ks', (c, j) => `${kc} + ${c} * ${F * ldQ}u + ${j * F}u`, false, ldQ]),
  }))}
  ${writeOut(ops, 'dq', NQ, 'Ss', SS, 'dq', dqk, 'valid', 'b0 + row', x3 ? `u.scale * pow2(${dsExp} - eG) * pow2(-eV) * pow2(-eK)` : 'u.scale')}
}`;
}

/**
 * `packed`: dk and dv are columns of one buffer, bound once as `dkv` (two writable bindings of one
 * buffer are invalid). `x3Slots`: the x3 split, as dqCode (the operands' maxima after the outputs).
 */
export function dkdvCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, packed = false, x3Slots: string | null = null): string {
  const x3 = x3Slots !== null;
  const { Dq, Dv, ldQ, ldV, SS, LP, NT } = dimsOf(dqk, dv, t);
  const sd: StageDims = { dqk, dv, Dq, Dv, ldQ, ldV, NT, io, x3 };
  const ops = opsFor(emulate, syntax, x3, ['Ks', 'Vs', 'PTs', 'DSTs'], ['Qs', 'Gs'], ['STs', 'DPTs']);
  const [dsExp, dsConst] = dsScale(dv);
  const uAt = (packed ? 7 : 8) + (x3 ? 1 : 0);
  const NS = t.bt / F, NQ = Dq / F, NV = Dv / F, HT = t.bt / 2;
  const db = doubleBufferOn('dkdv', x3);
  return /* wgsl */ `${ops.header}
${bwdBindings(dqk, dv, io)}
${packed ? '@group(0) @binding(6) var<storage, read_write> dkv: array<f32>;' : `@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;`}
${x3 ? `${x3Binding(packed ? 7 : 8, x3Slots)}\n${dsConst}` : ''}
${UNIFORMS}
@group(0) @binding(${uAt}) var<uniform> u: U;
${rowAtWgsl('dk', 'k', 'u.s', dqk, 1, io.strided)}
${rowAtWgsl('dv', 'v', 'u.s', dv, 1, io.strided)}
const BO = ${t.bo}u;
${bwdTiles('k', t, ldQ, ldV, db, x3)}
var<workgroup> LDs: array<f32, ${(db ? 2 : 1) * 2 * t.bt}>;  // lse, then D, of the query tile (twice over when double-buffered)
var<workgroup> STs: array<f32, ${t.bo * SS}>;
var<workgroup> DPTs: array<f32, ${t.bo * SS}>;
${halfTiles(x3, [['PTs', t.bo * LP], ['DSTs', t.bo * LP]])}
${mainStart(ops, NT, ['q', 'dO', 'k', 'v', 'dk', 'dv'])}
  ${x3 ? x3Scales(true) : ''}
  ${stageOnce(kvParts(sd, t.bo), 'b0', 'u.s - b0')}
  ${rep(NQ, (j) => `var dk${j} = ${ops.acc}();`)}
  ${rep(NV, (j) => `var dv${j} = ${ops.acc}();`)}
  ${phasedLoop(db, [...qgParts(sd, t.bt), lseDParts(t.bt, NT, x3 ? ' * sG * sV' : '')], [t.bt * ldQ, t.bt * ldV, 2 * t.bt], 'qb', 'nq', 'u.l', t.bt, ([qc, gc, lc]) => ({
    products: `${ownTimesTileT(ops, 's', NS, Dq / F, 'Ks', 'Qs', ldQ, 'STs', SS, qc)}
    ${ownTimesTileT(ops, 'p', NS, Dv / F, 'Vs', 'Gs', ldV, 'DPTs', SS, gc)}`,
    elementwise: `for (var j = 0u; j < ${ops.bound(HT)}; j++) {
      let qi = ${tileColumn(HT)};
      var p = 0.0;
      var ds = 0.0;
      if (qi < nq) {
        p = exp(STs[row * ${SS}u + qi]${x3 ? ' * iQ * iK' : ''} - LDs[${lc} + qi]);
        ds = p * (DPTs[row * ${SS}u + qi] - LDs[${lc} + ${t.bt}u + qi])${x3 ? ' * DSK' : ''};
      }
      ${storeHalf(x3, 'PTs', `row * ${LP}u + qi`, x3 ? `p * ${2 ** P_EXP}.0` : 'p')}
      ${storeHalf(x3, 'DSTs', `row * ${LP}u + qi`, 'ds')}
    }`,
    mmas: `${mmaLoop(ops, 'dv', NV, NS, ['PTs', (c) => `rowSg * ${LP}u + ${c} * ${F}u`, false, LP], ['Gs', (c, j) => `${gc} + ${c} * ${F * ldV}u + ${j * F}u`, false, ldV])}
    ${mmaLoop(ops, 'dk', NQ, NS, ['DSTs', (c) => `rowSg * ${LP}u + ${c} * ${F}u`, false, LP], ['Qs', (c, j) => `${qc} + ${c} * ${F * ldQ}u + ${j * F}u`, false, ldQ])}`,
  }))}
  let valid = b0 + row < u.s;
  ${writeOut(ops, 'dk', NQ, 'STs', SS, 'dk', dqk, 'valid', 'b0 + row', x3 ? `pow2(${dsExp} - eG) * pow2(-eV) * pow2(-eQ)` : '1.0', packed ? 'dkv' : 'dk')}
  ${writeOut(ops, 'dv', NV, 'STs', SS, 'dv', dv, 'valid', 'b0 + row', x3 ? `pow2(-${P_EXP} - eG)` : '1.0', packed ? 'dkv' : 'dv')}
}`;
}
