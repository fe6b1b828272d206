// Copies of weights made once (engine/webgpu/f16-cache.ts). Mixed precision's direct matmul form
// (kernels/matmul.ts directVariant): a weight's f16 copy read straight from memory gives the same
// bits as the staged v4 (both in their emulated forms on lavapipe), for the forward product x·Wᵀ
// and the input gradient dY·W. Forward products on a transposed copy (AVDIT_MATMUL_WEIGHT_T, f32
// and the staged v4): x·(Wᵀ) as NN equals x·Wᵀ as NT, batched x too. Either copy is made once, made again after an
// AdamW update of the weight, and dropped with its storage.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { tensor } from '../../engine/creation.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { AdamW } from '../../train/adamw.ts';
import { openPoisonedGpu } from './helpers.ts';

let gpu: WebGpuBackend;
before(async () => {
  gpu = (await openPoisonedGpu()) as WebGpuBackend;
});
after(async () => {
  await gpu.destroy();
});

// BK = 16: the emulation's shortest kernels (lavapipe compiles each in seconds); the products
// and their order do not depend on BK.
const STAGED = 'v4emu:64x64x16:2x2';
const [M, K, N] = [80, 32, 48]; // whole 16×16 fragments; M spans a partial second tile
const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37) * 1.5);

/**
 * out = x·Wᵀ and dx for L = Σ out ⊙ r with W frozen (the frozen backbone's case), then one AdamW
 * step on W (with a given gradient) and the product again.
 */
async function run(direct: string): Promise<{ arrays: Float32Array[]; copies: number[] }> {
  const saved = { m: process.env.AVDIT_MATMUL, d: process.env.AVDIT_MATMUL_DIRECT };
  process.env.AVDIT_MATMUL = STAGED;
  process.env.AVDIT_MATMUL_DIRECT = direct;
  gpu.setPrecision('mixed');
  try {
    const copies: number[] = [];
    const x = tensor(values(M * K, 1), [M, K], { backend: gpu, requiresGrad: true });
    const w = tensor(values(N * K, 2), [N, K], { backend: gpu });
    const r = tensor(values(M * N, 3), [M, N], { backend: gpu });
    const out = A.matmul(x, w, false, true);
    A.backward(A.sum(A.mul(out, r)));
    copies.push(gpu.f16Copies.size);
    const arrays = [await out.toArray(), await x.grad!.toArray()] as Float32Array[];
    w.requiresGrad = true;
    w.grad = tensor(values(N * K, 4), [N, K], { backend: gpu });
    new AdamW([w], { lr: 0.1 }).step();
    copies.push(gpu.f16Copies.size);
    const again = A.noGrad(() => A.matmul(x, w, false, true));
    copies.push(gpu.f16Copies.size);
    arrays.push((await again.toArray()) as Float32Array);
    for (const t of [x, w, r, out, again]) t.dispose();
    copies.push(gpu.f16Copies.size);
    return { arrays, copies };
  } finally {
    gpu.setPrecision('f32');
    for (const [k, v] of [['AVDIT_MATMUL', saved.m], ['AVDIT_MATMUL_DIRECT', saved.d]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('a weight\'s f16 copy read straight from memory (:gb, :gb:ga, :gb:ga:fs, :gb:fs) gives the staged v4\'s bits; made once, again after AdamW, dropped with the weight', async () => {
  const staged = await run('off');
  assert.deepEqual(staged.copies, [0, 0, 0, 0], 'no copies without the direct form');
  // (:gb alone is the same backend path without the cast of A; its kernels are tested in matmul.test.ts.)
  for (const direct of [`${STAGED}:gb:ga`, `${STAGED}:gb:ga:fs`, `${STAGED}:gb:fs`]) {
    const got = await run(direct);
    ['out', 'dx', 'out after a step'].forEach((what, i) => {
      const j = staged.arrays[i]!.findIndex((v, e) => !Object.is(v, got.arrays[i]![e]));
      assert.equal(j, -1, `${direct} ${what}: element ${j}: ${got.arrays[i]![j]} vs ${staged.arrays[i]![j]}`);
    });
    // W's copy after the backward; none after AdamW updated W; W's new copy; none once W is freed.
    assert.deepEqual(got.copies, [1, 0, 1, 0], direct);
  }
  assert.throws(() => {
    process.env.AVDIT_MATMUL_DIRECT = 'v2';
    try {
      gpu.setPrecision('mixed');
      A.matmul(tensor(values(32, 1), [2, 16], { backend: gpu }), tensor(values(32, 2), [2, 16], { backend: gpu }), false, true);
    } finally {
      gpu.setPrecision('f32');
      delete process.env.AVDIT_MATMUL_DIRECT;
    }
  }, /AVDIT_MATMUL_DIRECT .*'v2': not a v4 form with :gb/);
});

test('x·Wᵀ on the weight\'s transposed copy (AVDIT_MATMUL_WEIGHT_T: f32, and mixed on the staged v4) equals the NT product, gradients too; made once, again after AdamW, dropped with the weight', async () => {
  const saved = { t: process.env.AVDIT_MATMUL_WEIGHT_T, m: process.env.AVDIT_MATMUL };
  // x [2, 37, 48] (a batch of rows against one W [32, 48]) with a bias; sizes off every tile.
  const [B, R, Kd, Nd] = [2, 37, 48, 32];
  const once = async (precision: 'f32' | 'mixed', on: boolean): Promise<{ arrays: Float32Array[]; copies: number[] }> => {
    process.env.AVDIT_MATMUL_WEIGHT_T = on ? precision : '0';
    gpu.setPrecision(precision);
    try {
      const copies: number[] = [];
      const x = tensor(values(B * R * Kd, 1), [B, R, Kd], { backend: gpu, requiresGrad: true });
      const w = tensor(values(Nd * Kd, 2), [Nd, Kd], { backend: gpu, requiresGrad: true });
      const b = tensor(values(Nd, 5), [Nd], { backend: gpu });
      const r = tensor(values(B * R * Nd, 3), [B, R, Nd], { backend: gpu });
      const out = A.linear(x, w, b);
      A.backward(A.sum(A.mul(out, r)));
      copies.push(gpu.transposedWeights.size);
      const arrays = [await out.toArray(), await x.grad!.toArray(), await w.grad!.toArray()] as Float32Array[];
      new AdamW([w], { lr: 0.1 }).step();
      copies.push(gpu.transposedWeights.size);
      const again = A.noGrad(() => A.linear(x, w, b));
      copies.push(gpu.transposedWeights.size);
      arrays.push((await again.toArray()) as Float32Array);
      for (const t of [x, w, b, r, out, again]) t.dispose();
      copies.push(gpu.transposedWeights.size);
      return { arrays, copies };
    } finally {
      gpu.setPrecision('f32');
    }
  };
  try {
    for (const precision of ['f32', 'mixed'] as const) {
      // Mixed: the staged v4 (emulated here), its shortest kernels.
      if (precision === 'mixed') process.env.AVDIT_MATMUL = STAGED;
      const nt = await once(precision, false), nn = await once(precision, true);
      assert.deepEqual(nt.copies, [0, 0, 0, 0], `${precision}: no copies when off`);
      assert.deepEqual(nn.copies, [1, 0, 1, 0], `${precision}: W's copy after the forward; none after AdamW; the new one; none once W is freed`);
      ['out', 'dx', 'dW', 'out after a step'].forEach((what, i) => {
        const want = nt.arrays[i]!, got = nn.arrays[i]!;
        const worst = want.reduce((m, v, e) => Math.max(m, Math.abs(v - got[e]!) / (1e-3 + Math.abs(v))), 0);
        assert.ok(worst < 1e-6, `${precision} ${what}: off by ${worst}`);
      });
    }
    process.env.AVDIT_MATMUL_WEIGHT_T = 'yes';
    assert.throws(() => A.matmul(tensor(values(32, 1), [2, 16], { backend: gpu }), tensor(values(32, 2), [2, 16], { backend: gpu }), false, true), /AVDIT_MATMUL_WEIGHT_T=yes: expected 1, 0 or a list of f32, mixed/);
  } finally {
    for (const [k, v] of [['AVDIT_MATMUL_WEIGHT_T', saved.t], ['AVDIT_MATMUL', saved.m]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
