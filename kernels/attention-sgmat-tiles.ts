/**
 * Tiles of the mixed-precision attention kernels (attention-sgmat.ts): the configs, their
 * workgroup memory, the preference order, the test and benchmark hooks, and which one a kernel
 * runs (forced, measured through AVDIT_MIXED_TILES, or the first that fits).
 */
import { envTable } from './env-table.ts';
import { FRAG as F, SUBGROUP } from './sgmat-ops.ts';

export type MixedKernel = 'fwd' | 'dq' | 'dkdv';

/** A block of `bo` owned rows (multiple of 16) streaming tiles of `bt` rows (multiple of 16). */
export interface MixedTiles {
  bo: number;
  bt: number;
}

/** Row padding of f16 tiles (halves) and of f32 score tiles (floats). */
export const PADH = 8;
export const PADF = 4;

const pad16 = (d: number): number => Math.ceil(d / F) * F;

export interface Dims {
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

export function dimsOf(dqk: number, dv: number, t: MixedTiles): Dims {
  const Dq = pad16(dqk), Dv = pad16(dv);
  return { Dq, Dv, ldQ: Dq + PADH, ldV: Dv + PADH, SS: t.bt + PADF, LP: t.bt + PADH, NT: (t.bo / F) * SUBGROUP };
}

/**
 * Workgroup bytes of a kernel at a tile config (must fit the device's limit). `x3`: the f32 split
 * (attention-sgmat.ts), every f16 tile twice (hi and lo).
 */
export function mixedTileBytes(kind: MixedKernel, t: MixedTiles, dqk: number, dv: number, x3 = false): number {
  const { ldQ, ldV, SS, LP } = dimsOf(dqk, dv, t);
  const f16 = (rows: number, ld: number) => (x3 ? 4 : 2) * rows * ld;
  const f32 = (rows: number, ld: number) => 4 * rows * ld;
  // Double-buffered: the streamed tiles twice over (and the forward's scores, twoPassLoop).
  const n = doubleBufferOn(kind, x3) ? 2 : 1;
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
// The x3 split holds every f16 tile twice: at d = 72 within 48 KiB the forward fits 64×16 (45 KiB)
// or 32×32 (43.5), dQ and dK/dV 32×16 (42 and 45). Not yet measured on a GPU: bigger blocks first,
// as above.
const PREFERENCE_X3: Record<MixedKernel, [number, number][]> = {
  fwd: [[64, 16], [32, 32], [32, 16], [16, 16], [16, 32]],
  dq: [[32, 16], [16, 32], [16, 16]],
  dkdv: [[32, 16], [16, 32], [16, 16]],
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
  /** Forced tiles of the x3 split's kernels (f32 attention on tensor cores). */
  x3Tiles?: Partial<Record<MixedKernel, MixedTiles>>;
  emulate?: boolean;
  /** Run f32 attention through the x3 split (emulated where the device has no subgroup matrices; tests). */
  x3?: boolean;
  off?: boolean;
  scalarStaging?: boolean;
  prefetch?: boolean;
  onePass?: boolean;
  doubleBuffer?: Partial<Record<MixedKernel, boolean>>;
} = { tiles: {} };

const onePassEnv = (): string => {
  const env = typeof process !== 'undefined' ? (process.env.AVDIT_MIXED_ONEPASS ?? '') : '';
  if (!['', '0', '1', 'force'].includes(env)) throw new Error(`AVDIT_MIXED_ONEPASS=${env}: expected 1, force or 0`);
  return env;
};

/** Whether the forward runs its one-pass form (onePassLoop): `mixedAttentionTuning.onePass` or AVDIT_MIXED_ONEPASS=1 (or force). */
export const onePassOn = (): boolean => !!mixedAttentionTuning.onePass || ['1', 'force'].includes(onePassEnv());

/**
 * Why the one-pass forward may not run here, or null: AVDIT_MIXED_ONEPASS=1 on real tensor cores is
 * refused until a GPU run passes its tests (its earlier forms gave wrong o on the H200, runs 9 and
 * 11: attention-sgmat-fwd.ts onePassLoop); `force` runs it anyway, as do the tests' and benchmarks'
 * `mixedAttentionTuning.onePass` and the emulation.
 */
export function onePassRefusal(emulate: boolean): string | null {
  if (emulate || mixedAttentionTuning.onePass || onePassEnv() !== '1') return null;
  return 'AVDIT_MIXED_ONEPASS=1: the one-pass tensor-core attention forward has not yet passed its tests on NVIDIA (its earlier forms gave wrong outputs on the H200); AVDIT_MIXED_ONEPASS=force runs it anyway';
}
/**
 * Whether a kernel double-buffers its streamed tiles (phasedLoop; the forward also its scores,
 * twoPassLoop): `mixedAttentionTuning.doubleBuffer[kind]`, or AVDIT_MIXED_DB = 1 (every kernel) or
 * a list such as `fwd,dkdv`. Not with the one-pass forward, nor in the x3 split (`x3`: untested
 * together, and its tiles are twice the memory already).
 */
export function doubleBufferOn(kind: MixedKernel, x3 = false): boolean {
  if (x3 || (kind === 'fwd' && onePassOn())) return false;
  if (mixedAttentionTuning.doubleBuffer?.[kind]) return true;
  const env = typeof process !== 'undefined' ? process.env.AVDIT_MIXED_DB : undefined;
  return env === '1' || (env ?? '').split(',').map((x) => x.trim()).includes(kind);
}

/** Every config that fits `limitBytes`, best first: preferred order, blocks not much larger than the extent. */
export function mixedTileCandidates(kind: MixedKernel, ownExtent: number, dqk: number, dv: number, limitBytes: number, x3 = false): MixedTiles[] {
  const boMax = ownExtent <= 16 ? 16 : ownExtent <= 32 ? 32 : 64;
  const fits = (x3 ? PREFERENCE_X3 : PREFERENCE)[kind].map(([bo, bt]) => ({ bo, bt })).filter((t) => mixedTileBytes(kind, t, dqk, dv, x3) <= limitBytes);
  return [...fits.filter((t) => t.bo <= boMax), ...fits.filter((t) => t.bo > boMax)];
}

/** Key of a shape in a table of measured tiles: `kind:dqkxdv:ownExtent` (the x3 split's kernels `x3kind:…`). */
export const tunedKey = (kind: MixedKernel, dqk: number, dv: number, ownExtent: number, x3 = false): string => `${x3 ? 'x3' : ''}${kind}:${dqk}x${dv}:${ownExtent}`;

/**
 * Measured tiles from AVDIT_MIXED_TILES, a JSON object {"fwd:72x72:256": "64x16", …} that
 * bench/gpu-attention-mixed.ts writes from its sweep (gpu-run.sh hands it to the later parts).
 */
const envTiles = (): Record<string, MixedTiles> =>
  envTable('AVDIT_MIXED_TILES', (s) => {
    const m = /^(\d+)x(\d+)$/.exec(s);
    return m ? { bo: Number(m[1]), bt: Number(m[2]) } : null;
  }, 'BOxBT');

/**
 * The tile config of a kernel: forced (mixedAttentionTuning), else measured (AVDIT_MIXED_TILES) if
 * it fits, else the first candidate. `x3`: the f32 split's kernels (their own forced tiles, table
 * keys and candidates).
 */
export function pickMixedTiles(kind: MixedKernel, ownExtent: number, dqk: number, dv: number, limitBytes: number, x3 = false): MixedTiles {
  const what = x3 ? 'f32 attention (x3 split)' : 'mixed attention';
  const forced = (x3 ? mixedAttentionTuning.x3Tiles ?? {} : mixedAttentionTuning.tiles)[kind];
  if (forced) {
    const bytes = mixedTileBytes(kind, forced, dqk, dv, x3);
    if (bytes > limitBytes) throw new Error(`${what} ${kind} tiles ${forced.bo}×${forced.bt} at ${dqk}/${dv} need ${bytes} bytes of workgroup memory (limit ${limitBytes})`);
    return forced;
  }
  const tuned = envTiles()[tunedKey(kind, dqk, dv, ownExtent, x3)];
  if (tuned && mixedTileBytes(kind, tuned, dqk, dv, x3) <= limitBytes) return tuned;
  const c = mixedTileCandidates(kind, ownExtent, dqk, dv, limitBytes, x3)[0];
  if (!c) throw new Error(`${what}: head dims ${dqk}/${dv} need more workgroup memory than the device's ${limitBytes} bytes`);
  return c;
}
