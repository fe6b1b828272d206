/**
 * The mixed-precision attention backward passes (attention-sgmat.ts): dQ per query block, dK and dV
 * per key block (FA2, Alg. 2, no atomics; D = rowsum(dO∘O) comes from the f32 row-dot kernel).
 */
import { inputRowsWgsl, rowAtWgsl, type RowIO } from './attention-layout.ts';
import {
  bwdTiles, kvParts, lseDParts, mainStart, mmaLoop, opsFor, ownTimesTileT, phasedLoop, qgParts, rep, rowElem, stageOnce, tileColumn, UNIFORMS,
  writeOut, type StageDims,
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

export function dqCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO): string {
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
${mainStart(ops, NT, ['q', 'dO', 'k', 'v', 'dq'])}
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
export function dkdvCode(dqk: number, dv: number, t: MixedTiles, emulate: boolean, syntax: SgSyntax, io: RowIO, packed = false): string {
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
${mainStart(ops, NT, ['q', 'dO', 'k', 'v', 'dk', 'dv'])}
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
