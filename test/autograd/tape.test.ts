// The tape's behaviour: accumulation, reuse of a tensor, noGrad, detach, zeroGrad, retainGraph,
// checkpointing, and misuse errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../autograd/index.ts';
import { GradError } from '../../engine/errors.ts';
import { randn, tensor } from '../../engine/creation.ts';
import { manualSeed } from '../../engine/rng.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';

const f64 = { dtype: 'f64' as const, requiresGrad: true };

test('a tensor used twice gets both contributions; two backwards accumulate', () => {
  const x = tensor([2, 3], undefined, f64);
  const y = A.sum(A.mul(x, x)); // d/dx = 2x
  A.backward(y, undefined, { retainGraph: true });
  assert.deepEqual([...x.grad!.dataSync()], [4, 6]);
  A.backward(y);
  assert.deepEqual([...x.grad!.dataSync()], [8, 12]);
  A.zeroGrad([x]);
  assert.equal(x.grad, null);
});

test('noGrad records nothing; detach cuts the graph', () => {
  const x = tensor([1, 2], undefined, f64);
  const y = A.noGrad(() => A.mul(x, 2));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  const z = A.sum(A.mul(A.detach(x), x)); // gradient only through the second factor
  A.backward(z);
  assert.deepEqual([...x.grad!.dataSync()], [1, 2]);
});

test('frozen inputs get no gradient and cost no rule', () => {
  const w = tensor([1, 2], undefined, { dtype: 'f64' });
  const x = tensor([3, 4], undefined, f64);
  A.backward(A.sum(A.mul(w, x)));
  assert.equal(w.grad, null);
  assert.deepEqual([...x.grad!.dataSync()], [1, 2]);
});

test('backward on a non-scalar needs a gradient; on a constant it is an error', () => {
  const x = tensor([1, 2], undefined, f64);
  const y = A.mul(x, 3);
  assert.throws(() => A.backward(y), (e: Error) => e instanceof GradError && /shape \[2\]/.test(e.message));
  assert.throws(() => A.backward(y, tensor([1, 1, 1], undefined, { dtype: 'f64' })), GradError);
  A.backward(y, tensor([1, 10], undefined, { dtype: 'f64' }));
  assert.deepEqual([...x.grad!.dataSync()], [3, 30]);
  assert.throws(() => A.backward(tensor([1])), /does not require grad/);
});

test('checkpointed blocks give identical gradients to plain ones', () => {
  manualSeed(5);
  const x = randn([3, 4], { dtype: 'f64' });
  const w1 = randn([4, 4], { dtype: 'f64' });
  const w2 = randn([4, 4], { dtype: 'f64' });
  const block = (h: Tensor) => A.add(h, A.matmul(A.gelu(A.layerNorm(A.matmul(h, w1), null, null, 1e-6)), w2));
  const run = (ckpt: boolean) => {
    for (const t of [x, w1, w2]) { t.requiresGrad = true; t.grad = null; }
    let h = x;
    for (let i = 0; i < 3; i++) h = ckpt ? A.checkpoint(block, h) : block(h);
    A.backward(A.sum(A.square(h)));
    return [x, w1, w2].map((t) => [...t.grad!.dataSync()]);
  };
  assert.deepEqual(run(true), run(false));
});

test('a block with two outputs checkpointed once gives identical gradients, also when one output gets none', () => {
  manualSeed(6);
  const x = randn([3, 4], { dtype: 'f64' }), z = randn([3, 4], { dtype: 'f64' });
  const w = randn([4, 4], { dtype: 'f64' });
  let calls = 0;
  // Two streams that mix: u reads both inputs, v only z.
  const block = (a: Tensor, b: Tensor): Tensor[] => {
    calls++;
    const h = A.gelu(A.matmul(A.add(a, b), w));
    return [A.add(a, h), A.mul(A.tanh(A.matmul(b, w)), 2)];
  };
  const run = (ckpt: boolean, useBoth: boolean) => {
    for (const t of [x, z, w]) { t.requiresGrad = true; t.grad = null; }
    let [u, v] = [x, z];
    for (let i = 0; i < 3; i++) [u, v] = ckpt ? A.checkpointMany(block, u!, v!) : block(u!, v!);
    A.backward(useBoth ? A.add(A.sum(A.square(u!)), A.sum(A.mul(v!, 3))) : A.sum(A.square(u!)));
    return [x, z, w].map((t) => [...t.grad!.dataSync()]);
  };
  // Equal to rounding: w, used twice in a block, sums its two contributions in another order when
  // the block's backward runs on its own (the AV-DiT test in test/model/golden.test.ts, each
  // parameter used once per block, is bit-identical).
  for (const useBoth of [true, false]) {
    const plain = run(false, useBoth);
    calls = 0;
    const ck = run(true, useBoth);
    ck.forEach((g, i) => g.forEach((v, j) => assert.ok(Math.abs(v - plain[i]![j]!) <= 1e-12 * Math.abs(plain[i]![j]!), `useBoth ${useBoth}: grad ${i}[${j}] ${v} vs ${plain[i]![j]}`)));
    assert.equal(calls, 6, 'each block run once forward and once recomputed');
  }
});

test('a checkpointed block may pass an input through as one of its outputs', () => {
  const x = tensor([1, 2, 3], undefined, f64), z = tensor([4, 5, 6], undefined, f64);
  const run = (ckpt: boolean) => {
    for (const t of [x, z]) { t.requiresGrad = true; t.grad = null; }
    const block = (a: Tensor, b: Tensor): Tensor[] => [A.mul(a, b), b]; // b goes through unchanged
    const [u, v] = ckpt ? A.checkpointMany(block, x, z) : block(x, z);
    A.backward(A.add(A.sum(A.square(u!)), A.sum(A.mul(v!, 2))));
    return [x, z].map((t) => [...t.grad!.dataSync()]);
  };
  assert.deepEqual(run(true), run(false));
  assert.equal(z.node, null, 'the input keeps its own (leaf) place in the graph');
});

test('backwardMany: one pass from several roots, as the backward of the sum of their dot products with the gradients', () => {
  const x = tensor([1, 2, 3], undefined, f64);
  const y1 = A.mul(x, x), y2 = A.mul(y1, 2); // y2 depends on y1: each rule runs once, with both contributions
  A.backwardMany([y1, y2], [tensor([1, 1, 1], undefined, { dtype: 'f64' }), tensor([1, 0, 2], undefined, { dtype: 'f64' })]);
  // d/dx [Σ y1 + Σ g2·2x²] = 2x + 4x·g2
  assert.deepEqual([...x.grad!.dataSync()], [2 + 4, 4, 6 + 24]);
  assert.throws(() => A.backwardMany([y1], []), /1 outputs but 0 gradients/);
});

test('a gradient rule giving the wrong shape is reported with the op name', () => {
  const x = tensor([1, 2], undefined, f64);
  const bad = A.record('bad', [x], A.noGrad(() => A.sum(x)), (g) => [g]);
  assert.throws(() => A.backward(bad), /rule of bad gave a gradient of shape \[\]/);
});

test('backward frees what a rule makes on the way to its gradients as soon as the rule returns', () => {
  // mul with a broadcast input: its rule forms g·a ([4096]) and sums it to b's shape ([1]).
  const a = tensor(new Float32Array(4096).fill(1.5), [4096], { requiresGrad: true });
  const b = tensor([2], [1], { requiresGrad: true });
  const y = A.sum(A.mul(a, b));
  const before = cpuBackend.memory().liveBytes;
  A.backward(y);
  // Left alive by backward: a.grad and b.grad (4096 + 1 floats) and nothing of the g·a product.
  const grown = cpuBackend.memory().liveBytes - before;
  assert.ok(grown <= 4 * (4096 + 1) + 64, `backward left ${grown} bytes alive`);
  assert.deepEqual([...b.grad!.dataSync()], [1.5 * 4096]);
});

test('releaseUnsaved frees what no rule reads, keeps the gradients identical, and keeps all when a rule does not say', () => {
  const run = (release: boolean) => {
    const w1 = tensor(Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i) / 8), [64, 64], { requiresGrad: true });
    const w2 = tensor(Float32Array.from({ length: 64 * 64 }, (_, i) => Math.cos(i) / 8), [64, 64]); // frozen
    const x = tensor(Float32Array.from({ length: 32 * 64 }, (_, i) => Math.sin(i * 0.3)), [32, 64]);
    const block = () => {
      const h = A.gelu(A.matmul(x, w1)); // gelu saves its input; matmul (x frozen side) saves x
      const y = A.matmul(h, w2); // w2 frozen: dH = dY·W2ᵀ needs only w2, so h is not saved
      return A.add(y, A.mul(h, 0.5)); // affine saves nothing; add saves nothing
    };
    const before = cpuBackend.memory().liveBytes;
    const out = release ? A.releaseUnsaved(block) : block();
    const held = cpuBackend.memory().liveBytes - before;
    A.backward(A.sum(A.mul(out, out)));
    return { held, grad: [...w1.grad!.dataSync()] };
  };
  const kept = run(false), released = run(true);
  assert.deepEqual(released.grad, kept.grad);
  assert.ok(released.held < kept.held, `released ${released.held} bytes vs ${kept.held}`);
  // A rule recorded without `saves` may read anything: nothing is freed.
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const before = cpuBackend.memory().liveBytes;
  const y = A.releaseUnsaved(() => {
    const t = A.affine(x, 2, 0);
    return A.record('custom', [t], A.noGrad(() => A.affine(t, 1, 0)), (g) => [A.mul(g, t)]); // no `saves`: t must stay
  });
  assert.ok(cpuBackend.memory().liveBytes - before >= 2 * 3 * 4, 'the custom rule\'s input was freed');
  A.backward(A.sum(y));
  assert.deepEqual([...x.grad!.dataSync()], [4, 8, 12]);
});

test('nested releaseUnsaved: what an inner block keeps for a rule it freed the output of stays kept outside', () => {
  const run = (release: <T>(f: () => T) => T) => {
    const w = tensor(Float32Array.from({ length: 16 * 16 }, (_, i) => Math.sin(i) / 4), [16, 16], { requiresGrad: true });
    const x = tensor(Float32Array.from({ length: 8 * 16 }, (_, i) => Math.cos(i)), [8, 16]);
    // Inner: gelu saves its input a; its own output h is not saved by the affine after it.
    const out = release(() => A.mul(release(() => A.affine(A.gelu(A.matmul(x, w)), 2, 0)), 3));
    A.backward(A.sum(A.mul(out, out)));
    return [...w.grad!.dataSync()];
  };
  assert.deepEqual(run(A.releaseUnsaved), run((f) => f()));
});

test('linear refuses a bias that does not fit its weight, naming both shapes', () => {
  const x = tensor(new Float32Array(6), [2, 3]), w = tensor(new Float32Array(12), [4, 3]);
  assert.throws(() => A.linear(x, w, tensor(new Float32Array(3), [3])), /linear: bias \[3\] does not fit weight \[4, 3\] \(expected \[4\]\)/);
  assert.deepEqual(A.linear(x, w, tensor(new Float32Array(4), [4])).shape, [2, 4]);
});

test('the backward pass frees a released block\'s saved activations once their last reader has run, not at the scope\'s end', () => {
  const w = tensor(Float32Array.from({ length: 16 * 16 }, (_, i) => Math.sin(i) / 4), [16, 16]); // frozen
  const x = tensor(Float32Array.from({ length: 4 * 16 }, (_, i) => Math.cos(i)), [4, 16], { requiresGrad: true });
  // A frozen matmul saves only w; gelu saves its input h, which only the graph holds.
  const hs: Tensor[] = [];
  const block = (t: Tensor) => {
    const h = A.matmul(t, w);
    hs.push(h);
    return A.gelu(h);
  };
  let seen: boolean[] = [];
  const y1 = A.releaseUnsaved(() => block(x));
  // Between the blocks, a probe whose rule runs after the second block's rules and before the first's.
  const probed = A.record('probe', [y1], y1.view(y1.shape), (g) => {
    seen = hs.map((h) => h.disposed);
    return [g];
  }, []);
  const y2 = A.releaseUnsaved(() => block(probed));
  assert.deepEqual(hs.map((h) => h.disposed), [false, false], 'both kept for the backward pass');
  A.backward(A.sum(y2));
  assert.deepEqual(seen, [false, true], 'at the probe: the second block\'s h freed, the first\'s still there for its rule');
  assert.deepEqual(hs.map((h) => h.disposed), [true, true], 'both freed by the end of the backward pass');
  assert.ok(x.grad!.dataSync().some((v) => v !== 0));
});

test('a block\'s saved tensor read by two rules lives until both have run', () => {
  const w = tensor([0.5, -1, 2, 0.25], [2, 2]);
  const x = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
  // h is read by gelu's rule and by the frozen-weight matmul's? No: by gelu and by mul (which saves both inputs).
  const y = A.releaseUnsaved(() => {
    const h = A.matmul(x, w);
    return A.add(A.gelu(h), A.mul(h, h));
  });
  A.backward(A.sum(y));
  // d/dx = (gelu'(h) + 2h) · wᵀ: both rules read h; had the first freed it, the second would throw.
  const h = [1 * 0.5 + 2 * 2, 1 * -1 + 2 * 0.25, 3 * 0.5 + 4 * 2, 3 * -1 + 4 * 0.25];
  const geluD = (z: number) => {
    const c = Math.sqrt(2 / Math.PI), u = c * (z + 0.044715 * z ** 3), t = Math.tanh(u);
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z);
  };
  const gh = h.map((v) => geluD(v) + 2 * v);
  const want = [gh[0]! * 0.5 + gh[1]! * -1, gh[0]! * 2 + gh[1]! * 0.25, gh[2]! * 0.5 + gh[3]! * -1, gh[2]! * 2 + gh[3]! * 0.25];
  x.grad!.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-4, `${i}: ${v} vs ${want[i]}`));
});
