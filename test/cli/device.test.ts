// `avdit device`: the adapter report as a user runs it (lavapipe here), and the kernel plan it
// prints for other devices (an NVIDIA-like context: tensor cores, subgroups of 32).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { kernelPlan } from '../../cli/commands/device.ts';
import type { GpuContext, GpuFeatures } from '../../kernels/context.ts';

const ROOT = join(import.meta.dirname, '../..');

test('avdit device reports the adapter, its features and the kernels it runs (text and JSON)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), 'device', ...args], {
    // Only this test's AVDIT_* setting (npm test sets others), so the overrides line is exact.
    encoding: 'utf8', env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AVDIT_'))), XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', AVDIT_ROW_SUBGROUPS: '0' },
  });
  const r = run();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^adapter: .*llvmpipe/m);
  assert.match(r.stdout, /subgroup matrices \(f16→f32\)\s+none/);
  assert.match(r.stdout, /matmul, f32\s+v2:/);
  assert.match(r.stdout, /attention, mixed\s+the f32 kernels/);
  assert.match(r.stdout, /attention, in the model\s+at XL's lengths, matmul \+ softmax \+ matmul: none; fused kernels: spatial \(256\), audio \(160\), fusion \(416\), temporal \(16\) \(software adapter\)$/m);
  assert.match(r.stdout, /attention, f32\s+flash attention .*tiles fwd 32x16, dQ 32x16, dK\/dV 16x8, staged by a loop, accumulating over whole tiles \(fwd, dkdv\)$/m);
  // The override it was given shows, and takes effect.
  assert.match(r.stdout, /row reductions\s+workgroup tree/);
  assert.match(r.stdout, /^overrides: AVDIT_ROW_SUBGROUPS=0$/m);
  assert.match(r.stdout, /disable_robustness/);
  const j = JSON.parse(run('--json').stdout) as { kernels: Record<string, string>; features: Record<string, unknown>; dawn: string[] };
  assert.equal(j.features['shader-f16'], true);
  assert.match(j.kernels['weight-gradient split-K']!, /off \(software adapter\)/);
});

test('the kernel plan on an NVIDIA-like device: v4 on tensor cores, tensor-core attention, subgroup rows, split-K', () => {
  const features: GpuFeatures = { f16: true, subgroups: true, subgroupSize: 32, subgroupMatrix: { M: 16, N: 16, K: 16 }, timestamps: true, software: false };
  const limits = { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 } as GPUSupportedLimits;
  const ctx = { features, limits } as GpuContext;
  const plan = kernelPlan(ctx);
  assert.match(plan['matmul, f32']!, /^v4:128x128x32:2x4:s1:x3 \(4096³\)/, 'f32 products on the tensor cores through the x3 split');
  assert.match(plan['matmul, mixed']!, /^v4:128x128x64:2x4:s1 \(4096³\)/);
  assert.equal(plan['attention, mixed'], 'tensor-core kernels (kernels/attention-sgmat.ts)');
  assert.equal(plan['attention, f32 x3 split'], 'off');
  assert.match(plan['attention, in the model']!, /^at XL's lengths, matmul \+ softmax \+ matmul: spatial \(256\), audio \(160\), fusion \(416\); fused kernels: temporal \(16\) \(ATTENTION_DEFAULTS on hardware GPUs: composed from 64 queries; AVDIT_ATTENTION=fused keeps the fused kernels\)$/);
  assert.match(plan['attention, f32']!, /tiles fwd 64x24:4x6, dQ 64x16:2x8:a, dK\/dV 32x32:2x8, staged by batched loads, accumulating over whole tiles \(fwd, dkdv\)$/);
  assert.equal(plan['row reductions'], 'subgroup shuffles (subgroup size 32)');
  assert.match(plan['weight-gradient split-K']!, /^on \(XL batch 2: K = 8192 in \d+ chunks\)/);
  assert.match(plan['matmul, f32']!, /, v4:128x128x32:2x4:s1:x3 \(65536×4608·\(1152×4608\)ᵀ\)$/);
  // The options a GPU session may turn on or off show in the plan (IEEE f32 FMAs: v2 with its alternative tile).
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { AVDIT_ATTENTION: 'fused', AVDIT_MATMUL_F32X3: '0', AVDIT_MATMUL_V2_ALT: '256x128x16:8x8', AVDIT_MATMUL_WEIGHT_T: '1', AVDIT_ATTENTION_WHOLE_TILES: 'dq,dkdv', AVDIT_MIXED_ONEPASS: '1', AVDIT_ATTENTION_F32X3: '1' });
    const tuned = kernelPlan(ctx);
    assert.match(tuned['matmul, f32']!, /, v2:256x128x16:8x8 \(65536×4608·\(1152×4608\)ᵀ\); x·Wᵀ on transposed weight copies$/);
    assert.match(tuned['attention, f32']!, /, accumulating over whole tiles \(dq, dkdv\)$/);
    assert.equal(tuned['attention, mixed'], 'tensor-core kernels (kernels/attention-sgmat.ts), the one-pass forward refused (AVDIT_MIXED_ONEPASS=force runs it)');
    process.env.AVDIT_MIXED_ONEPASS = 'force';
    assert.equal(kernelPlan(ctx)['attention, mixed'], 'tensor-core kernels (kernels/attention-sgmat.ts), the forward in one pass');
    assert.equal(tuned['attention, f32 x3 split'], 'tensor cores from length 64 (AVDIT_ATTENTION_F32X3)');
    assert.match(tuned['attention, in the model']!, /matmul \+ softmax \+ matmul: none; fused kernels: spatial \(256\), audio \(160\), fusion \(416\), temporal \(16\) \(AVDIT_ATTENTION=fused\)$/);
  } finally {
    for (const k of ['AVDIT_ATTENTION', 'AVDIT_MATMUL_F32X3', 'AVDIT_MATMUL_V2_ALT', 'AVDIT_MATMUL_WEIGHT_T', 'AVDIT_ATTENTION_WHOLE_TILES', 'AVDIT_MIXED_ONEPASS', 'AVDIT_ATTENTION_F32X3']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  // No f16 at all: mixed precision is unavailable, and a varying subgroup size keeps the tree.
  const plain = kernelPlan({ features: { ...features, f16: false, subgroupMatrix: null, subgroupSize: null }, limits } as GpuContext);
  assert.equal(plain['matmul, mixed'], 'unavailable (no shader-f16)');
  assert.equal(plain['attention, mixed'], 'unavailable (no shader-f16)');
  assert.match(plain['row reductions']!, /^workgroup tree \(subgroup size not fixed/);
});
