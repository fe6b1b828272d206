/**
 * Tiles and WGSL helpers shared by the flash-attention kernels (attention.ts, attention-bwd.ts).
 *
 * All three kernels (forward; backward dQ; backward dK/dV) have one shape: a workgroup owns a
 * block of `bq` rows (queries, or keys for dK/dV) kept in workgroup memory, and streams the other
 * side in tiles of `bk` rows. Each invocation owns TR = 4 of the block's rows (rg, rg + RG, …,
 * RG = bq/4) and, in the score phase, bk/8 of the tile's rows (kg, kg + 8, …), so a score
 * sub-block of 4 × bk/8 is computed with register blocking: per vec4 of the head dim, 4 + bk/8
 * vec4 loads feed 4·bk/8 dot products. Scores (P or dS) go through workgroup memory; in the
 * accumulate phase the same invocation owns its 4 rows × the vec4 columns kg, kg + 8, … of the
 * output. Head dims are padded to a multiple of 4 with zeros in workgroup memory; a tile's rows
 * use an odd vec4 stride, so the 8 rows read at once hit 8 different 4-bank groups.
 *
 * Tiles are chosen from the workgroup-memory limit (32 KiB on lavapipe, 48 KiB on NVIDIA:
 * ANCHORS §8) and the head dims, which are compile-time constants of each pipeline.
 */

import { inputRowsWgsl, type RowIO } from './attention-layout.ts';
import { envChoice, envTable } from './env-table.ts';
import { tripCount } from './loop-bound.ts';

/** Rows of the owned block per invocation, by default. */
export const TR = 4;
/** Invocations sharing one group of rows (they split the tile's rows, then the output columns), by default. */
export const KG = 8;
/**
 * Invocations that may share a group of rows. 6 is for head dims of 18 vec4s (72, the XL models'):
 * 8 sharers hold 3 output columns each, of which the last is used by 2 of the 8 (a quarter of the
 * accumulate phase's lanes idle: colGuard), 6 sharers hold exactly 3 each.
 */
const SHARERS: readonly number[] = [4, 6, 8, 16];

export interface Tiles {
  /** Rows of the owned block (multiple of tr; bq/tr·kg invocations). */
  bq: number;
  /** Rows per streamed tile (multiple of kg). */
  bk: number;
  /**
   * Thread layout: each invocation owns `tr` rows of the block (default TR = 4) and is one of `kg`
   * invocations sharing them (default KG = 8). Fewer rows or more sharers per row group mean more
   * invocations for the same workgroup memory (more warps resident per SM), at less register reuse.
   */
  tr?: number;
  kg?: number;
  /**
   * dQ only (`:a` in names): the dS scores go into the V tile's workgroup memory once the score
   * phase is done with V (one more barrier per tile), so a bigger block fits: at head dim 72, 64×16
   * needs 46.6 KiB aliased against 50.9 KiB (NVIDIA gives 48), i.e. 128 invocations where the
   * 32×32 that fits has 64. GPUs' dQ default at head dim 72 (64x16:2x8:a, defaultCandidates); elsewhere offered last.
   */
  alias?: boolean;
}

/** The thread layout of a tile config, defaults filled in. */
export function layoutOf(t: Tiles): { TR: number; KG: number; RG: number; NT: number } {
  const tr = t.tr ?? TR, kg = t.kg ?? KG;
  return { TR: tr, KG: kg, RG: t.bq / tr, NT: (t.bq / tr) * kg };
}

/** Why a tile config cannot be built (null when it can). */
export function tilesError(t: Tiles): string | null {
  const { TR: tr, KG: kg, NT } = layoutOf(t);
  if (![1, 2, 4].includes(tr) || !SHARERS.includes(kg)) return `rows per invocation must be 1, 2 or 4 and sharers ${SHARERS.join(', ')} (got ${tr}, ${kg})`;
  if (t.bq % tr !== 0 || t.bk % kg !== 0) return `the block (${t.bq}) must divide by ${tr} and the tile (${t.bk}) by ${kg}`;
  if (NT > 256) return `${NT} invocations per workgroup (at most 256)`;
  return null;
}

/** A tile config as written in keys and tables: BQxBK, then :TRxKG when not the default layout, then :a when aliased. */
export function tilesName(t: Tiles): string {
  const { TR: tr, KG: kg } = layoutOf(t);
  return `${t.bq}x${t.bk}${tr === TR && kg === KG ? '' : `:${tr}x${kg}`}${t.alias ? ':a' : ''}`;
}

/** Parse `BQxBK[:TRxKG][:a]` (tilesName's form); null when it is not one. */
export function parseTiles(s: string): Tiles | null {
  const m = /^(\d+)x(\d+)(?::(\d+)x(\d+))?(:a)?$/.exec(s.trim());
  if (!m) return null;
  const t: Tiles = { bq: Number(m[1]), bk: Number(m[2]), ...(m[3] ? { tr: Number(m[3]), kg: Number(m[4]) } : {}), ...(m[5] ? { alias: true } : {}) };
  return tilesError(t) ? null : t;
}

export type AttentionKernel = 'fwd' | 'dq' | 'dkdv';

/**
 * Benchmark hooks (bench/gpu-fused.ts --variants): force a tile config per kernel (it must fit
 * the device), or run only some backward passes to time them alone. Empty in normal use.
 */
export const attentionTuning: {
  tiles: Partial<Record<AttentionKernel, Tiles>>;
  bwdPasses?: readonly ('rowdot' | 'dq' | 'dkdv')[];
  /**
   * Force the staging form (stagedTile): true, batched loads on software adapters too (a test);
   * false, the loop form on GPUs too (bench/gpu-fused.ts times both). Unset: batched on GPUs.
   */
  batchedStaging?: boolean;
  /** Kernels whose accumulate loops run over whole tiles (wholeTiles); unset: AVDIT_ATTENTION_WHOLE_TILES. */
  wholeTiles?: readonly AttentionKernel[];
} = { tiles: {} };

/** vec4s per row of a head dim (zero-padded). */
export const vec4s = (d: number): number => Math.ceil(d / 4);
/** Odd vec4 stride of a streamed tile's rows. */
export const oddStride = (d4: number): number => d4 | 1;
/** Padded stride of the score arrays ([tile row][block row]). */
export const scoreStride = (bq: number): number => bq + 4;

/** vec4s of the dQ kernel's V tile when it also holds the dS scores (Tiles.alias). */
export const aliasedVec4s = (t: Tiles, dv: number): number => Math.max(t.bk * oddStride(vec4s(dv)), Math.ceil((t.bk * scoreStride(t.bq)) / 4));

/** Why a config cannot serve this kernel beyond tilesError (null when it can): only dQ aliases. */
export const kindError = (kind: AttentionKernel, t: Tiles): string | null => (t.alias && kind !== 'dq' ? `only the dQ kernel aliases its scores (:a), not ${kind}` : null);

/** Workgroup bytes of a kernel at a tile config. */
export function tileBytes(kind: AttentionKernel, t: Tiles, dqk: number, dv: number): number {
  const q4 = vec4s(dqk), v4 = vec4s(dv), ps = scoreStride(t.bq);
  if (kind === 'fwd') return 16 * (t.bq * q4 + t.bk * oddStride(q4) + t.bk * v4) + 4 * (t.bk * ps + layoutOf(t).KG * ps);
  if (kind === 'dq') {
    if (t.alias) return 16 * (t.bq * (q4 + v4) + t.bk * oddStride(q4) + aliasedVec4s(t, dv));
    return 16 * (t.bq * (q4 + v4) + t.bk * (oddStride(q4) + oddStride(v4))) + 4 * t.bk * ps;
  }
  return 16 * (t.bq * (q4 + v4) + t.bk * (oddStride(q4) + oddStride(v4))) + 4 * (2 * t.bk + 2 * t.bk * ps);
}

// Order from the H200 tile sweep of 2026-11-26 (bench/results/h200-run2/gpu-fused.json): for
// short sequences (the temporal adapter's 16 frames) 16×8 tiles beat 16×16 in every kernel.
const PREFERENCE: Record<AttentionKernel, [number, number][]> = {
  fwd: [[64, 32], [64, 16], [32, 32], [32, 16], [16, 8], [16, 16], [8, 8]],
  dq: [[64, 32], [32, 32], [64, 16], [32, 16], [16, 8], [16, 16], [8, 8]],
  dkdv: [[64, 32], [32, 32], [64, 16], [32, 16], [16, 8], [16, 16], [8, 8]],
};

/** Thread layouts a sweep tries beside the default (bench/gpu-fused.ts --variants). */
export const LAYOUTS: readonly { tr: number; kg: number }[] = [
  { tr: TR, kg: KG },
  { tr: 2, kg: KG },
  { tr: TR, kg: 16 },
  { tr: 2, kg: 16 },
  { tr: TR, kg: 6 },
];

/** Whether a sharer count divides the default's 8 or is a multiple of it (the tile sizes of PREFERENCE fit it). */
const evenWithDefault = (kg: number): boolean => KG % kg === 0 || kg % KG === 0;

/**
 * The tile length a layout streams for a nominal one (PREFERENCE's, made for 8 sharers): the same
 * rows per sharer (bk/8), so sharers that do not divide 8 (6) get kg·bk/8 (32 → 24).
 */
const streamedRows = (bk: number, kg: number): number => (evenWithDefault(kg) ? bk : (kg * bk) / KG);
/** The nominal tile length (PREFERENCE's) of a config: streamedRows inverted. */
export const nominalRows = (t: Tiles): number => {
  const kg = t.kg ?? KG;
  return evenWithDefault(kg) ? t.bk : (t.bk * KG) / kg;
};

/**
 * Whether sharers that do not divide 8 are worth a try for a kernel: only where they leave fewer
 * output columns idle than 8 sharers do (the vec4 columns a kernel accumulates: v's in the
 * forward, q's in dQ, both in dK/dV).
 */
function sharersFit(kind: AttentionKernel, kg: number, dqk: number, dv: number): boolean {
  if (evenWithDefault(kg)) return true;
  const idle = (d4: number, g: number): number => Math.ceil(d4 / g) * g - d4;
  const cols = kind === 'fwd' ? [vec4s(dv)] : kind === 'dq' ? [vec4s(dqk)] : [vec4s(dqk), vec4s(dv)];
  return cols.reduce((a, d4) => a + idle(d4, kg) / kg, 0) < cols.reduce((a, d4) => a + idle(d4, KG) / KG, 0);
}

/**
 * Every config a kernel may use for these extents, best first (fitting `limitBytes`); with
 * `layouts`, each tile size in each of those thread layouts (default: the default layout only).
 * `order`: the tile sizes' order (default PREFERENCE's); `aliasInPlace`: dQ configs that fit only
 * with their scores aliased stand where their size does, not last.
 */
export function tileCandidates(
  kind: AttentionKernel, ownExtent: number, otherExtent: number, dqk: number, dv: number, limitBytes: number,
  layouts: readonly { tr: number; kg: number }[] = [{ tr: TR, kg: KG }],
  { order = PREFERENCE[kind], aliasInPlace = false }: { order?: readonly [number, number][]; aliasInPlace?: boolean } = {},
): Tiles[] {
  const bqMax = ownExtent <= 16 ? 16 : ownExtent <= 32 ? 32 : 64;
  const bkMax = otherExtent <= 8 ? 8 : otherExtent <= 16 ? 16 : 32;
  const fits = (t: Tiles): boolean => !tilesError(t) && tileBytes(kind, t, dqk, dv) <= limitBytes;
  const all = order
    .filter(([bq, bk]) => bq <= bqMax && bk <= bkMax)
    .flatMap(([bq, bk]) => layouts
      .filter(({ kg }) => sharersFit(kind, kg, dqk, dv))
      .map(({ tr, kg }): Tiles => (tr === TR && kg === KG ? { bq, bk } : { bq, bk: streamedRows(bk, kg), tr, kg })));
  const alias = (t: Tiles): Tiles => ({ ...t, alias: true });
  if (kind === 'dq' && aliasInPlace) return all.map((t) => (fits(t) ? t : alias(t))).filter(fits);
  // dQ: by default the configs that fit only with their scores aliased come last (bench/gpu-fused.ts
  // --variants times the first of them).
  const aliased = kind === 'dq' ? all.filter((t) => !fits(t)).map(alias) : [];
  return [...all, ...aliased].filter(fits);
}

/**
 * The default configs on GPUs, from the H200's sweep of run 9 (bench/gpu-fused.ts --variants at
 * XL's three shapes, bench/RESULTS.md): dQ and dK/dV with 2 rows per invocation (twice the
 * invocations for the same workgroup memory: spatial dQ 14.7 → 10.1 ms, dK/dV 23.4 → 16.2; fusion
 * dK/dV 6.3 → 2.8; temporal 0.69 → 0.54, 0.92 → 0.82), dQ's 64-row block with its scores aliased
 * before a 32-row one (spatial 8.9 ms), and the forward with six sharers where they idle fewer
 * output columns than eight (head dim 72: spatial 6.15 → 5.83 ms, fusion 1.14 → 1.08). lavapipe
 * keeps PREFERENCE's default layout (its tests and compile times are tuned to it).
 */
const GPU_LAYOUTS: Record<AttentionKernel, readonly { tr: number; kg: number }[]> = {
  fwd: [{ tr: TR, kg: 6 }, { tr: TR, kg: KG }],
  dq: [{ tr: 2, kg: KG }, { tr: TR, kg: KG }],
  dkdv: [{ tr: 2, kg: KG }, { tr: TR, kg: KG }],
};

/** The default configs of a kernel, best first: GPUs' (GPU_LAYOUTS) or software adapters'. */
export function defaultCandidates(
  kind: AttentionKernel, ownExtent: number, otherExtent: number, dqk: number, dv: number, limitBytes: number, software: boolean,
): Tiles[] {
  if (software) return tileCandidates(kind, ownExtent, otherExtent, dqk, dv, limitBytes);
  // Six sharers stream tiles of 24 (or 12, 6) keys: not for 16 keys or fewer, which 8 tile evenly
  // (the temporal adapter's forward: 0.37 ms either way in run 9).
  const layouts = kind === 'fwd' && otherExtent <= 16 ? [{ tr: TR, kg: KG }] : GPU_LAYOUTS[kind];
  // dQ on GPUs: the forward's order (64-row blocks before 32-row ones), aliased where that fits.
  const dq = { order: PREFERENCE.fwd, aliasInPlace: true };
  // (GPU_LAYOUTS end with the default layout, so every size the software list has is here too.)
  return tileCandidates(kind, ownExtent, otherExtent, dqk, dv, limitBytes, layouts, kind === 'dq' ? dq : {});
}

/** Key of a shape in a table of measured tiles: `kind:dqkxdv:ownExtentxotherExtent`. */
export const attentionTilesKey = (kind: AttentionKernel, dqk: number, dv: number, own: number, other: number): string => `${kind}:${dqk}x${dv}:${own}x${other}`;

/**
 * Measured tiles from AVDIT_ATTENTION_TILES, a JSON object {"dq:72x72:256x256": "32x32:2x8", …}
 * that bench/gpu-fused.ts --variants writes from its sweep (gpu-run.sh hands it on with TUNE=1).
 */
const envTiles = (): Record<string, Tiles> =>
  envTable('AVDIT_ATTENTION_TILES', parseTiles, `BQxBK[:TRxKG][:a] (rows per invocation 1/2/4, sharers ${SHARERS.join('/')}, at most 256 invocations; :a dQ only)`);

/**
 * The tile config of a kernel: the forced one (attentionTuning), else the measured one
 * (AVDIT_ATTENTION_TILES) if it fits, else the first default candidate (defaultCandidates: GPUs'
 * measured layouts, or software adapters'). Few variants on purpose (each costs a compile,
 * seconds on lavapipe).
 */
export function pickTiles(kind: AttentionKernel, ownExtent: number, otherExtent: number, dqk: number, dv: number, limitBytes: number, software: boolean): Tiles {
  const forced = attentionTuning.tiles[kind];
  if (forced) {
    const bad = tilesError(forced) ?? kindError(kind, forced) ?? (tileBytes(kind, forced, dqk, dv) > limitBytes ? `needs ${tileBytes(kind, forced, dqk, dv)} bytes of workgroup memory (limit ${limitBytes})` : null);
    if (bad) throw new Error(`attention ${kind} tiles ${tilesName(forced)} at ${dqk}/${dv}: ${bad}`);
    return forced;
  }
  const key = attentionTilesKey(kind, dqk, dv, ownExtent, otherExtent);
  const tuned = envTiles()[key];
  const wrongKind = tuned && kindError(kind, tuned);
  if (wrongKind) throw new Error(`AVDIT_ATTENTION_TILES: ${key} → '${tilesName(tuned)}': ${wrongKind}`);
  if (tuned && tileBytes(kind, tuned, dqk, dv) <= limitBytes) return tuned;
  const c = defaultCandidates(kind, ownExtent, otherExtent, dqk, dv, limitBytes, software)[0];
  if (!c) throw new Error(`attention: head dims ${dqk}/${dv} need more workgroup memory than the device's ${limitBytes} bytes`);
  return c;
}

/** `n` generated pieces joined (unrolled register code: private arrays indexed by loops may spill). */
export const rep = (n: number, f: (i: number) => string, sep = '\n  '): string => Array.from({ length: n }, (_, i) => f(i)).join(sep);

/** WGSL max of several expressions. */
export const maxOf = (xs: string[]): string => xs.reduce((a, b) => `max(${a}, ${b})`);

/** WGSL element type of a head-dim buffer read as vec4 or not (attention-layout.ts `rowIO`). */
export const elemType = (vec: boolean): string => (vec ? 'vec4<f32>' : 'f32');

/**
 * WGSL `fn ld_<buf>(at, c) -> vec4<f32>`: vec4 number c of the row starting at element (or vec4)
 * `at` (from `row_<buf>`, attention-layout.ts), zero past the dim.
 */
export function loaderWgsl(buf: string, d: number, vec: boolean): string {
  if (vec) return `fn ld_${buf}(at: u32, c: u32) -> vec4<f32> { return ${buf}[at + c]; }`;
  return `fn ld_${buf}(at: u32, c: u32) -> vec4<f32> {
  let b = at + c * 4u;
  var x = vec4<f32>(0.0);
  ${rep(4, (t) => `if (c * 4u + ${t}u < ${d}u) { x[${t}] = ${buf}[b + ${t}u]; }`, ' ')}
  return x;
}`;
}

/** WGSL `fn st_<buf>(at, c, x)`: store vec4 number c of the row starting at `at` (components past the dim dropped); `arr` the binding written. */
export function storerWgsl(buf: string, d: number, vec: boolean, arr = buf): string {
  if (vec) return `fn st_${buf}(at: u32, c: u32, x: vec4<f32>) { ${arr}[at + c] = x; }`;
  return `fn st_${buf}(at: u32, c: u32, x: vec4<f32>) {
  let b = at + c * 4u;
  ${rep(4, (t) => `if (c * 4u + ${t}u < ${d}u) { ${arr}[b + ${t}u] = x[${t}]; }`, ' ')}
}`;
}

/** WGSL row addressing and loaders `ld_q`, `ld_k`, `ld_v` (and `ld_dO` when `withG`) of the f32 kernels. */
export function inputLoadersWgsl(dqk: number, dv: number, io: RowIO, withG: boolean): string {
  return [
    inputRowsWgsl(dqk, dv, io, withG),
    loaderWgsl('q', dqk, io.vq), loaderWgsl('k', dqk, io.vq), loaderWgsl('v', dv, io.vv),
    ...(withG ? [loaderWgsl('dO', dv, io.vv)] : []),
  ].join('\n');
}

/**
 * A tile staged in two steps (FA2's "load, then compute" with the loads batched): `load` issues
 * every global load of an invocation's share at once into registers `<dst>R<i>` (one vec4 each;
 * zeros past `valid` rows and past the dim), `store` writes them into the workgroup array. A loop
 * over tiles puts `load` before the barrier that ends the previous tile's reads (stageStreamed),
 * so the loads are in flight while slower invocations finish that tile. The loop form (one vec4
 * loaded and stored per iteration, so an invocation waits for memory once per vec4) made the
 * tensor-core kernels 3–4× slower on the H200 than batched loads (bench/RESULTS.md, run 7).
 *
 * On software adapters (`batched` false) `load` is that loop instead and `store` is empty:
 * lavapipe compiled the batched form about 2× slower and ran it 25% slower (llvmpipe keeps what
 * lives across a barrier in memory; bench/RESULTS.md, fifteenth session).
 *
 * Rows start at row `first` of head h of buffer `buf` (its row 0 at `<buf>Base`:
 * attention-layout.ts headBasesWgsl) and go to workgroup array `dst` with vec4 row stride
 * `stride`; `mul` scales (or '').
 */
export interface StagedTile {
  load(first: string, valid: string): string;
  store: string;
}

export function stagedTile(dst: string, buf: string, d: number, rows: number, stride: number, nt: number, batched: boolean, mul = ''): StagedTile {
  const d4 = vec4s(d), slots = rows * d4;
  if (!batched) {
    return {
      load: (first, valid) => `for (var e = lid; e < ${slots}u; e += ${nt}u) {
    let r = e / ${d4}u;
    let c = e % ${d4}u;
    var x = vec4<f32>(0.0);
    if (r < ${valid}) { x = ld_${buf}(row_${buf}(${buf}Base, ${first} + r), c)${mul}; }
    ${dst}[r * ${stride}u + c] = x;
  }`,
      store: '',
    };
  }
  const reg = (i: number): string => `${dst}R${i}`;
  const slot = (i: number): string => `(lid + ${i * nt}u)`;
  const inRange = (i: number): string => ((i + 1) * nt > slots ? `${slot(i)} < ${slots}u` : '');
  const row = (i: number): string => `${slot(i)} / ${d4}u`;
  const col = (i: number): string => `${slot(i)} % ${d4}u`;
  const n = Math.ceil(slots / nt);
  return {
    load: (first, valid) => rep(n, (i) => {
      const cond = [inRange(i), `${row(i)} < ${valid}`].filter(Boolean).join(' && ');
      return `var ${reg(i)} = vec4<f32>(0.0);
    if (${cond}) { ${reg(i)} = ld_${buf}(row_${buf}(${buf}Base, ${first} + ${row(i)}), ${col(i)})${mul}; }`;
    }, '\n    '),
    store: rep(n, (i) => {
      const st = `${dst}[(${row(i)}) * ${stride}u + ${col(i)}] = ${reg(i)};`;
      return inRange(i) ? `if (${inRange(i)}) { ${st} }` : st;
    }, '\n    '),
  };
}

/**
 * Whether the kernels stage with batched loads: on GPUs, unless attentionTuning or
 * AVDIT_ATTENTION_STAGING=loop|batched (the form on every adapter) says otherwise.
 */
export function batchedStaging(sw: boolean): boolean {
  if (attentionTuning.batchedStaging !== undefined) return attentionTuning.batchedStaging;
  const env = envChoice('AVDIT_ATTENTION_STAGING', ['loop', 'batched']);
  return env ? env === 'batched' : !sw;
}
const KERNELS: readonly AttentionKernel[] = ['fwd', 'dq', 'dkdv'];

/**
 * The kernels whose accumulate loops run over whole tiles by default (wholeTiles). H200 run 11
 * (2026-11-28, bench/results/h200-run11/call2/fused.txt): the forward and dK/dV faster so at the
 * three XL shapes together (spatial forward 5.85 → 5.40 ms, fusion dK/dV 4.09 → 2.74), dQ not
 * (spatial 10.16 → 10.27); the XL denoising step 0.697 → 0.686 s with them.
 */
export const WHOLE_TILES_DEFAULT: readonly AttentionKernel[] = ['fwd', 'dkdv'];

/**
 * Whether a kernel's accumulate loop (acc += P·V, dQ += dS·K, dV += Pᵀ·dO and dK += dSᵀ·Q) runs
 * over every row of a streamed tile, a count the compiler knows and can unroll, instead of the
 * tile's valid rows (a count read at run time: the last tile of a ragged sequence is shorter).
 * The rows past the valid ones add zeros: staging writes them as zeros, and their P or dS is 0
 * (masked scores). `attentionTuning.wholeTiles`, or AVDIT_ATTENTION_WHOLE_TILES = 1 (every
 * kernel), 0 (none) or a list such as `dq,dkdv`, else WHOLE_TILES_DEFAULT (bench/gpu-fused.ts
 * times each kernel both ways). On software adapters the count stays opaque (loop-bound.ts).
 */
export function wholeTiles(kind: AttentionKernel): boolean {
  if (attentionTuning.wholeTiles) return attentionTuning.wholeTiles.includes(kind);
  const env = typeof process !== 'undefined' ? (process.env.AVDIT_ATTENTION_WHOLE_TILES ?? '') : '';
  if (env === '') return WHOLE_TILES_DEFAULT.includes(kind);
  if (env === '0') return false;
  if (env === '1') return true;
  const list = env.split(',').map((x) => x.trim());
  const bad = list.filter((x) => !(KERNELS as readonly string[]).includes(x));
  if (bad.length) throw new Error(`AVDIT_ATTENTION_WHOLE_TILES=${env}: expected 1, 0 or a list of ${KERNELS.join(', ')}`);
  return list.includes(kind);
}

/** WGSL trip count of a kernel's accumulate loop over a tile of `bk` rows whose valid rows number `valid` (wholeTiles). */
export const accumulateRows = (kind: AttentionKernel, bk: number, valid: string, sw: boolean): string => (wholeTiles(kind) ? tripCount(bk, sw) : valid);
/** Pipeline-key part of the accumulate loop's form. */
export const accumulateKey = (kind: AttentionKernel): string => (wholeTiles(kind) ? '/whole' : '');

/** Pipeline-key part of a staging form other than the adapter's own. */
export const stagingKey = (sw: boolean): string => (batchedStaging(sw) === !sw ? '' : sw ? '/batched' : '/loop');

/** WGSL: stage tiles at once (loads, then stores), e.g. the block a workgroup owns, before its first barrier. */
export const stageNow = (tiles: StagedTile[], first: string, valid: string): string =>
  `{
    ${tiles.map((t) => t.load(first, valid)).join('\n    ')}
    ${tiles.map((t) => t.store).join('\n    ')}
  }`;

/**
 * WGSL: the head of a loop body over streamed tiles: the tiles' loads, a barrier (the previous
 * tile's reads end), their stores, a barrier (they are visible). In the loop form (`batched`
 * false) the loads, which then store as they go, come after the first barrier.
 */
export const stageStreamed = (tiles: StagedTile[], first: string, valid: string, batched: boolean): string => {
  const loads = tiles.map((t) => t.load(first, valid)).join('\n    ');
  return `${batched ? loads : 'workgroupBarrier();'}
    ${batched ? 'workgroupBarrier();' : loads}
    ${tiles.map((t) => t.store).join('\n    ')}
    workgroupBarrier();`;
};

/** Guard of output vec4 column group jj when the dim's vec4 count is not a multiple of kg (the sharers). */
export const colGuard = (jj: number, d4: number, kg: number): string => ((jj + 1) * kg > d4 ? `if (kg + ${kg * jj}u < ${d4}u) ` : '');
