/**
 * The benchmarks' ablations (bench/ablations.ts) still cut something out of the kernels as they are
 * generated now: each edit must change the WGSL of every kernel it is timed on (gpu-matmul.ts
 * --ablate: the default v2 and v4, real and emulated; gpu-attention-mixed.ts: the tensor-core
 * forward and dQ; gpu-fused.ts: the f32 forward, dQ and dK/dV). Only WGSL text is made here (a
 * context that records dispatches), no GPU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ablated, ATTENTION_ABLATIONS, F32_ATTENTION_ABLATIONS, MATMUL_ABLATIONS, withAblation } from '../../bench/ablations.ts';
import { encodeAttention } from '../../kernels/attention.ts';
import { encodeAttentionBwd } from '../../kernels/attention-bwd.ts';
import { mixedDispatch } from '../../kernels/attention-sgmat.ts';
import { wgslOf, type Dispatch, type GpuContext } from '../../kernels/context.ts';
import { encodeMatmul, MATMUL_DEFAULTS } from '../../kernels/matmul.ts';

/** A context with an H200's relevant limits and features that keeps what is dispatched. */
function recorder(): GpuContext & { seen: Dispatch[] } {
  const seen: Dispatch[] = [];
  return {
    seen,
    device: {} as GPUDevice,
    features: { f16: true, subgroups: true, subgroupSize: 32, subgroupMatrix: { M: 16, N: 16, K: 16 }, timestamps: true, software: false },
    limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupsPerDimension: 65535 } as GPUSupportedLimits,
    scratch: () => ({}) as GPUBuffer,
    dispatch: (d) => void seen.push(d),
  };
}

const buf = {} as GPUBuffer;

for (const variant of ['v2', `v2:${MATMUL_DEFAULTS.v2.small}`, 'v4', 'v4emu', `v4:${MATMUL_DEFAULTS.v4.small}`]) {
  test(`every matmul ablation changes ${variant}'s kernel (NN and NT)`, () => {
    for (const transB of [false, true]) {
      const ctx = recorder();
      encodeMatmul(ctx, buf, buf, buf, { batch: 1, M: 4096, N: 3456, K: 1152, transA: false, transB, strideA: 0, strideB: 0, variant });
      assert.equal(ctx.seen.length, 1);
      const d = ctx.seen[0]!;
      for (const [what, edit] of Object.entries(MATMUL_ABLATIONS)) {
        const cut = wgslOf(ablated(d, what, edit));
        assert.ok(cut.length < wgslOf(d).length || what === 'no global loads', `${what} should remove code`);
      }
    }
  });
}

for (const emulate of [false, true]) {
  test(`every attention ablation changes the tensor-core forward and dQ kernels${emulate ? ' (emulated)' : ''}`, () => {
    const ctx = recorder();
    const d = { n: 2, l: 256, s: 256, dqk: 72, dv: 72, scale: 1 / Math.sqrt(72) };
    for (const kind of ['fwd', 'dq'] as const) {
      const base = mixedDispatch(ctx, kind, d, [], emulate, 'new');
      for (const [what, edit] of Object.entries(ATTENTION_ABLATIONS)) assert.doesNotThrow(() => ablated(base, what, edit), `${kind}: ${what}`);
    }
  });
}

test('every f32 attention ablation changes the forward, dQ and dK/dV kernels (XL spatial and temporal shapes)', () => {
  for (const d of [{ n: 2, l: 256, s: 256, dqk: 72, dv: 72, scale: 0.12 }, { n: 8, l: 16, s: 16, dqk: 9, dv: 72, scale: 0.33 }]) {
    const ctx = recorder();
    encodeAttention(ctx, buf, buf, buf, buf, buf, d);
    encodeAttentionBwd(ctx, buf, buf, buf, buf, buf, buf, { dq: buf, dk: buf, dv: buf }, d);
    const kernels = ctx.seen.filter((x) => /^attention\/(fwd|bwd-dq|bwd-dkdv)\//.test(x.key));
    assert.equal(kernels.length, 3);
    for (const k of kernels) {
      for (const [what, edit] of Object.entries(F32_ATTENTION_ABLATIONS)) assert.doesNotThrow(() => ablated(k, what, edit), `${k.key}: ${what}`);
    }
  }
});

test('withAblation cuts only the dispatches under its key prefix, and puts dispatch back', async () => {
  const ctx = recorder();
  const d = { n: 2, l: 64, s: 64, dqk: 72, dv: 72, scale: 0.12 };
  const before = ctx.dispatch;
  await withAblation(ctx, 'attention/bwd-dq/', 'no exp', F32_ATTENTION_ABLATIONS['no exp']!, async () => {
    encodeAttentionBwd(ctx, buf, buf, buf, buf, buf, buf, { dq: buf, dk: buf, dv: buf }, d);
  });
  assert.equal(ctx.dispatch, before);
  assert.deepEqual(ctx.seen.map((x) => x.key.endsWith('/ablated:no exp')), [false, true, false]); // row-dot, dQ, dK/dV
  await assert.rejects(withAblation(ctx, 'attention/', 'x', (c) => c, async () => encodeAttention(ctx, buf, buf, buf, buf, buf, d)), /changed nothing/);
  assert.equal(ctx.dispatch, before);
});

test('an ablation that changes nothing is refused', () => {
  const d: Dispatch = { key: 'k', code: 'fn main() {}', buffers: [], workgroups: [1] };
  assert.throws(() => ablated(d, 'no barriers', MATMUL_ABLATIONS['no barriers']!), /changed nothing in k/);
});
