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
 *   v2     f32, register-blocked tiles (kernels/matmul-tiled.ts): 128×128 workgroup tile,
 *          8×8 outputs per thread, BK = 16, double-buffered workgroup memory, vec4 loads when
 *          aligned. `v2:64x64x16` for small problems.
 *   v3     the same with f16 workgroup memory (f16 operands, f32 accumulation); needs shader-f16.
 *   v4     f16 subgroup matrices (tensor cores) with f32 accumulation (kernels/matmul-sgmat.ts),
 *          `v4:BMxBNxBK:SGMxSGN`; needs chromium-experimental-subgroup-matrix with an
 *          f16×f16→f32 16×16×16 config.
 *   v4emu  v4's kernel with the subgroup-matrix builtins emulated in plain WGSL (slow; tests v4's
 *          tiling on hardware without tensor cores). Never chosen automatically.
 *
 * Automatic choice: precision 'f32' (default) → v2 (64×64 tiles when 128×128 tiles would leave
 * the GPU mostly idle); 'mixed' → v4 if available, else v3 if f16 is, else v2.
 *
 * Pipeline keys name the variant, its tile config, the transposes and whether loads are vec4
 * (every contiguous dimension a multiple of 4); sizes are uniforms. Grids are linear over
 * (batch, tile) and folded into 2-D beyond 65535 workgroups.
 */
import { fold1d, type GpuContext } from './context.ts';
import { MATMUL_UNIFORMS_WGSL, type MatmulShape, bindings, uniformsFor, vec4Aligned } from './matmul-common.ts';
import { SG_DEFAULT, SG_SMALL, type SgConfig, sgKey, sgSharedBytes, sgWgsl } from './matmul-sgmat.ts';
import { TILED_DEFAULT, TILED_SMALL, type TiledConfig, tiledKey, tiledSharedBytes, tiledWgsl } from './matmul-tiled.ts';

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

/** "v2", "v2:64x64x16", "v4", "v4:128x128x32:2x4", "v4emu:64x64x32:2x2". */
export function parseVariant(s: string): ParsedVariant {
  const [name, tile, grid] = s.trim().split(':');
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
      const d = dims(tile, 3);
      return { name, cfg: d ? { BM: d[0]!, BN: d[1]!, BK: d[2]! } : TILED_DEFAULT };
    }
    case 'v4':
    case 'v4emu': {
      const d = dims(tile, 3);
      const g = dims(grid, 2);
      const base = name === 'v4' ? SG_DEFAULT : SG_SMALL;
      const cfg: SgConfig = d ? { BM: d[0]!, BN: d[1]!, BK: d[2]!, SGM: g ? g[0]! : base.SGM, SGN: g ? g[1]! : base.SGN } : base;
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
      if ((v.cfg.BM / 8) * (v.cfg.BN / 8) > threads) return `too many threads per workgroup`;
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

/** The variant encodeMatmul will run for these parameters. */
export function chooseVariant(ctx: GpuContext, p: MatmulParams): ParsedVariant {
  const forced = p.variant ?? (typeof process !== 'undefined' ? process.env['AVDIT_MATMUL'] : undefined);
  if (forced) {
    const v = parseVariant(forced);
    const why = variantSupport(ctx, v);
    if (why) throw new Error(`matmul variant '${forced}' is not available here: ${why}`);
    return v;
  }
  if (p.precision === 'mixed') {
    const v4 = parseVariant('v4');
    if (!variantSupport(ctx, v4)) return v4;
    const v3 = parseVariant('v3');
    if (!variantSupport(ctx, v3)) return v3;
  }
  // f32: big tiles unless they would leave most of the GPU idle (fewer than ~2 waves of 132 SMs).
  const bigTiles = Math.ceil(p.M / 128) * Math.ceil(p.N / 128) * p.batch;
  const v2 = parseVariant(bigTiles >= 256 ? 'v2' : 'v2:64x64x16');
  if (!variantSupport(ctx, v2)) return v2;
  return { name: 'v2', cfg: TILED_SMALL };
}

/** Record out = op(A)·op(B) (batched) into the context's current batch. */
export function encodeMatmul(ctx: GpuContext, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, p: MatmulParams): void {
  const { batch, M, N, K } = p;
  for (const [k, v] of Object.entries({ batch, M, N, K, strideA: p.strideA, strideB: p.strideB })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`encodeMatmul: ${k} = ${v} is not a non-negative integer`);
  }
  if (batch === 0 || M === 0 || N === 0) return;
  const v = chooseVariant(ctx, p);
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const vec4 = vec4Aligned(p);
  const buffers = [a, b, out];
  switch (v.name) {
    case 'v1': {
      const tiles = Math.ceil(M / 16) * Math.ceil(N / 16) * batch;
      ctx.dispatch({
        key: `matmul/v1/${p.transA ? 'T' : 'N'}${p.transB ? 'T' : 'N'}`,
        code: naiveWgsl(p.transA, p.transB),
        buffers,
        uniforms: uniformsFor(p, 16, 16),
        workgroups: fold1d(tiles, maxDim),
      });
      return;
    }
    case 'v2':
    case 'v3': {
      const f16 = v.name === 'v3';
      const { BM, BN } = v.cfg;
      const tiles = Math.ceil(M / BM) * Math.ceil(N / BN) * batch;
      ctx.dispatch({
        key: tiledKey(v.cfg, f16, p.transA, p.transB, vec4),
        code: tiledWgsl(v.cfg, f16, p.transA, p.transB, vec4),
        buffers,
        uniforms: uniformsFor(p, BM, BN),
        workgroups: fold1d(tiles, maxDim),
      });
      return;
    }
    case 'v4':
    case 'v4emu': {
      const emulate = v.name === 'v4emu';
      const { BM, BN } = v.cfg;
      const tiles = Math.ceil(M / BM) * Math.ceil(N / BN) * batch;
      ctx.dispatch({
        key: sgKey(v.cfg, p.transA, p.transB, vec4, emulate),
        code: sgWgsl(v.cfg, p.transA, p.transB, vec4, emulate),
        buffers,
        uniforms: uniformsFor(p, BM, BN, N % 4 === 0 ? 1 : 0),
        workgroups: fold1d(tiles, maxDim),
      });
      return;
    }
  }
}

/**
 * v1: the reference kernel. A 16×16 workgroup covers a 16×16 block of out (one output per
 * invocation); each invocation walks K reading A and B from global memory.
 */
export function naiveWgsl(transA: boolean, transB: boolean): string {
  return /* wgsl */ `
${MATMUL_UNIFORMS_WGSL}
${bindings(false)}

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
  var acc = 0.0;
  for (var k = 0u; k < P.K; k++) {
    acc = fma(aAt(offA, m, k), bAt(offB, k, n), acc);
  }
  out[batch * P.M * P.N + m * P.N + n] = acc;
}
`;
}
