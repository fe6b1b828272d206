// Waiting for the GPU without dawn.node's busy loop (engine/webgpu/gentle-wait.ts): the global
// setImmediate is replaced only while a wait is in progress, callbacks run at once during the first
// SPIN_MS and after a timer later, overlapping waits share the replacement, and the backend's own
// waits (sync, read) go through it on lavapipe.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import * as A from '../../autograd/index.ts';
import { tensor } from '../../engine/creation.ts';
import { gentleWaitActive, gentleWaits, gentleWaitsStarted, SPIN_MS, waitGently } from '../../engine/webgpu/gentle-wait.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const native = globalThis.setImmediate;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What globalThis.setImmediate does with a callback now: a timer (Timeout has refresh) or an immediate. */
const kind = (): 'timer' | 'immediate' => {
  const h = globalThis.setImmediate(() => {}) as unknown as object;
  return 'refresh' in h ? 'timer' : 'immediate';
};

test('setImmediate is replaced only during waits, put back after overlapping ones resolve and reject', async () => {
  assert.equal(globalThis.setImmediate, native);
  let release!: () => void;
  const a = waitGently(new Promise<void>((r) => (release = r)));
  assert.notEqual(globalThis.setImmediate, native);
  assert.equal(gentleWaitActive(), true);
  const b = waitGently(Promise.reject(new Error('lost'))); // ends first, while a still waits
  await assert.rejects(b, /lost/);
  assert.notEqual(globalThis.setImmediate, native, 'the first wait is still in progress');
  release();
  await a;
  assert.equal(globalThis.setImmediate, native);
  assert.equal(gentleWaitActive(), false);
});

test('during a wait, callbacks run at once for SPIN_MS, then after a timer, in order', async () => {
  let release!: () => void;
  const w = waitGently(new Promise<void>((r) => (release = r)));
  assert.equal(kind(), 'immediate');
  await sleep(SPIN_MS + 5);
  assert.equal(kind(), 'timer');
  const seen: number[] = [];
  await new Promise<void>((done) => {
    for (let i = 0; i < 5; i++) globalThis.setImmediate(() => { seen.push(i); if (i === 4) done(); });
  });
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  release();
  await w;
  assert.equal(kind(), 'immediate');
});

test('a handle from a slowed setImmediate can be cleared with clearImmediate, during the wait and after it', { timeout: 30_000 }, async () => {
  let release!: () => void;
  const w = waitGently(new Promise<void>((r) => (release = r)));
  await sleep(SPIN_MS + 5);
  let ran = 0;
  const during = globalThis.setImmediate(() => ran++);
  const after = globalThis.setImmediate(() => ran++);
  assert.equal(kind(), 'timer');
  clearImmediate(during);
  release();
  await w;
  clearImmediate(after); // (native setImmediate is back; the handle is still a timer)
  const fine = await new Promise<number>((r) => setImmediate(() => r(1))); // the immediate queue still works
  await sleep(5);
  assert.deepEqual([ran, fine], [0, 1]);
  // Node's own clearImmediate on such a handle would count an immediate that never existed out of
  // the queue's books (what that breaks depends on Node's version); dawn.node's polling, which
  // runs on immediates, must still answer a read (the timeout, should it not).
  const x = A.mul(tensor([1, 2], [2], { backend: gpu() }), tensor([3, 4], [2], { backend: gpu() }));
  assert.deepEqual(Array.from(await x.toArray()), [3, 8]);
});

test('gentle waits on software adapters by default; AVDIT_GPU_WAIT=spin|gentle overrides, other values are errors', () => {
  const old = process.env.AVDIT_GPU_WAIT;
  try {
    delete process.env.AVDIT_GPU_WAIT;
    assert.deepEqual([gentleWaits(true), gentleWaits(false)], [true, false]);
    process.env.AVDIT_GPU_WAIT = 'spin';
    assert.equal(gentleWaits(true), false);
    process.env.AVDIT_GPU_WAIT = 'gentle';
    assert.equal(gentleWaits(false), true);
    process.env.AVDIT_GPU_WAIT = 'sleep';
    assert.throws(() => gentleWaits(true), /AVDIT_GPU_WAIT=sleep: expected spin or gentle/);
  } finally {
    if (old === undefined) delete process.env.AVDIT_GPU_WAIT;
    else process.env.AVDIT_GPU_WAIT = old;
  }
});

test('the backend waits gently on lavapipe: sync and reads go through waitGently, and give the right numbers', async () => {
  const b = gpu() as WebGpuBackend;
  assert.equal(b.ctx.gentle, b.ctx.features.software);
  if (!b.ctx.gentle) return; // (a hardware GPU: nothing to check here)
  const x = tensor([1, 2, 3, 4], [4], { backend: b });
  const y = A.mul(x, x);
  const s = b.sync();
  assert.equal(gentleWaitActive(), true, 'sync waits gently');
  await s;
  assert.equal(gentleWaitActive(), false);
  const before = gentleWaitsStarted(); // (no kernel compiled since the sync: the read waits for its map only)
  assert.deepEqual(Array.from(await y.toArray()), [1, 4, 9, 16]);
  assert.equal(gentleWaitsStarted(), before + 1, 'a read waits gently');
  assert.equal(globalThis.setImmediate, native);
});

test('the kernel tests\' harness waits as the engine does: sync, error checks and reads through waitGently on lavapipe', async () => {
  const { GpuHarness } = await import('../../bench/gpu-harness.ts');
  const h = await GpuHarness.open();
  try {
    if (!h.features.software) return; // (a hardware GPU: it keeps the busy loop)
    const buf = h.upload(new Float32Array([1, 2, 3]));
    let before = gentleWaitsStarted();
    const s = h.sync();
    assert.equal(gentleWaitActive(), true, 'sync waits gently');
    await s;
    assert.equal(gentleWaitsStarted(), before + 1);
    before = gentleWaitsStarted();
    assert.deepEqual(Array.from(await h.read(buf, 3)), [1, 2, 3]);
    assert.equal(gentleWaitsStarted(), before + 2, 'the map and the error check');
    assert.equal(globalThis.setImmediate, native);
    buf.destroy();
  } finally {
    h.destroy();
  }
});
