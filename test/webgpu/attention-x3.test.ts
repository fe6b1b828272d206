// f32 attention on the tensor-core kernels through the x3 split (kernels/attention-sgmat.ts: each
// f32 operand scaled by a power of two and staged as hi + lo f16 halves, three fragment MMAs per
// product), forward and backward, against an f64 CPU reference, beside the f32 CPU kernel's own
// error. On lavapipe the subgroup-matrix builtins are emulated in plain WGSL (the same tiling,
// offsets and majorness); on NVIDIA (bench/gpu-run.sh's golden part) the tensor-core kernels run.
// f16 operands alone would be off by ~1e-3 of each output's scale; the split must stay near f32.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttentionDims, Backend, Storage } from '../../engine/backend.ts';
import { ATTENTION_X3, mixedAttentionTuning, mixedTileBytes, mixedTileCandidates, pickMixedTiles, x3AttentionOptions } from '../../kernels/attention-sgmat.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { relErr } from '../model/golden-check.ts';
import { cpu, openPoisonedGpu, randomData } from './helpers.ts';

let gpu: Backend;
before(async () => {
  gpu = await openPoisonedGpu();
  mixedAttentionTuning.emulate = true;
  mixedAttentionTuning.x3 = true;
});
after(async () => {
  mixedAttentionTuning.emulate = false;
  mixedAttentionTuning.x3 = false;
  await gpu.destroy();
});

/**
 * Largest error allowed, relative to each output's largest value (the f32 CPU kernel: ~1e-7 … 1e-6;
 * the split measured 2e-7 … 2.8e-6, at d = 72 the most; f16 operands alone: ~1e-3).
 */
const TOL = 6e-6;

interface Scales {
  q?: number;
  k?: number;
  v?: number;
  g?: number;
}

/**
 * Forward and backward of one shape on the GPU (x3) and on the CPU in f32 and f64, inputs random
 * in ±spread times the given scales; asserts every output of the GPU within TOL of f64 (relative to
 * its largest value) and returns both errors.
 */
async function check(d: AttentionDims, seed: number, spread = 1.5, sc: Scales = {}): Promise<string> {
  const { n, l, s, dqk, dv } = d;
  const data = [
    randomData(n * l * dqk, seed, -spread, spread).map((x) => x * (sc.q ?? 1)),
    randomData(n * s * dqk, seed + 1, -spread, spread).map((x) => x * (sc.k ?? 1)),
    randomData(n * s * dv, seed + 2).map((x) => x * (sc.v ?? 1)),
    randomData(n * l * dv, seed + 3).map((x) => x * (sc.g ?? 1)),
  ];
  const run = async (b: Backend, dtype: 'f32' | 'f64') => {
    const [q, k, v, g] = data.map((x) => b.fromArray(dtype === 'f64' ? Float64Array.from(x) : x, dtype)) as [Storage, Storage, Storage, Storage];
    const f = b.attention(q, k, v, d);
    const r = b.attentionBwd(q, k, v, f.o, f.lse, g, d);
    return Promise.all([f.o, f.lse, r.dq, r.dk, r.dv].map((x) => b.read(x)));
  };
  const names = ['o', 'lse', 'dq', 'dk', 'dv'];
  const [want, mine, ref] = [await run(cpu, 'f64'), await run(gpu, 'f32'), await run(cpu, 'f32')];
  const what = `n${n} l${l} s${s} ${dqk}/${dv}`;
  const parts = names.map((name, i) => {
    const e = relErr(mine![i]!, want![i]!), eCpu = relErr(ref![i]!, want![i]!);
    assert.ok(e < TOL && Number.isFinite(e), `${name} ${what}: x3 ${e} (f32 CPU ${eCpu})`);
    return `${name} ${e.toExponential(1)} (cpu ${eCpu.toExponential(1)})`;
  });
  return `${what}: ${parts.join(', ')}`;
}

test('f32 attention through the x3 split (emulated on lavapipe) stays within 6e-6 of f64, near the f32 CPU kernel', async (t) => {
  // Several tiles both ways with ragged ends; dqk ≠ dv, dims not multiples of 16 (padding). (Head
  // dims of 9/20 only: the emulated kernels compile for minutes on lavapipe per shape, and the
  // kernels do not depend on the head dim but through their fragment counts; on NVIDIA the golden
  // part of bench/gpu-run.sh runs the models at d = 72 with the split.)
  t.diagnostic(await check({ n: 2, l: 37, s: 45, dqk: 9, dv: 20, scale: 1 / 3 }, 1));
  // Larger logits (±20), a peaked softmax: P spans e^-40 … 1.
  t.diagnostic(await check({ n: 1, l: 50, s: 20, dqk: 9, dv: 20, scale: 1 / 3 }, 3, 3, { q: 2, k: 2 }));
  // With the real builtins (NVIDIA: bench/gpu-run.sh's golden part) also XL's head dim in the tiles
  // the XL parts run, the defaults and the others a sweep may pick (too slow to compile emulated).
  if ((gpu as WebGpuBackend).ctx.features.subgroupMatrix) {
    const d = { n: 2, l: 70, s: 90, dqk: 72, dv: 72, scale: 1 / Math.sqrt(72) };
    const limit = (gpu as WebGpuBackend).ctx.limits.maxComputeWorkgroupStorageSize;
    const kinds = ['fwd', 'dq', 'dkdv'] as const;
    const lists = kinds.map((k) => mixedTileCandidates(k, 256, 72, 72, limit, true));
    for (let i = 0; i < Math.max(...lists.map((l) => l.length)); i++) {
      mixedAttentionTuning.x3Tiles = Object.fromEntries(kinds.map((k, j) => [k, lists[j]![Math.min(i, lists[j]!.length - 1)]!]));
      try {
        t.diagnostic(`tiles ${kinds.map((k) => `${k} ${mixedAttentionTuning.x3Tiles![k]!.bo}x${mixedAttentionTuning.x3Tiles![k]!.bt}`).join(', ')}: ${await check(d, 30 + i, 3)}`);
      } finally {
        mixedAttentionTuning.x3Tiles = {};
      }
    }
  }
});

test('the x3 split at extreme magnitudes: tiny q/k and gradients, huge values (its scales are powers of two from each maximum)', async (t) => {
  // q, k ~1e-12 (f16 alone flushes them to zero), v ~1e12, dO ~1e-20: every scale path, the
  // gradients ~1e-22.
  t.diagnostic(await check({ n: 1, l: 20, s: 33, dqk: 9, dv: 20, scale: 0.5 }, 11, 1.5, { q: 1e-12, k: 1e-12, v: 1e12, g: 1e-20 }));
  // q, k ~1e6 (past f16's 65504), dO ~1e5.
  t.diagnostic(await check({ n: 1, l: 20, s: 33, dqk: 9, dv: 20, scale: 1e-12 }, 12, 1.5, { q: 1e6, k: 1e6, g: 1e5 }));
});

test('double-buffered tiles (a mixed-precision option) leave the x3 split as it is', async (t) => {
  // AVDIT_MIXED_DB (TUNE=1 may set it for the f16 kernels) must not reach the x3 kernels: untested
  // together, and their tiles are twice the memory already.
  const tiles = { bo: 32, bt: 16 };
  const [x3Bytes, f16Bytes] = [mixedTileBytes('fwd', tiles, 72, 72, true), mixedTileBytes('fwd', tiles, 72, 72)];
  mixedAttentionTuning.doubleBuffer = { fwd: true, dq: true, dkdv: true };
  try {
    assert.ok(mixedTileBytes('fwd', tiles, 72, 72) > f16Bytes, 'the f16 kernels double-buffer');
    assert.equal(mixedTileBytes('fwd', tiles, 72, 72, true), x3Bytes, 'the x3 kernels do not');
    t.diagnostic(await check({ n: 2, l: 37, s: 45, dqk: 9, dv: 20, scale: 1 / 3 }, 21));
  } finally {
    mixedAttentionTuning.doubleBuffer = {};
  }
});

test('x3 tiles fit the workgroup memory they are picked for, and are bigger than the mixed ones', () => {
  for (const [dqk, dv] of [[72, 72], [64, 64], [9, 20]]) {
    for (const limit of [32768, 49152]) {
      for (const kind of ['fwd', 'dq', 'dkdv'] as const) {
        const t = pickMixedTiles(kind, 256, dqk!, dv!, limit, true);
        assert.ok(mixedTileBytes(kind, t, dqk!, dv!, true) <= limit, `${kind} ${dqk}/${dv} at ${limit}`);
        assert.ok(mixedTileBytes(kind, t, dqk!, dv!, true) > mixedTileBytes(kind, t, dqk!, dv!));
      }
    }
  }
});

test('which f32 attentions take the x3 split: AVDIT_ATTENTION_F32X3 and the minimum length', () => {
  const ctx = (gpu as WebGpuBackend).ctx;
  const d = (l: number, s: number): AttentionDims => ({ n: 1, l, s, dqk: 9, dv: 9, scale: 1 });
  const saved = process.env.AVDIT_ATTENTION_F32X3;
  mixedAttentionTuning.x3 = false;
  try {
    delete process.env.AVDIT_ATTENTION_F32X3;
    assert.equal(x3AttentionOptions(ctx, d(256, 256)), ATTENTION_X3.on ? x3AttentionOptions(ctx, d(256, 256)) : null);
    process.env.AVDIT_ATTENTION_F32X3 = 'emu';
    assert.deepEqual(x3AttentionOptions(ctx, d(16, 256))?.x3, true, 'emu: every length, emulated');
    // '1' asks for the real builtins: lavapipe has none, so the f32 kernels run; and only from ATTENTION_X3.minLen on.
    const sm = ctx.features.subgroupMatrix;
    try {
      (ctx.features as { subgroupMatrix: unknown }).subgroupMatrix = { M: 16, N: 16, K: 16 };
      process.env.AVDIT_ATTENTION_F32X3 = '1';
      assert.equal(x3AttentionOptions(ctx, d(256, 256))?.emulate, false);
      assert.equal(x3AttentionOptions(ctx, d(ATTENTION_X3.minLen - 1, 256)), null, 'shorter than ATTENTION_X3.minLen: the f32 kernels');
      process.env.AVDIT_ATTENTION_F32X3 = 'all';
      assert.equal(x3AttentionOptions(ctx, d(16, 16))?.x3, true);
    } finally {
      (ctx.features as { subgroupMatrix: unknown }).subgroupMatrix = sm;
    }
    process.env.AVDIT_ATTENTION_F32X3 = '0';
    assert.equal(x3AttentionOptions(ctx, d(256, 256)), null);
    process.env.AVDIT_ATTENTION_F32X3 = 'yes';
    assert.throws(() => x3AttentionOptions(ctx, d(256, 256)), /AVDIT_ATTENTION_F32X3=yes: expected 1/);
    // '1' asks for the real builtins: a device without them (lavapipe) runs the f32 kernels.
    process.env.AVDIT_ATTENTION_F32X3 = '1';
    try {
      (ctx.features as { subgroupMatrix: unknown }).subgroupMatrix = null;
      assert.equal(x3AttentionOptions(ctx, d(256, 256)), null);
    } finally {
      (ctx.features as { subgroupMatrix: unknown }).subgroupMatrix = sm;
    }
  } finally {
    mixedAttentionTuning.x3 = true;
    if (saved === undefined) delete process.env.AVDIT_ATTENTION_F32X3;
    else process.env.AVDIT_ATTENTION_F32X3 = saved;
  }
});
