// engine/cpu/wasm/rows.wat: DiT's row-wise fused ops (the gated residual and LayerNorm with adaLN
// modulation, forward and backward) give the same bits as fused.ts's JavaScript loops, on random
// values, any row count; the committed bytes are a fresh compile of the WAT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { gatedAddBwd, gatedAddFwd, normModulateBwd, normModulateFwd } from '../../engine/cpu/fused.ts';
import { rowsWasmBytes } from '../../engine/cpu/wasm/rows-wasm.ts';
import { assertFreshCompile } from './fresh-wasm.ts';

/** The tests that need the module: not run when AVDIT_CPU_WASM=0 turns it off. */
const WASM = { skip: process.env.AVDIT_CPU_WASM === '0' ? 'AVDIT_CPU_WASM=0' : false };

/** The first index where two arrays differ in their bits, or −1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / 4);
  return a.length === b.length ? -1 : Math.min(a.length, b.length);
}

test('the gated residual x + gate·y and its backward: the same bits as the JavaScript (f64 arrays take the loops)', WASM, () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 24 }), fc.boolean(), fc.integer(), (N, L, D4, withY, seed) => {
      const D = 4 * D4;
      fc.pre(N * L * D >= 256);
      let z = seed >>> 0;
      const rnd = (n: number, s: number) => Float32Array.from({ length: n }, () => ((z = (Math.imul(z, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * s);
      const X = rnd(N * L * D, 8), G = rnd(N * D, 3), Y = rnd(N * L * D, 8), Gr = rnd(N * L * D, 5);
      const d = { N, L, D };
      const f64 = (a: Float32Array) => Float64Array.from(a);
      const O = new Float32Array(N * L * D), O64 = new Float64Array(N * L * D);
      gatedAddFwd(X, G, Y, d, O);
      gatedAddFwd(f64(X), f64(G), f64(Y), d, O64);
      assert.equal(firstDiff(O, Float32Array.from(O64)), -1, 'forward');
      // The JavaScript loop on f32 arrays is the reference for the f32 accumulation of dgate.
      const DY = new Float32Array(N * L * D), DG = new Float32Array(N * D).fill(7);
      gatedAddBwd(Gr, G, withY ? Y : null, d, DG, DY);
      const wantDY = new Float32Array(N * L * D), wantDG = new Float32Array(N * D);
      for (let b = 0; b < N; b++) {
        for (let t = 0; t < L; t++) {
          for (let j = 0; j < D; j++) {
            const o = (b * L + t) * D + j;
            if (withY) wantDG[b * D + j]! += Gr[o]! * Y[o]!;
            wantDY[o] = G[b * D + j]! * Gr[o]!;
          }
        }
      }
      assert.equal(firstDiff(DY, wantDY), -1, 'dy');
      assert.equal(firstDiff(DG, wantDG), -1, 'dgate');
    }),
    { numRuns: 150, seed: 6 },
  );
});

test('LayerNorm with adaLN modulation, forward and backward: the same bits as the JavaScript (f64 arrays take the loops), any row count', WASM, () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom(1e-6, 1e-5), fc.integer(), (N, L, D4, eps, seed) => {
      const D = 4 * D4;
      fc.pre(N * L * D >= 256);
      let z = seed >>> 0;
      const rnd = (n: number, s: number, o = 0) => Float32Array.from({ length: n }, () => o + ((z = (Math.imul(z, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * s);
      const X = rnd(N * L * D, 6, 3), SH = rnd(N * D, 1), SC = rnd(N * D, 1);
      const d = { N, L, D };
      const Y = new Float32Array(N * L * D), MU = new Float32Array(N * L), RS = new Float32Array(N * L);
      normModulateFwd(X, SH, SC, d, eps, Y, MU, RS);
      const f64 = (a: Float32Array) => Float64Array.from(a);
      const Y64 = new Float64Array(N * L * D), MU64 = new Float64Array(N * L), RS64 = new Float64Array(N * L);
      normModulateFwd(f64(X), f64(SH), f64(SC), d, eps, Y64, MU64, RS64);
      assert.equal(firstDiff(Y, Float32Array.from(Y64)), -1, 'y');
      assert.equal(firstDiff(MU, Float32Array.from(MU64)), -1, 'mean');
      assert.equal(firstDiff(RS, Float32Array.from(RS64)), -1, 'rstd');
      // The backward, from the forward's f32 statistics: dx the f64 loops' values rounded once; dshift
      // and dscale accumulate in f32 (rounded after each token), so the reference is the loop on f32
      // arrays with the module off: written out here.
      const G = rnd(N * L * D, 2);
      const DX = new Float32Array(N * L * D), DSH = new Float32Array(N * D).fill(5), DSC = new Float32Array(N * D).fill(5);
      normModulateBwd(G, X, MU, RS, SC, d, DX, DSH, DSC);
      const DX64 = new Float64Array(N * L * D), dsh64 = new Float64Array(N * D), dsc64 = new Float64Array(N * D);
      normModulateBwd(f64(G), f64(X), f64(MU), f64(RS), f64(SC), d, DX64, dsh64, dsc64);
      assert.equal(firstDiff(DX, Float32Array.from(DX64)), -1, 'dx');
      const wantSh = new Float32Array(N * D), wantSc = new Float32Array(N * D);
      for (let b = 0; b < N; b++) {
        for (let t = 0; t < L; t++) {
          const r = b * L + t;
          for (let j = 0; j < D; j++) {
            const xhat = (X[r * D + j]! - MU[r]!) * RS[r]!;
            wantSh[b * D + j]! += G[r * D + j]!;
            wantSc[b * D + j]! += G[r * D + j]! * xhat;
          }
        }
      }
      assert.equal(firstDiff(DSH, wantSh), -1, 'dshift');
      assert.equal(firstDiff(DSC, wantSc), -1, 'dscale');
    }),
    { numRuns: 150, seed: 8 },
  );
});

test('the committed rows-wasm.ts is a fresh wabt compile of rows.wat (npm run build:wasm)', () => assertFreshCompile('rows', rowsWasmBytes));
