// The CPU backend's worker threads (engine/cpu/threads.ts): matmul and attention cut into parts
// that a worker and the main thread share give bit-identical results to one thread, the worker
// really takes parts, and a part that throws becomes an error on the main thread.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend, CpuStorage } from '../../engine/cpu/backend.ts';
import { randn } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import * as ops from '../../engine/ops.ts';
import { pool } from '../../engine/cpu/threads.ts';
import { KERNELS } from '../../engine/cpu/parallel-kernels.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { runUntilWorkerTakesPart } from './worker-parts.ts';

const before = pool.threads;
after(() => pool.setThreads(before));

async function withThreads<T>(n: number, f: () => Promise<T>): Promise<T> {
  pool.setThreads(n);
  return f();
}

async function values(ts: Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map(async (t) => new Float32Array(await t.toArray())));
}

test('matmul (NN, NT, TN, batched) gives the same bits with 1 and 3 threads', async () => {
  // 1021·128·256 ≈ 2^25 multiply-adds per product: above the split size (parts of 2^23, engine/cpu/backend.ts).
  const a = randn([2, 1021, 128], { backend: cpuBackend, generator: new Generator(1) }), b = randn([128, 256], { backend: cpuBackend, generator: new Generator(2) });
  const bt = randn([256, 128], { backend: cpuBackend, generator: new Generator(3) }), at = randn([128, 1021], { backend: cpuBackend, generator: new Generator(4) });
  const run = async () => values([ops.matmul(a, b), ops.matmul(a, bt, false, true), ops.matmul(at, b, true, false)]);
  const one = await withThreads(1, run);
  const three = await withThreads(3, run);
  for (let i = 0; i < one.length; i++) assert.deepEqual(three[i], one[i], `product ${i}`);
  // Tensors stay in ordinary memory: only the pool's scratch copies are shared.
  const data = (ops.matmul(a, b).storage() as CpuStorage).data;
  assert.ok(!(data.buffer instanceof SharedArrayBuffer), 'a split matmul returned a SharedArrayBuffer-backed tensor');
});

test('attention forward and backward give the same bits with 1 and 2 threads', async () => {
  const d = { n: 12, l: 40, s: 56, dqk: 16, dv: 24, scale: 0.25 };
  const q = randn([d.n, d.l, d.dqk], { backend: cpuBackend, generator: new Generator(5) }), k = randn([d.n, d.s, d.dqk], { backend: cpuBackend, generator: new Generator(6) });
  const v = randn([d.n, d.s, d.dv], { backend: cpuBackend, generator: new Generator(7) }), dO = randn([d.n, d.l, d.dv], { backend: cpuBackend, generator: new Generator(8) });
  const run = async () => {
    const { o, lse } = cpuBackend.attention(q.storage(), k.storage(), v.storage(), d);
    const g = cpuBackend.attentionBwd(q.storage(), k.storage(), v.storage(), o, lse, dO.storage(), d);
    return [o, lse, g.dq, g.dk, g.dv].map((s) => new Float32Array(cpuBackend.readSync!(s)));
  };
  const one = await withThreads(1, run);
  const two = await withThreads(2, run);
  for (let i = 0; i < one.length; i++) assert.deepEqual(two[i], one[i], `output ${i}`);
});

test('a worker thread takes parts of a job', async () => {
  pool.setThreads(2);
  const M = 512, K = 64, N = 64;
  const A = new Float32Array(M * K), B = new Float32Array(N * K);
  const workerTook = await runUntilWorkerTakesPart(A, B, M, K, N, 4);
  assert.ok(workerTook > 0, 'the worker never took a part');
});

test('an exception in a part, on the worker or the main thread, is thrown on the main thread after every part finished', () => {
  pool.setThreads(2);
  // No operand arrays: the matmul kernel fails on its first row in whichever thread claims a part,
  // so the job fails whoever wins the race for the parts.
  const failing = () => pool.run('gemmABt', [], { aOff: 0, btOff: 0, cOff: 0, M: 32, K: 4, N: 4 }, 8, 1, KERNELS.gemmABt, []);
  for (let attempt = 0; attempt < 5; attempt++) assert.throws(failing, /CPU kernel gemmABt failed in a thread part: TypeError/);
  // ... and the pool still works afterwards.
  const A = new Float32Array(32 * 4).fill(1), B = new Float32Array(4 * 4).fill(2), C = new Float32Array(32 * 4);
  pool.run('gemmABt', [A, B, C], { aOff: 0, btOff: 0, cOff: 0, M: 32, K: 4, N: 4 }, 8, 1, KERNELS.gemmABt, [2]);
  assert.ok(C.every((v) => v === 8));
});

test('GELU and its backward (f32) give the same bits with 1 and 3 threads', async () => {
  // 3·2^16 + 5 elements: four parts of 2^16 (the split size), the last one short.
  const n = 3 * 2 ** 16 + 5;
  const x = randn([n], { backend: cpuBackend, generator: new Generator(5) }), dy = randn([n], { backend: cpuBackend, generator: new Generator(6) });
  const run = async () => values([ops.unary('gelu', x), ops.binary('geluBwd', x, dy)]);
  const one = await withThreads(1, run);
  const three = await withThreads(3, run);
  assert.deepEqual(three[0], one[0], 'gelu');
  assert.deepEqual(three[1], one[1], 'geluBwd');
});

test('normal draws (f32 and f64) give the same numbers with 1 and 3 threads, from any offset', async () => {
  // 5·2^14 + 3 draws: parts of 2^14 (the split size), the last one short; an offset past 2^32 checks the counter's carry.
  const n = 5 * 2 ** 14 + 3;
  for (const dtype of ['f32', 'f64'] as const) {
    for (const offset of [0, 2 ** 32 - 7]) {
      const run = async () => Array.from(await randn([n], { backend: cpuBackend, dtype, generator: new Generator(11, offset) }).toArray());
      const one = await withThreads(1, run);
      const three = await withThreads(3, run);
      assert.deepEqual(three, one, `${dtype} from ${offset}`);
      assert.ok(one.every(Number.isFinite));
    }
  }
});

test('jobs reach the workers through the shared job block: arrays that outgrow the scratch, or change type, are picked up', async () => {
  pool.setThreads(2);
  // A started worker, then a job on bigger arrays than any before in this process (new scratch
  // for every slot, announced to the worker): it takes parts of that job too, and the sums are right.
  // (The warm-up job is the size the test above uses: a 64×8×8 one was over before a woken worker
  // could claim a part, and on a loaded machine 100 tries in a row once missed.)
  assert.ok((await runUntilWorkerTakesPart(new Float32Array(512 * 64).fill(1), new Float32Array(64 * 64).fill(1), 512, 64, 64, 4)) > 0);
  const M = 4096, K = 40, N = 24;
  const A = new Float32Array(M * K).map((_, i) => (i % 7) - 3), Bt = new Float32Array(N * K).map((_, i) => (i % 5) - 2);
  const expect = new Float32Array(M * N);
  KERNELS.gemmABt({ arrays: [A, Bt, expect], params: { aOff: 0, btOff: 0, cOff: 0, M, K, N } }, 0, M / 4);
  const took = await runUntilWorkerTakesPart(A, Bt, M, K, N, 4, (C) => assert.deepEqual(C, expect));
  assert.ok(took > 0, 'the worker never took a part of a job on new scratch');
  // The same slot now holding f64 (a normal draw): the numbers match one thread's.
  const draw = async () => Array.from(await randn([5 * 2 ** 14], { backend: cpuBackend, dtype: 'f64', generator: new Generator(3) }).toArray());
  const two = await draw();
  const one = await withThreads(1, draw);
  assert.deepEqual(two, one);
});
