/**
 * `avdit device`: what the WebGPU adapter offers and which kernels this engine will run on it, in
 * f32 and in mixed precision: the matmul variant and tiles, the attention kernels, how row
 * reductions combine, whether weight gradients split K, the Dawn toggles in force and the AVDIT_*
 * overrides set. Without an adapter it prints why, and what to install (the backend's own error).
 */
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { dawnFlags } from '../../engine/webgpu/device.ts';
import { useBackend } from '../../engine/registry.ts';
import { ATTENTION_X3, mixedAttentionOptions, x3AttentionOptions } from '../../kernels/attention-sgmat.ts';
import { onePassOn, onePassRefusal } from '../../kernels/attention-sgmat-tiles.ts';
import { batchedStaging, pickTiles, tilesName, wholeTiles, type AttentionKernel } from '../../kernels/attention-tiles.ts';
import type { GpuContext } from '../../kernels/context.ts';
import { chooseVariant, splitKFor, weightTransposeOn, type MatmulPrecision, type ParsedVariant } from '../../kernels/matmul.ts';
import { sgName } from '../../kernels/matmul-sgmat.ts';
import { tiledName } from '../../kernels/matmul-tiled.ts';
import { rowSubgroup } from '../../kernels/row.ts';
import { ATTENTION_DEFAULTS, attentionPath } from '../../model/layers/attention.ts';
import { parse } from '../args.ts';

export const help = `avdit device [--json]

Opens the WebGPU backend (a hardware GPU first, else lavapipe) and prints the adapter, the
features and limits the kernels specialise on, the Dawn toggles in force, and the kernels this
engine runs there in f32 and with --precision mixed. Exit code 1 when there is no adapter (the
message says what Dawn saw and what to install).`;

function name(v: ParsedVariant): string {
  switch (v.name) {
    case 'v1':
      return 'v1';
    case 'v2':
    case 'v3':
      return `${v.name}:${tiledName(v.cfg)}`;
    default:
      return `${v.name}:${sgName(v.cfg)}`;
  }
}

/** The f32 attention kernels' tiles at XL's spatial shape (256 tokens, head dim 72): forward, dQ, dK/dV. */
function f32Tiles(ctx: GpuContext): string {
  const pick = (kind: AttentionKernel): string => tilesName(pickTiles(kind, 256, 256, 72, 72, ctx.limits.maxComputeWorkgroupStorageSize, ctx.features.software));
  return `fwd ${pick('fwd')}, dQ ${pick('dq')}, dK/dV ${pick('dkdv')}`;
}

/** Which attention the model runs on this adapter (model/layers/attention.ts attentionPath), at XL's sequence lengths. */
function modelAttention(hardwareGpu: boolean): string {
  const xl: [string, number][] = [['spatial', 256], ['audio', 160], ['fusion', 416], ['temporal', 16]];
  const taking = (path: 'composed' | 'fused'): string =>
    xl.filter(([, len]) => attentionPath(undefined, len, { hardwareGpu }) === path).map(([what, len]) => `${what} (${len})`).join(', ') || 'none';
  const env = process.env.AVDIT_ATTENTION;
  const why = env ? `AVDIT_ATTENTION=${env}` : hardwareGpu ? `ATTENTION_DEFAULTS on hardware GPUs: composed from ${ATTENTION_DEFAULTS.composedFromOnGpus} queries; AVDIT_ATTENTION=fused keeps the fused kernels` : 'software adapter';
  return `at XL's lengths, matmul + softmax + matmul: ${taking('composed')}; fused kernels: ${taking('fused')} (${why})`;
}

/** What the engine runs on this context (a plain object: printed as lines, or as JSON). */
export function kernelPlan(ctx: GpuContext): Record<string, string> {
  const f = ctx.features;
  // A big square product and an XL linear's forward (tokens × 1152 → 3456, x·Wᵀ).
  const square = { batch: 1, M: 4096, N: 4096, K: 4096, transA: false, transB: false, strideA: 0, strideB: 0 };
  const linear = { batch: 1, M: 8192, N: 3456, K: 1152, transA: false, transB: true, strideA: 0, strideB: 0 };
  // And the MLP's second product at batch 16 (N = 1152, where v2's alternative tile may go).
  const back = { batch: 1, M: 65536, N: 1152, K: 4608, transA: false, transB: true, strideA: 0, strideB: 0 };
  const matmul = (precision: MatmulPrecision): string =>
    `${name(chooseVariant(ctx, { ...square, precision }))} (4096³), ${name(chooseVariant(ctx, { ...linear, precision }))} (8192×1152·(3456×1152)ᵀ), ` +
    `${name(chooseVariant(ctx, { ...back, precision }))} (65536×4608·(1152×4608)ᵀ)${weightTransposeOn(precision) ? '; x·Wᵀ on transposed weight copies' : ''}`;
  const whole = (['fwd', 'dq', 'dkdv'] as const).filter((k) => wholeTiles(k));
  const mixedAttention = mixedAttentionOptions(ctx);
  const x3Attention = x3AttentionOptions(ctx, { n: 4096, l: 256, s: 256, dqk: 72, dv: 72, scale: 1 });
  const SG = rowSubgroup(ctx);
  // A weight gradient of XL at batch 2: dW[1152, 1152] = Xᵀ·dY over 8192 tokens, 81 tiles of 128².
  const dw = { batch: 1, M: 1152, N: 1152, K: 8192, transA: true, transB: false, strideA: 0, strideB: 0 };
  const split = splitKFor(dw, 81, f.software);
  return {
    'matmul, f32': matmul('f32'),
    'matmul, mixed': f.f16 ? matmul('mixed') : 'unavailable (no shader-f16)',
    'attention, in the model': modelAttention(!f.software),
    'attention, f32': `flash attention (kernels/attention.ts, attention-bwd.ts); at XL's spatial shape tiles ${f32Tiles(ctx)}, staged by ${batchedStaging(f.software) ? 'batched loads' : 'a loop'}${whole.length ? `, accumulating over whole tiles (${whole.join(', ')})` : ''}`,
    'attention, mixed': mixedAttention
      ? `${mixedAttention.emulate ? 'tensor-core kernels, emulated' : 'tensor-core kernels (kernels/attention-sgmat.ts)'}${onePassOn() ? (onePassRefusal(mixedAttention.emulate) ? ', the one-pass forward refused (AVDIT_MIXED_ONEPASS=force runs it)' : ', the forward in one pass') : ''}`
      : f.f16 ? 'the f32 kernels (no 16×16×16 f16 subgroup matrices)' : 'unavailable (no shader-f16)',
    'attention, f32 x3 split': x3Attention ? `tensor cores from length ${ATTENTION_X3.minLen} (AVDIT_ATTENTION_F32X3)${x3Attention.emulate ? ', emulated' : ''}` : 'off',
    'row reductions': SG ? `subgroup shuffles (subgroup size ${SG})` : f.subgroups ? 'workgroup tree (subgroup size not fixed, or AVDIT_ROW_SUBGROUPS=0)' : 'workgroup tree (no subgroups)',
    'weight-gradient split-K': split > 1 ? `on (XL batch 2: K = 8192 in ${split} chunks)` : f.software ? 'off (software adapter)' : 'off',
  };
}

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, { json: { type: 'boolean' } });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  let backend: WebGpuBackend;
  try {
    backend = (await useBackend('webgpu')) as WebGpuBackend;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
  const ctx = backend.ctx;
  const f = ctx.features, l = ctx.limits;
  const sm = f.subgroupMatrix;
  const MiB = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const report = {
    adapter: backend.device,
    software: f.software,
    features: {
      'shader-f16': f.f16,
      subgroups: f.subgroups ? `yes${f.subgroupSize ? `, size ${f.subgroupSize}` : ', size varies'}` : 'no',
      'subgroup matrices (f16→f32)': sm ? `${sm.M}×${sm.N}×${sm.K}` : 'none',
      'timestamp queries': f.timestamps,
    },
    limits: {
      maxStorageBufferBindingSize: MiB(l.maxStorageBufferBindingSize),
      maxBufferSize: MiB(l.maxBufferSize),
      maxComputeWorkgroupStorageSize: `${l.maxComputeWorkgroupStorageSize / 1024} KiB`,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      // (the x3 split's dK/dV kernel binds nine storage buffers where q, k, v are separate)
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
    dawn: dawnFlags(),
    kernels: kernelPlan(ctx),
    overrides: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('AVDIT_')).sort()),
  };
  if (flags.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  console.log(`adapter: ${report.adapter}${f.software ? ' (a CPU driver: the same WGSL, slowly)' : ''}`);
  for (const section of ['features', 'limits', 'kernels'] as const) {
    console.log(`${section}:`);
    for (const [k, v] of Object.entries(report[section])) console.log(`  ${k.padEnd(34)} ${v}`);
  }
  console.log(`dawn flags: ${report.dawn.join(' ')}`);
  const set = Object.entries(report.overrides);
  console.log(set.length ? `overrides: ${set.map(([k, v]) => `${k}=${v}`).join(' ')}` : 'overrides: none (AVDIT_* unset)');
  return 0;
}
