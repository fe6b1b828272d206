/**
 * rows.wat (DiT's row-wise fused ops: the gated residual, LayerNorm with adaLN modulation, forward
 * and backward) as engine/cpu/fused.ts calls them, for f32 rows of D % 4 = 0: operands copied into
 * the module's memory whole, results copied back; the same bits as fused.ts's loops.
 *
 * Each function returns false (having done nothing) where it does not take the call (other
 * widths, tiny or huge tensors) or the module is unavailable (AVDIT_CPU_WASM=0, no WebAssembly
 * SIMD): the caller runs its JavaScript loop instead.
 */
import { rowsWasmBytes } from './rows-wasm.ts';
import { callOnCopies, instantiate, MAX_COPY_FLOATS, type WasmMemory } from './instance.ts';

interface RowsModule {
  memory: WasmMemory;
  gatedFwd: (x: number, g: number, y: number, o: number, N: number, L: number, D: number) => void;
  gatedBwd: (gr: number, g: number, y: number, dg: number, dy: number, N: number, L: number, D: number, withY: number) => void;
  normModFwd: (x: number, sh: number, sc: number, y: number, mu: number, rs: number, N: number, L: number, D: number, eps: number, tmp: number) => void;
  normModBwd: (g: number, x: number, mu: number, rs: number, sc: number, dx: number, dsh: number, dsc: number, N: number, L: number, D: number) => void;
}

/** undefined: not tried yet; null: unavailable. */
let module: RowsModule | null | undefined;

/** rows.wat's instance in this thread, made on first use; null where WebAssembly is off or unavailable. */
function rows(): RowsModule | null {
  if (module === undefined) module = instantiate<RowsModule>(rowsWasmBytes);
  return module;
}

/** fused.ts gatedAddFwd for f32 with D % 4 = 0: O[b,t,j] = X[b,t,j] + G[b,j]·Y[b,t,j], the same bits. */
export function gatedAddWasm(X: Float32Array, G: Float32Array, Y: Float32Array, N: number, L: number, D: number, O: Float32Array): boolean {
  const n = N * L * D;
  if (D % 4 !== 0 || n < 256 || 3 * n + N * D > MAX_COPY_FLOATS) return false;
  const k = rows();
  if (!k) return false;
  callOnCopies(k.memory, [X.subarray(0, n), G.subarray(0, N * D), Y.subarray(0, n)], [O.subarray(0, n)], ([x, g, y, o]) => k.gatedFwd(x!, g!, y!, o!, N, L, D));
  return true;
}

/**
 * fused.ts gatedAddBwd for f32 with D % 4 = 0: DY = G ⊙ Gr and, with Y and DG, DG[b,j] = Σ_t
 * Gr·Y in f32 (DG zeroed otherwise), the same bits.
 */
export function gatedAddBwdWasm(Gr: Float32Array, G: Float32Array, Y: Float32Array | null, N: number, L: number, D: number, DG: Float32Array | null, DY: Float32Array): boolean {
  const n = N * L * D;
  if (D % 4 !== 0 || n < 256 || 3 * n + 2 * N * D > MAX_COPY_FLOATS) return false;
  const k = rows();
  if (!k) return false;
  const withY = Y !== null && DG !== null;
  const y = withY ? Y.subarray(0, n) : new Float32Array(0), dg = withY ? DG.subarray(0, N * D) : new Float32Array(0);
  callOnCopies(k.memory, [Gr.subarray(0, n), G.subarray(0, N * D), y], [dg, DY.subarray(0, n)], ([pr, pg, py, pdg, pdy]) =>
    k.gatedBwd(pr!, pg!, py!, pdg!, pdy!, N, L, D, withY ? 1 : 0));
  if (DG && !withY) DG.fill(0);
  return true;
}

/**
 * fused.ts normModulateFwd for f32 with D % 4 = 0: Y = x̂·(1 + SC) + SH, MU, RS per row, the same
 * bits (rows' sums in order, four rows' chains at a time).
 */
export function normModulateWasm(X: Float32Array, SH: Float32Array, SC: Float32Array, N: number, L: number, D: number, eps: number, Y: Float32Array, MU: Float32Array, RS: Float32Array): boolean {
  const n = N * L * D, R = N * L;
  if (D % 4 !== 0 || n < 256 || 2 * n + 2 * N * D + 2 * R > MAX_COPY_FLOATS) return false;
  const k = rows();
  if (!k) return false;
  callOnCopies(k.memory, [X.subarray(0, n), SH.subarray(0, N * D), SC.subarray(0, N * D)], [Y.subarray(0, n), MU.subarray(0, R), RS.subarray(0, R)],
    ([x, sh, sc, y, mu, rs, tmp]) => k.normModFwd(x!, sh!, sc!, y!, mu!, rs!, N, L, D, eps, tmp!), 16);
  return true;
}

/** fused.ts normModulateBwd for f32 with D % 4 = 0 (DX, and DSH, DSC from zero), the same bits. */
export function normModulateBwdWasm(
  G: Float32Array, X: Float32Array, MU: Float32Array, RS: Float32Array, SC: Float32Array, N: number, L: number, D: number,
  DX: Float32Array, DSH: Float32Array, DSC: Float32Array,
): boolean {
  const n = N * L * D, R = N * L;
  if (D % 4 !== 0 || n < 256 || 3 * n + 3 * N * D + 2 * R > MAX_COPY_FLOATS) return false;
  const k = rows();
  if (!k) return false;
  callOnCopies(k.memory, [G.subarray(0, n), X.subarray(0, n), MU.subarray(0, R), RS.subarray(0, R), SC.subarray(0, N * D)],
    [DX.subarray(0, n), DSH.subarray(0, N * D), DSC.subarray(0, N * D)],
    ([g, x, mu, rs, sc, dx, dsh, dsc]) => k.normModBwd(g!, x!, mu!, rs!, sc!, dx!, dsh!, dsc!, N, L, D));
  return true;
}
