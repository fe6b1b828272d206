// AdamW against torch.optim.AdamW (torch 1.13, test/fixtures/make_adamw_golden.py): 100 steps on
// three tensors with formula gradients, one of them skipped every third step. CPU f64 matches
// the f64 golden to 1e-10 relative. In f32 the CPU rounds after every operation in torch's order
// (engine/cpu/fused.ts adamwStep) and WGSL rounds per op, so over 100 steps both agree with
// torch's f32 run to 1e-6 of the tensor's largest value (plus 1e-7 absolute). The WebGPU kernel
// is also compared with the CPU, and the optimizer's state dict round-trips.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Backend } from '../../engine/backend.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import type { DType } from '../../engine/dtype.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { AdamW } from '../../train/adamw.ts';
import { openPoisonedGpu } from '../webgpu/helpers.ts';

interface Run { params: Record<string, number[][]>; m: number[][]; v: number[][]; steps: number[] }
const golden = JSON.parse(readFileSync(new URL('../fixtures/adamw_golden.json', import.meta.url), 'utf8')) as {
  sizes: number[]; steps: number; hp: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }; f64: Run; f32: Run;
};

// The fixture's formulas (see the Python script).
const p0 = (k: number, i: number): number => 0.5 * Math.cos(0.5 * i + k);
const grad = (k: number, i: number, t: number): number => Math.sin(0.37 * (i + 1) + 0.11 * t * (k + 1)) * 10 ** (k - 1);
const hasGrad = (k: number, t: number): boolean => !(k === 2 && t % 3 === 0);

let gpu: Backend | null = null;
before(async () => {
  gpu = await openPoisonedGpu();
});
after(async () => {
  await gpu?.destroy();
});

/** Run the fixture's 100 steps; returns the params at the recorded steps and the optimizer. */
async function run(backend: Backend, dtype: DType): Promise<{ at: Record<string, Float64Array[]>; opt: AdamW; params: Tensor[] }> {
  const { lr, beta1, beta2, eps, weightDecay } = golden.hp;
  const params = golden.sizes.map((n, k) => tensor(Array.from({ length: n }, (_, i) => p0(k, i)), [n], { dtype, backend }).keep());
  const opt = new AdamW(params, { lr, betas: [beta1, beta2], eps, weightDecay });
  const at: Record<string, Float64Array[]> = {};
  for (let t = 1; t <= golden.steps; t++) {
    params.forEach((p, k) => {
      p.grad?.dispose();
      p.grad = hasGrad(k, t) ? tensor(Array.from({ length: p.size }, (_, i) => grad(k, i, t)), [p.size], { dtype, backend }).keep() : null;
    });
    opt.step();
    if (t in golden.f64.params) at[t] = await Promise.all(params.map(async (p) => Float64Array.from(await p.toArray())));
  }
  return { at, opt, params };
}

/**
 * Every element within rtol of torch's, relative to itself: |got − x| ≤ rtol·|x| + atol (atol only
 * for elements at or near zero, where a relative bound means nothing). Returns the worst relative error.
 */
function compare(got: Record<string, Float64Array[]>, want: Run, rtol: number, atol: number, what: string): number {
  let worst = 0;
  for (const [t, tensors] of Object.entries(want.params)) {
    tensors.forEach((w, k) => {
      w.forEach((x, i) => {
        const g = got[t]![k]![i]!;
        assert.ok(Math.abs(g - x) <= atol + rtol * Math.abs(x), `${what}: step ${t} tensor ${k}[${i}]: ${g} vs torch ${x}`);
        if (Math.abs(x) > 1e-3) worst = Math.max(worst, Math.abs(g - x) / Math.abs(x));
      });
    });
  }
  return worst;
}

test('CPU f64 AdamW matches torch.optim.AdamW (f64) over 100 steps, with per-parameter step counts', async () => {
  const { at, opt } = await run(cpuBackend, 'f64');
  compare(at, golden.f64, 1e-10, 0, 'cpu f64');
  const sd = opt.stateDict();
  assert.deepEqual(sd.steps, golden.f64.steps);
  sd.m.forEach((m, k) => golden.f64.m[k]!.forEach((x, i) => assert.ok(Math.abs(m!.dataSync()[i]! - x) <= 1e-12 + 1e-10 * Math.abs(x))));
  sd.v.forEach((v, k) => golden.f64.v[k]!.forEach((x, i) => assert.ok(Math.abs(v!.dataSync()[i]! - x) <= 1e-15 + 1e-10 * Math.abs(x))));
});

test('CPU f32 AdamW matches torch f32 to 1e-6 relative', async () => {
  compare((await run(cpuBackend, 'f32')).at, golden.f32, 1e-6, 1e-9, 'cpu f32');
});

test('WebGPU AdamW (one multi-tensor kernel) matches torch f32 to 1e-6 relative, and the CPU', async () => {
  const g = await run(gpu!, 'f32');
  compare(g.at, golden.f32, 1e-6, 1e-9, 'webgpu f32');
  const c = await run(cpuBackend, 'f32');
  for (const t of Object.keys(g.at)) g.at[t]!.forEach((x, k) => x.forEach((y, i) => assert.ok(Math.abs(y - c.at[t]![k]![i]!) <= 3e-6 * Math.max(1, Math.abs(y)), `step ${t}`)));
});

test('WebGPU AdamW over many tensors of odd sizes (several dispatches, > 1 workgroup) equals the CPU', async () => {
  const sizes = [1, 255, 256, 257, 3000, 7, 70000, 2];
  const hp = { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, step: 7 };
  const mk = (b: Backend, n: number, seed: number, lo = -1) => tensor(Float32Array.from({ length: n }, (_, i) => lo + Math.abs(Math.sin(i * 0.7 + seed)) * (1 - lo) * 0.5), [n], { backend: b });
  const results: Float32Array[][] = [];
  for (const b of [cpuBackend, gpu!]) {
    const ps = sizes.map((n, k) => mk(b, n, k)), gs = sizes.map((n, k) => mk(b, n, k + 10)), ms = sizes.map((n, k) => mk(b, n, k + 20)), vs = sizes.map((n, k) => mk(b, n, k + 30, 0));
    const { adamw } = await import('../../engine/ops.ts');
    adamw(ps, gs, ms, vs, hp);
    results.push(await Promise.all([...ps, ...ms, ...vs].map(async (t) => (await t.toArray()) as Float32Array)));
  }
  results[0]!.forEach((c, j) => c.forEach((x, i) => assert.ok(Math.abs(results[1]![j]![i]! - x) <= 1e-6 * Math.max(1, Math.abs(x)), `tensor ${j}[${i}]`)));
});

test('AdamW state dict: resume on another backend continues identically; params without grad are skipped', async () => {
  const mk = (b: Backend) => [tensor([1, -2, 3], [3], { backend: b }).keep(), tensor([0.5, 0.25], [2], { backend: b }).keep()];
  const gradAt = (b: Backend, t: number) => [tensor([t, -t, 1], [3], { backend: b }).keep(), t % 2 ? tensor([1, 1], [2], { backend: b }).keep() : null];
  const stepWith = (opt: AdamW, ps: Tensor[], b: Backend, t: number) => {
    ps.forEach((p, k) => (p.grad = gradAt(b, t)[k]!));
    opt.step();
  };
  const a = mk(cpuBackend), optA = new AdamW(a, { lr: 0.1 });
  for (let t = 1; t <= 5; t++) stepWith(optA, a, cpuBackend, t);
  const b = mk(gpu!);
  for (const [i, p] of b.entries()) p.assign(tensor(Array.from(a[i]!.dataSync()), p.shape as number[], { backend: gpu! }));
  const optB = new AdamW(b, { lr: 0.1 });
  await optB.loadStateDict(optA.stateDict());
  assert.deepEqual(optB.stateDict().steps, [5, 3]);
  for (let t = 6; t <= 8; t++) {
    stepWith(optA, a, cpuBackend, t);
    stepWith(optB, b, gpu!, t);
  }
  for (const [i, p] of b.entries()) {
    const got = await p.toArray(), want = a[i]!.dataSync();
    want.forEach((x, j) => assert.ok(Math.abs(got[j]! - x) < 1e-6, `param ${i}[${j}]: ${got[j]} vs ${x}`));
  }
});
