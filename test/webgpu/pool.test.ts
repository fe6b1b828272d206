// The buffer pool's memory budget: idle buffers are destroyed to make room, and a request that
// still does not fit fails at once with the figures (Dawn would only report it asynchronously).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend as cpu } from '../../engine/cpu/backend.ts';
import { checkBindable, openWebGpuBackend, type WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { BATCH } from '../../engine/webgpu/context.ts';
import { openDevice } from '../../engine/webgpu/device.ts';
import { BufferPool, classCap, OutOfMemoryError, sizeClass } from '../../engine/webgpu/pool.ts';
import { BackendError } from '../../engine/errors.ts';

const opened = await openDevice();
after(() => opened.device.destroy());

test('the pool trims idle buffers to stay within its budget, then refuses clearly', () => {
  const usage = GPUBufferUsage.STORAGE;
  const pool = new BufferPool(opened.device, 4096);
  const a = pool.acquire(1024, usage, 'a');
  const b = pool.acquire(2048, usage, 'b');
  assert.equal(pool.allocatedBytes, 3072);
  pool.release(b);
  pool.afterSubmit();
  assert.equal(pool.idleBytes, 2048);
  // 3072 more do not fit next to a (1024) unless the idle 2048 go
  const c = pool.acquire(3000, usage, 'c');
  assert.equal(pool.idleBytes, 0);
  assert.equal(pool.allocatedBytes, 1024 + 3072);
  assert.throws(() => pool.acquire(1000, usage, 'd'), (e: Error) => e instanceof OutOfMemoryError && /out of GPU memory: .* requested \(d\)/.test(e.message));
  for (const x of [a, c]) pool.release(x);
  pool.destroyAll();
});

test('size classes: quarter-octave steps, never below the request, at most a quarter more, multiples of 64', () => {
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(256), 256);
  assert.equal(sizeClass(257), 320);
  assert.equal(sizeClass(512), 512);
  assert.equal(sizeClass(513), 640);
  // XL's activations: 1152 and 4608 floats × 65536 tokens round up by 11%, not a third.
  assert.equal(sizeClass(1152 * 65536 * 4), 1.25 * 2 ** 28);
  assert.equal(sizeClass(4608 * 65536 * 4), 1.25 * 2 ** 30);
  for (let b = 1; b < 1e7; b = Math.ceil(b * 1.37) + 3) {
    const c = sizeClass(b);
    assert.ok(c >= b && c % 64 === 0 && (b <= 256 || c <= 1.25 * b), `${b} → ${c}`);
  }
});

// NVIDIA under Vulkan: storage bindings up to 2 GiB − 4, buffers larger. A fake device: nothing is allocated.
/** About 1.8 GiB, a multiple of 4 bytes. */
const GIB_1_8 = 4 * 483_183_820;
const NVIDIA_LIMITS = { maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 40 };
const fakeDevice = (limits: typeof NVIDIA_LIMITS) => ({
  limits,
  createBuffer: (d: GPUBufferDescriptor) => ({ size: d.size, usage: d.usage, label: d.label ?? '', destroy() {} }),
}) as unknown as GPUDevice;

test('size classes stop at the binding limit: a legal tensor between 1.75 GiB and 2 GiB − 4 gets a buffer it can bind whole', () => {
  const cap = classCap(NVIDIA_LIMITS);
  assert.equal(cap, 2 ** 31 - 256);
  assert.equal(sizeClass(GIB_1_8, 2 ** 40), 2 ** 31); // uncapped: 4 bytes over NVIDIA's binding limit
  assert.equal(sizeClass(GIB_1_8, cap), cap);
  assert.equal(sizeClass(GIB_1_8), cap, 'the default cap (the memory-accounting backend\'s) is NVIDIA\'s');
  assert.equal(sizeClass(1.5 * 2 ** 30, cap), 1.5 * 2 ** 30); // classes under the cap are untouched
  assert.equal(sizeClass(2 ** 27, classCap({ maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 32 })), 2 ** 27); // lavapipe
  assert.equal(sizeClass(cap + 4, cap), 2 ** 31); // over the cap (a staging buffer): its class
  // What the backend accepts, the pool gives a buffer no larger than the binding limit (NVIDIA's,
  // and a made-up 1.6 GiB one: the pool caps at its own device's limit).
  const other = { maxStorageBufferBindingSize: 1_700_000_004, maxBufferSize: 2 ** 40 };
  const cases: [typeof NVIDIA_LIMITS, number[]][] = [
    [NVIDIA_LIMITS, [1.75 * 2 ** 30 + 4, GIB_1_8, 2 ** 31 - 260, 2 ** 31 - 256]],
    [other, [1_650_000_000, 1_699_999_744]],
  ];
  for (const [limits, sizes] of cases) {
    const pool = new BufferPool(fakeDevice(limits));
    for (const bytes of sizes) {
      checkBindable('test', 'f32', bytes / 4, limits);
      const buf = pool.acquire(bytes, GPUBufferUsage.STORAGE, 'big');
      assert.ok(buf.size >= bytes && buf.size <= limits.maxStorageBufferBindingSize && buf.size % 64 === 0, `${bytes} bytes → a buffer of ${buf.size}`);
    }
  }
  // From 2 GiB − 252 bytes on, the whole buffer could not be bound: refused with the limits.
  for (const bytes of [2 ** 31 - 252, 2 ** 31 - 4, 2 ** 31]) {
    assert.throws(() => checkBindable('fill', 'f32', bytes / 4, NVIDIA_LIMITS), (e: Error) => e instanceof BackendError && /fill: .*maxStorageBufferBindingSize 2048\.0 MiB.*2147483392 bytes at most/.test(e.message));
  }
});

test('released buffers past the quarantine threshold are submitted at once and reused by the next allocation', async () => {
  const be = (await openWebGpuBackend()) as WebGpuBackend;
  try {
    const { ctx } = be;
    ctx.quarantineFlushBytes = 8192;
    const a = be.fill(1024, 'f32', 1); // 4 KiB, its fill recorded, not submitted
    const small = be.fill(16, 'f32', 1);
    const s0 = ctx.submits, allocated = ctx.pool.allocatedBytes;
    be.free(small); // under the threshold: waits
    assert.equal(ctx.submits, s0);
    be.free(a);
    const b = be.fill(1024, 'f32', 2);
    // 4 KiB + 256 B waiting is still under 8 KiB: b is a new buffer
    assert.ok(ctx.pool.allocatedBytes > allocated);
    be.free(b);
    const c = be.fill(1024, 'f32', 3);
    // now past 8 KiB: the recorded work went out, and c reuses a released buffer
    assert.ok(ctx.submits > s0, 'no submit when the quarantine passed its threshold');
    assert.equal(ctx.pool.quarantinedBytes, 0);
    const grown = ctx.pool.allocatedBytes;
    be.free(c);
    const d = be.fill(1024, 'f32', 4);
    assert.equal(ctx.pool.allocatedBytes, grown);
    assert.deepEqual(Array.from((await be.read(d)).slice(0, 3)), [4, 4, 4]);
    be.free(d);
  } finally {
    await be.destroy();
  }
});

test('a scratch buffer outlives the submit that cuts its op in two (an upload cannot take it)', async () => {
  const be = (await openWebGpuBackend()) as WebGpuBackend;
  try {
    // n·l = 111 rows: the attention backward's scratch row sums D take 444 bytes, a size class
    // (448) nothing else here uses.
    const d = { n: 3, l: 37, s: 37, dqk: 8, dv: 8, scale: 0.35 };
    const data = (size: number, seed: number) => Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 97 + i * 1.3));
    const ins = [data(d.n * d.l * d.dqk, 1), data(d.n * d.s * d.dqk, 2), data(d.n * d.s * d.dv, 3), data(d.n * d.l * d.dv, 4)];
    const [q, k, v, dO] = ins.map((x) => be.fromArray(x, 'f32'));
    const [cq, ck, cv, cdO] = ins.map((x) => cpu.fromArray(x, 'f32'));
    const f = be.attention(q!, k!, v!, d);
    const cf = cpu.attention(cq!, ck!, cv!, d);
    await be.sync();
    // BATCH − 1 dispatches recorded, so the backward's first dispatch (the row sums into D) fills
    // the batch and is submitted alone; dQ and dK/dV are recorded after that submit.
    const one = be.fromArray(new Float32Array(1024), 'f32');
    await be.sync();
    for (let i = 0; i < BATCH - 1; i++) be.free(be.unary('affine', one, 1, 0));
    const g = be.attentionBwd(q!, k!, v!, f.o, f.lse, dO!, d);
    // An upload of D's size: with D released at that submit it would take D and overwrite it
    // before dQ and dK/dV run.
    const junk = be.fromArray(new Float32Array(d.n * d.l).fill(1e6), 'f32');
    const want = cpu.attentionBwd(cq!, ck!, cv!, cf.o, cf.lse, cdO!, d);
    const got = await be.read(g.dq), ref = await cpu.read(want.dq);
    let worst = 0;
    got.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - ref[i]!))));
    assert.ok(worst < 1e-4, `dq differs from the CPU by ${worst}`);
    be.free(junk);
  } finally {
    await be.destroy();
  }
});
