/**
 * Batched matmul: out[i] = op(A[i]) · op(B[i]) for i < batch, f32 out.
 *
 * Layout: per batch i, A is [M, K] row-major at element offset i·strideA ([K, M] when transA),
 * B is [K, N] at i·strideB ([N, K] when transB); a stride of 0 shares one matrix across the
 * batch. out is contiguous [batch, M, N].
 *
 * Variants (force one with `p.variant` or the environment variable AVDIT_MATMUL; a config may
 * follow the name after a colon, see `parseVariant`):
 *
 *   v1     naive: one invocation per output, K loop straight from global memory. The readable
 *          reference; never chosen automatically.
 *   v2     f32, register-blocked tiles (kernels/matmul-tiled.ts), `v2:BMxBNxBK:TMxTN`: e.g.
 *          128×128 workgroup tile, 8×8 outputs per thread, BK = 16, double-buffered workgroup
 *          memory, vec4 loads when aligned.
 *   v3     the same with f16 workgroup memory (f16 operands, f32 accumulation); needs shader-f16.
 *   v4     f16 subgroup matrices (tensor cores) with f32 accumulation (kernels/matmul-sgmat.ts),
 *          `v4:BMxBNxBK:SGMxSGN[:s1][:h][:np][:z]` (one stage; f16 prefetch registers; no register
 *          prefetch; staggered staging stores); needs chromium-experimental-subgroup-matrix with an
 *          f16×f16→f32 16×16×16 config.
 *   v4emu  v4's kernel with the subgroup-matrix builtins emulated in plain WGSL (slow; tests v4's
 *          tiling on hardware without tensor cores). Never chosen automatically.
 *   v4 `:x3`  v4 for f32 products: each operand split into two f16 halves, three MMAs a fragment
 *          pair, f32 accuracy (kernels/matmul-sgmat.ts SgConfig.X3; f32x3Table).
 *
 * Automatic choice (configs from MATMUL_DEFAULTS, below): precision 'f32' (default) → v2 (the
 * small config when the big one would leave the GPU mostly idle), or v4 `:x3` where asked for
 * (f32x3Table) and the device has tensor cores; 'mixed' → v4 if available,
 * else v3 if f16 is, else v2. A weight gradient (A transposed, few output tiles, long K) is split
 * along K into a batched matmul of partial products and a column-sum (`splitKFor`).
 *
 * Pipeline keys name the variant, its tile config, the transposes and whether loads are vec4
 * (every contiguous dimension a multiple of 4); sizes are uniforms. Grids are linear over
 * (batch, tile) and folded into 2-D beyond 65535 workgroups.
 */
import { fold1d, type GpuContext } from './context.ts';
import { encodeReduce } from './reduce.ts';
import { encodeOperandMaxima } from './absmax.ts';
import { MATMUL_UNIFORMS_WGSL, type MatmulShape, bindings, uniformsFor, vec4Aligned } from './matmul-common.ts';
import { SG_SMALL, type SgConfig, type SgSyntax, sgKey, sgSharedBytes, sgWgsl } from './matmul-sgmat.ts';
import { FRAG } from './sgmat-ops.ts';
import { rollMatmulLoops } from './loop-bound.ts';
import { TILED_SMALL, type TiledConfig, tiledConfigError, tiledKey, tiledSharedBytes, tiledThreads, tiledTuning, tiledWgsl } from './matmul-tiled.ts';

/**
 * Default tile configs (edit after `node --import tsx bench/gpu-matmul.ts --sweep`, which prints a
 * ranked table and a suggested version of this object). Per variant:
 *   big    the config for large problems (also what the bare name, e.g. `v2`, means);
 *   small  the config when `big` would launch fewer than `minBigTiles` workgroups (GPU mostly idle).
 * Config syntax as in variant strings: v2/v3 `BMxBNxBK:TMxTN`, v4 `BMxBNxBK:SGMxSGN[:s1][:h][:np][:z]`.
 * A config the device cannot run (workgroup memory, threads) falls back to the next choice.
 */
export const MATMUL_DEFAULTS: {
  v2: { big: string; small: string; alt: string | null };
  v3: { big: string; small: string };
  v4: { big: string; small: string };
  minBigTiles: number;
  splitK: { target: number; minChunk: number; max: number; onSoftware: boolean };
  sgSyntax: SgSyntax;
  direct: string | null;
  weightT: readonly MatmulPrecision[];
  f32x3: { on: boolean; big: string; small: string };
} = {
  // From the H200 sweep of 2026-11-26 (bench/results/h200-run2/gpu-matmul.json).
  // alt: the config for products whose sizes it tiles with less waste than big (altBeatsBig);
  // null until a GPU sweep measures it (AVDIT_MATMUL_V2_ALT sets it meanwhile).
  v2: { big: '128x256x16:8x8', small: '64x128x16:8x8', alt: null },
  v3: { big: '128x128x16:8x8', small: '64x64x16:8x8' },
  v4: { big: '128x128x64:2x4:s1', small: '64x64x32:2x2' },
  // ~2 waves of 132 SMs.
  minBigTiles: 264,
  // Split-K of weight gradients (see splitKFor): aim at `target` workgroups, chunks of at least
  // `minChunk` rows of K, at most `max` chunks; not on software adapters (lavapipe: two cores).
  splitK: { target: 528, minChunk: 512, max: 16, onSoftware: false },
  // Spelling of subgroupMatrixLoad/Store (see SgSyntax in kernels/matmul-sgmat.ts).
  sgSyntax: 'new',
  // Mixed precision's form for products with a weight operand, reading f16 copies from memory
  // (directVariant): a `:gb` or `:gb:ga` v4 config, or null for the staged v4 everywhere. Null
  // until a GPU sweep shows one faster (bench/gpu-matmul.ts); AVDIT_MATMUL_DIRECT overrides it.
  direct: null,
  // The precisions whose forward products read a transposed copy of the weight (weightTransposeOn).
  weightT: [],
  // f32 products on the tensor cores through v4's x3 split (f32x3Table; kernels/matmul-sgmat.ts
  // SgConfig.X3), where the device has them: on since H200 run 11 (2026-11-28,
  // bench/results/h200-run11): 68 TFLOP/s at 4096³ against v2's 37.7 (PyTorch f32 51), 47–74 at
  // XL's shapes against 21–38, errors ≤ 1e-6 of f64 (v2: ~1e-7); the XL step b16 8.76 → 5.43 s.
  // AVDIT_MATMUL_F32X3=0 keeps IEEE f32 FMAs (v2). Two-stage 128×128×32 with hi and lo arrays needs 75 KiB of
  // workgroup memory: one stage (46 KiB) for the big tiles.
  f32x3: { on: true, big: '128x128x32:2x4:s1:x3', small: '64x64x32:2x2:x3' },
};

/**
 * The v4 form reading f16 operands straight from memory (`:gb`, or `:gb:ga` for A too) that mixed
 * precision uses for a product whose B is a weight (the WebGPU backend keeps f16 copies of those,
 * engine/webgpu/f16-cache.ts): AVDIT_MATMUL_DIRECT (a variant string; '' or 'off' for none) or
 * else MATMUL_DEFAULTS.direct names it. Null when none is named, the device cannot run it, or the
 * sizes are not whole fragments (K and N, and M for `:ga`, multiples of 16) or the output is under
 * V4_MIN_OUT_BYTES: the staged v4 runs then.
 */
export function directVariant(ctx: GpuContext, p: MatmulParams, outBytes: number): { variant: string; a16: boolean } | null {
  if (p.precision !== 'mixed') return null; // (first: f32 products never read the environment here)
  const name = directName();
  if (!name) return null;
  const v = parseVariant(name);
  if ((v.name !== 'v4' && v.name !== 'v4emu') || !v.cfg.GB) throw new Error(`AVDIT_MATMUL_DIRECT / MATMUL_DEFAULTS.direct '${name}': not a v4 form with :gb`);
  if (variantSupport(ctx, v) || outBytes < V4_MIN_OUT_BYTES) return null;
  const a16 = !!v.cfg.GA;
  if (p.K % 16 !== 0 || p.N % 16 !== 0 || (a16 && p.M % 16 !== 0)) return null;
  return { variant: name, a16 };
}

/**
 * Whether products x·Wᵀ with a single-matrix B (a Linear's forward) at this precision read a
 * transposed copy of the weight (engine/webgpu/f16-cache.ts TransposedCache) and run as NN: the
 * f32 kernel stages an NT product's B tile transposed in workgroup memory (run 9 at 4096³: NT 35.3
 * TFLOP/s, NN 37.7); the staged v4 reads NT's right fragments column-major (4096³: NT 33, NN 142,
 * a power-of-two stride; XL's shapes unmeasured both ways). Mixed precision's direct form (f16
 * copies read from memory) is not affected. AVDIT_MATMUL_WEIGHT_T: 1 (= f32), 0, or a list of
 * precisions (`f32,mixed`); else MATMUL_DEFAULTS.weightT (none until a GPU measures them at XL's
 * shapes: bench/gpu-matmul.ts times NT and NN there).
 */
export function weightTransposeOn(precision: MatmulPrecision): boolean {
  const env = typeof process !== 'undefined' ? process.env['AVDIT_MATMUL_WEIGHT_T'] : undefined;
  if (env === undefined || env === '') return MATMUL_DEFAULTS.weightT.includes(precision);
  const list = env === '1' ? ['f32'] : env === '0' ? [] : env.split(',').map((x) => x.trim());
  if (list.some((x) => x !== 'f32' && x !== 'mixed')) throw new Error(`AVDIT_MATMUL_WEIGHT_T=${env}: expected 1, 0 or a list of f32, mixed`);
  return list.includes(precision);
}

/** The direct form named by AVDIT_MATMUL_DIRECT ('' or 'off': none) or else MATMUL_DEFAULTS.direct. */
export function directName(): string | null {
  const env = typeof process !== 'undefined' ? process.env['AVDIT_MATMUL_DIRECT'] : undefined;
  return env === undefined ? MATMUL_DEFAULTS.direct : env === '' || env === 'off' ? null : env;
}

export type MatmulPrecision = 'f32' | 'mixed';

export interface MatmulParams extends MatmulShape {
  precision?: MatmulPrecision;
  variant?: string;
}

export type VariantName = 'v1' | 'v2' | 'v3' | 'v4' | 'v4emu';
export const VARIANTS: readonly VariantName[] = ['v1', 'v2', 'v3', 'v4', 'v4emu'];

export type ParsedVariant =
  | { name: 'v1' }
  | { name: 'v2' | 'v3'; cfg: TiledConfig }
  | { name: 'v4' | 'v4emu'; cfg: SgConfig };

/**
 * "v2", "v2:64x64x16", "v2:128x128x16:8x4", "v4", "v4:128x128x32:2x4", "v4:256x128x32:4x2:s1",
 * "v4emu:64x64x32:2x2". A bare name means its MATMUL_DEFAULTS big config (v4emu: SG_SMALL).
 */
export function parseVariant(s: string): ParsedVariant {
  const [name, tile, grid, ...extras] = s.trim().split(':');
  const dims = (t: string | undefined, n: number): number[] | null => {
    if (t === undefined || t === '') return null;
    const d = t.split('x').map(Number);
    if (d.length !== n || d.some((x) => !Number.isInteger(x) || x <= 0)) throw new Error(`matmul variant '${s}': bad config '${t}'`);
    return d;
  };
  switch (name) {
    case 'v1':
      return { name };
    case 'v2':
    case 'v3': {
      if (tile === undefined || tile === '') return parseVariant(`${name}:${MATMUL_DEFAULTS[name].big}`);
      const d = dims(tile, 3)!;
      const g = dims(grid, 2);
      const cfg: TiledConfig = { BM: d[0]!, BN: d[1]!, BK: d[2]!, TM: g ? g[0]! : 8, TN: g ? g[1]! : 8 };
      const bad = tiledConfigError(cfg);
      if (bad) throw new Error(`matmul variant '${s}': ${bad}`);
      return { name, cfg };
    }
    case 'v4':
    case 'v4emu': {
      if (name === 'v4' && (tile === undefined || tile === '')) return parseVariant(`v4:${MATMUL_DEFAULTS.v4.big}`);
      const d = dims(tile, 3);
      const g = dims(grid, 2);
      let ST = 2, H = false, NP = false, Z = false, GB = false, GA = false, FS = false, X3 = false, X3S = false;
      for (const extra of extras) {
        if (/^s[12]$/.test(extra)) ST = Number(extra.slice(1));
        else if (extra === 'h') H = true;
        else if (extra === 'np') NP = true;
        else if (extra === 'z') Z = true;
        else if (extra === 'gb') GB = true;
        else if (extra === 'ga') GA = true;
        else if (extra === 'fs') FS = true;
        else if (extra === 'x3') X3 = true;
        else if (extra === 'x3s') X3 = X3S = true;
        else throw new Error(`matmul variant '${s}': bad option '${extra}' (s1 or s2 stages, h for f16 prefetch registers, np for no register prefetch, z for staggered staging stores, gb for B as f16 from global memory, ga for A too, fs for those staged through fragments, x3 for f32 operands split in two f16 halves, x3s for that scaled back in the staged write-back)`);
      }
      if (GA && !GB) throw new Error(`matmul variant '${s}': ga (A as f16 from global memory) needs gb`);
      if (FS && !GB) throw new Error(`matmul variant '${s}': fs (f16 operands staged through fragments) needs gb`);
      if (X3 && (GB || H)) throw new Error(`matmul variant '${s}': x3 (f32 operands split in two f16 halves) is not for gb, ga or h`);
      const base: SgConfig = name === 'v4' ? { ...SG_SMALL, SGM: 2, SGN: 4 } : SG_SMALL;
      const cfg: SgConfig = d
        ? { BM: d[0]!, BN: d[1]!, BK: d[2]!, SGM: g ? g[0]! : base.SGM, SGN: g ? g[1]! : base.SGN, ST, ...(H ? { H } : {}), ...(NP ? { NP } : {}), ...(Z ? { Z } : {}), ...(GB ? { GB } : {}), ...(GA ? { GA } : {}), ...(FS ? { FS } : {}), ...(X3 ? { X3 } : {}), ...(X3S ? { X3S } : {}) }
        : { ...base, ...(GB ? { GB } : {}), ...(GA ? { GA } : {}), ...(FS ? { FS } : {}), ...(X3 ? { X3 } : {}), ...(X3S ? { X3S } : {}) };
      const TM = cfg.BM / (16 * cfg.SGM);
      const TN = cfg.BN / (16 * cfg.SGN);
      if (!Number.isInteger(TM) || !Number.isInteger(TN) || cfg.BK % 16 !== 0) {
        throw new Error(`matmul variant '${s}': BM/(16·SGM), BN/(16·SGN) and BK/16 must be whole`);
      }
      return { name, cfg };
    }
    default:
      throw new Error(`unknown matmul variant '${s}' (expected one of ${VARIANTS.join(', ')})`);
  }
}

/** Whether the context can run a variant (and why not). */
export function variantSupport(ctx: GpuContext, v: ParsedVariant): string | null {
  const smem = ctx.limits.maxComputeWorkgroupStorageSize;
  const threads = ctx.limits.maxComputeInvocationsPerWorkgroup;
  switch (v.name) {
    case 'v1':
      return null;
    case 'v2':
    case 'v3': {
      if (v.name === 'v3' && !ctx.features.f16) return 'needs shader-f16';
      const bytes = tiledSharedBytes(v.cfg, v.name === 'v3');
      if (bytes > smem) return `needs ${bytes} bytes of workgroup memory (limit ${smem})`;
      if (tiledThreads(v.cfg) > threads) return `too many threads per workgroup`;
      return null;
    }
    case 'v4':
    case 'v4emu': {
      if (!ctx.features.f16) return 'needs shader-f16';
      if (v.name === 'v4') {
        const sm = ctx.features.subgroupMatrix;
        if (!sm) return 'needs chromium-experimental-subgroup-matrix (f16→f32)';
        if (sm.M !== 16 || sm.N !== 16 || sm.K !== 16) return `needs a 16×16×16 f16→f32 config (have ${sm.M}×${sm.N}×${sm.K})`;
      }
      const bytes = sgSharedBytes(v.cfg);
      if (bytes > smem) return `needs ${bytes} bytes of workgroup memory (limit ${smem})`;
      if (v.cfg.SGM * v.cfg.SGN * 32 > threads) return `too many threads per workgroup`;
      return null;
    }
  }
}

/**
 * v4 stores whole 16×16 f32 fragments straight into its output, and Dawn then requires the output
 * binding to hold at least one fragment (on NVIDIA: "Binding size (512) … is smaller than the minimum
 * binding size (1024)"). Outputs in smaller buffers go to v3.
 */
export const V4_MIN_OUT_BYTES = FRAG * FRAG * 4;

/** The variant encodeMatmul will run for these parameters, writing into a buffer of `outBytes`. */
export function chooseVariant(ctx: GpuContext, p: MatmulParams, outBytes = Infinity): ParsedVariant {
  const forced = p.variant ?? (typeof process !== 'undefined' ? process.env['AVDIT_MATMUL'] : undefined);
  if (forced) {
    const v = parseVariant(forced);
    const why = variantSupport(ctx, v) ?? (v.name === 'v4' && outBytes < V4_MIN_OUT_BYTES ? `its output buffer must hold at least ${V4_MIN_OUT_BYTES} bytes (has ${outBytes})` : null);
    if (why) throw new Error(`matmul variant '${forced}' is not available here: ${why}`);
    return v;
  }
  // Defaults table: the big config unless it would leave the GPU mostly idle, then the small one;
  // a config the device cannot run falls through to the next candidate.
  const pick = (name: 'v2' | 'v3' | 'v4' | 'v4emu', table: { big: string; small: string } = MATMUL_DEFAULTS[name === 'v4emu' ? 'v4' : name]): ParsedVariant | null => {
    const cands: ParsedVariant[] = [];
    for (const which of ['big', 'small'] as const) {
      try {
        cands.push(parseVariant(`${name}:${table[which]}`));
      } catch {
        /* a bad table entry: skip it */
      }
    }
    const ok = cands.filter((v) => !variantSupport(ctx, v));
    if (ok.length === 0) return null;
    const big = ok[0]!;
    if (ok.length > 1 && big.name !== 'v1') {
      if (tilesOf(big, p) < MATMUL_DEFAULTS.minBigTiles) return ok[1]!;
    }
    if (name === 'v2') {
      const alt = v2Alt();
      if (alt && !variantSupport(ctx, alt) && altBeatsBig(big, alt, p)) return alt;
    }
    return big;
  };
  if (p.precision === 'mixed') {
    const v = (outBytes >= V4_MIN_OUT_BYTES ? pick('v4', v4Table()) : null) ?? pick('v3');
    if (v) return v;
  } else if (outBytes >= V4_MIN_OUT_BYTES) {
    const x3 = f32x3Table();
    const v = x3 ? pick(x3.emulate ? 'v4emu' : 'v4', x3) : null;
    if (v) return v;
  }
  return pick('v2') ?? { name: 'v2', cfg: TILED_SMALL };
}

/**
 * The v4 `:x3` configs f32 products use instead of v2 where the device has tensor cores, or null
 * (then v2): AVDIT_MATMUL_F32X3 = 1 (MATMUL_DEFAULTS.f32x3's configs), 0 (off), or a config for
 * the big products (`128x128x16:2x4:s1:x3`; the small ones keep MATMUL_DEFAULTS.f32x3.small;
 * `v4emu:…:x3` runs the emulation, to check the models with it on lavapipe); else
 * MATMUL_DEFAULTS.f32x3.on.
 */
export function f32x3Table(): { big: string; small: string; emulate: boolean } | null {
  const env = typeof process !== 'undefined' ? process.env['AVDIT_MATMUL_F32X3'] : undefined;
  const dflt = { big: MATMUL_DEFAULTS.f32x3.big, small: MATMUL_DEFAULTS.f32x3.small, emulate: false };
  if (env === undefined || env === '') return MATMUL_DEFAULTS.f32x3.on ? dflt : null;
  if (env === '0' || env === 'off') return null;
  if (env === '1') return dflt;
  const emulate = env.startsWith('v4emu:');
  const cfg = env.replace(/^v4(emu)?:/, '');
  const v = parseVariant(`v4:${cfg}`);
  if (v.name !== 'v4' || !v.cfg.X3) throw new Error(`AVDIT_MATMUL_F32X3=${env}: expected 1, 0 or a v4 config with :x3`);
  return { big: cfg, small: dflt.small, emulate };
}

/**
 * The mixed kernel's configs: AVDIT_MATMUL_V4 (a staged v4 config for the big products, such as
 * `128x256x32:2x4:s1`, which a GPU sweep found faster: bench/gpu-matmul.ts writes matmul-v4.txt;
 * '' or 'off' for the defaults), else MATMUL_DEFAULTS.v4. The small products keep the default small config.
 */
export function v4Table(): { big: string; small: string } {
  const env = typeof process !== 'undefined' ? process.env['AVDIT_MATMUL_V4'] : undefined;
  if (env === undefined || env === '' || env === 'off') return MATMUL_DEFAULTS.v4;
  const cfg = env.replace(/^v4:/, '');
  const v = parseVariant(`v4:${cfg}`);
  if (v.name !== 'v4' || v.cfg.X3 || v.cfg.GB) throw new Error(`AVDIT_MATMUL_V4=${env}: expected a staged v4 config (no :x3, :gb), e.g. 128x256x32:2x4:s1`);
  return { big: cfg, small: MATMUL_DEFAULTS.v4.small };
}

/** v2's alternative config: AVDIT_MATMUL_V2_ALT (a v2 config, or '' / 'off' for none), else MATMUL_DEFAULTS.v2.alt. */
function v2Alt(): ParsedVariant | null {
  const env = typeof process !== 'undefined' ? process.env['AVDIT_MATMUL_V2_ALT'] : undefined;
  const cfg = env === undefined ? MATMUL_DEFAULTS.v2.alt : env === '' || env === 'off' ? null : env;
  if (!cfg) return null;
  const v = parseVariant(/^v\d/.test(cfg) ? cfg : `v2:${cfg}`);
  if (v.name !== 'v2') throw new Error(`AVDIT_MATMUL_V2_ALT / MATMUL_DEFAULTS.v2.alt '${cfg}': not a v2 config`);
  return v;
}

/**
 * Whether the alternative v2 tile computes at least 5% fewer padded outputs than the big one (the
 * output rounded up to whole tiles: 128×256 tiles compute 1280 columns of XL's N = 1152, 256×128
 * ones 1152) while still launching enough workgroups to fill the GPU.
 */
export function altBeatsBig(big: ParsedVariant, alt: ParsedVariant, p: MatmulParams): boolean {
  if (big.name === 'v1' || alt.name === 'v1') return false;
  const padded = (v: ParsedVariant & { cfg: { BM: number; BN: number } }): number =>
    Math.ceil(p.M / v.cfg.BM) * v.cfg.BM * Math.ceil(p.N / v.cfg.BN) * v.cfg.BN;
  return tilesOf(alt, p) >= MATMUL_DEFAULTS.minBigTiles && padded(alt) < 0.95 * padded(big);
}

/** Workgroups a variant launches for these parameters. */
function tilesOf(v: ParsedVariant, p: MatmulParams): number {
  const [BM, BN] = v.name === 'v1' ? [16, 16] : [v.cfg.BM, v.cfg.BN];
  return Math.ceil(p.M / BM) * Math.ceil(p.N / BN) * p.batch;
}

/**
 * How many chunks of K a matmul is split into: a weight gradient dW = Xᵀ·dY (A transposed, B
 * not, one matrix) has a small output (a weight, e.g. 1152 × 1152: a few hundred tiles, or 36 for
 * a LoRA factor) and a long K (every token of the batch: 8192 at batch 2, 65536 at 16), so its
 * workgroups are too few to fill the GPU and each walks all of K. Its K chunks are contiguous
 * blocks of rows of both operands, so the chunks are a batched matmul (strides Kc·M and Kc·N) into
 * S partial outputs, which one column-sum adds up. S: enough chunks for MATMUL_DEFAULTS.splitK.target
 * workgroups, chunks of at least minChunk rows, a divisor of K. 1 = no split (also with
 * AVDIT_MATMUL_SPLITK=0, for comparisons).
 */
export function splitKFor(p: MatmulParams, tiles: number, software = false): number {
  if (!p.transA || p.transB || p.batch !== 1) return 1;
  if (software && !MATMUL_DEFAULTS.splitK.onSoftware) return 1;
  if (typeof process !== 'undefined' && process.env['AVDIT_MATMUL_SPLITK'] === '0') return 1;
  const { target, minChunk, max } = MATMUL_DEFAULTS.splitK;
  if (tiles >= target / 2) return 1;
  let s = Math.min(max, Math.ceil(target / tiles), Math.floor(p.K / minChunk));
  while (s > 1 && p.K % s !== 0) s--;
  return Math.max(1, s);
}

/**
 * Record out = op(A)·op(B) (batched) into the context's current batch; with `bias` [N], out =
 * op(A)·op(B) + bias on every row (every variant starts its accumulators at the bias: a Linear's
 * bias costs no pass of its own over the output).
 */
export function encodeMatmul(ctx: GpuContext, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, p: MatmulParams, bias: GPUBuffer | null = null): void {
  const { batch, M, N, K } = p;
  for (const [k, v] of Object.entries({ batch, M, N, K, strideA: p.strideA, strideB: p.strideB })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`encodeMatmul: ${k} = ${v} is not a non-negative integer`);
  }
  if (batch === 0 || M === 0 || N === 0) return;
  const v = chooseVariant(ctx, p, out.size);
  // v4 `:gb` (benchmarks, and mixed precision's direct form) reads B as f16 fragments straight
  // from memory: whole fragments only, no split-K; `:ga` A too, so M as well.
  const gb = (v.name === 'v4' || v.name === 'v4emu') && !!v.cfg.GB;
  if (gb && (K % 16 !== 0 || N % 16 !== 0)) throw new Error(`encodeMatmul: ${p.variant}: K (${K}) and N (${N}) must be multiples of 16 (B read as whole f16 fragments)`);
  if (gb && v.cfg.GA && M % 16 !== 0) throw new Error(`encodeMatmul: ${p.variant}: M (${M}) must be a multiple of 16 (A read as whole f16 fragments)`);
  const S = bias || gb ? 1 : splitKFor(p, tilesOf(v, p), ctx.features.software);
  if (S > 1) {
    // Split-K (splitKFor): S partial products of K/S rows each, then their sum into out.
    const Kc = K / S;
    const partial = ctx.scratch(S * M * N * 4);
    encodeMatmul(ctx, a, b, partial, { ...p, batch: S, K: Kc, strideA: Kc * M, strideB: Kc * N });
    encodeReduce(ctx, 'sum', partial, out, 'f32', [S, M * N], [0]);
    return;
  }
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const vec4 = vec4Aligned(p);
  const buffers: GPUBuffer[] = bias ? [a, b, out, bias] : [a, b, out];
  const hasBias = bias !== null;
  switch (v.name) {
    case 'v1': {
      ctx.dispatch({
        key: `matmul/v1/${p.transA ? 'T' : 'N'}${p.transB ? 'T' : 'N'}${hasBias ? '/bias' : ''}`,
        code: () => naiveWgsl(p.transA, p.transB, hasBias),
        buffers,
        uniforms: uniformsFor(p, 16, 16),
        workgroups: fold1d(tilesOf(v, p), maxDim),
      });
      return;
    }
    case 'v2':
    case 'v3': {
      const f16 = v.name === 'v3';
      const { BM, BN } = v.cfg;
      const rolled = ctx.features.software && rollMatmulLoops() && !tiledTuning.unrolled; // (kernels/loop-bound.ts)
      ctx.dispatch({
        key: tiledKey(v.cfg, f16, p.transA, p.transB, vec4, hasBias, rolled),
        code: () => tiledWgsl(v.cfg, f16, p.transA, p.transB, vec4, hasBias, rolled),
        buffers,
        uniforms: uniformsFor(p, BM, BN),
        workgroups: fold1d(tilesOf(v, p), maxDim),
      });
      return;
    }
    case 'v4':
    case 'v4emu': {
      const emulate = v.name === 'v4emu';
      const { BM, BN } = v.cfg;
      if (v.cfg.X3) {
        // The largest |x| of each operand (all batch entries: one scale per operand) sets its power of two.
        const span = (stride: number, size: number) => (stride > 0 ? (batch - 1) * stride + size : size);
        buffers.push(encodeOperandMaxima(ctx, a, span(p.strideA, M * K), b, span(p.strideB, K * N)));
      }
      ctx.dispatch({
        key: sgKey(v.cfg, p.transA, p.transB, vec4, emulate, MATMUL_DEFAULTS.sgSyntax, hasBias),
        code: () => sgWgsl(v.cfg, p.transA, p.transB, vec4, emulate, MATMUL_DEFAULTS.sgSyntax, hasBias),
        buffers,
        uniforms: uniformsFor(p, BM, BN, N % 4 === 0 ? 1 : 0),
        workgroups: fold1d(tilesOf(v, p), maxDim),
      });
      return;
    }
  }
}

/**
 * v1: the reference kernel. A 16×16 workgroup covers a 16×16 block of out (one output per
 * invocation); each invocation walks K reading A and B from global memory.
 */
export function naiveWgsl(transA: boolean, transB: boolean, bias = false): string {
  return /* wgsl */ `
${MATMUL_UNIFORMS_WGSL}
${bindings(false, false, bias)}

// Element (m, k) of A and (k, n) of B of this batch entry.
fn aAt(off: u32, m: u32, k: u32) -> f32 { return A[off + ${transA ? 'k * P.M + m' : 'm * P.K + k'}]; }
fn bAt(off: u32, k: u32, n: u32) -> f32 { return B[off + ${transB ? 'n * P.K + k' : 'k * P.N + n'}]; }

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let wgLinear = wid.x + wid.y * nwg.x;
  let tilesPerBatch = P.tilesM * P.tilesN;
  if (wgLinear >= tilesPerBatch * P.batch) { return; }
  let batch = wgLinear / tilesPerBatch;
  let t = wgLinear % tilesPerBatch;
  let m = (t / P.tilesN) * 16u + lid.y;
  let n = (t % P.tilesN) * 16u + lid.x;
  if (m >= P.M || n >= P.N) { return; }
  let offA = batch * P.strideA;
  let offB = batch * P.strideB;
  var acc = ${bias ? 'bias[n]' : '0.0'};
  for (var k = 0u; k < P.K; k++) {
    acc = fma(aAt(offA, m, k), bAt(offB, k, n), acc);
  }
  out[batch * P.M * P.N + m * P.N + n] = acc;
}
`;
}
