// The flash-attention kernels against the CPU oracle (f32), forward and backward: random shapes
// (l = 1, odd l and s, dqk ≠ dv incl. 9 / 72, several key tiles), longer sequences (300; 4096 at
// head dims 64 and 9 / 72), large logits, and the autograd op on the GPU. Shapes stay small:
// lavapipe runs on the CPU, and every head-dim pair and tile size is a pipeline it must compile.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import type { AttentionDims } from '../../engine/backend.ts';
import { tensor } from '../../engine/creation.ts';
import { encodeAttention } from '../../kernels/attention.ts';
import { encodeAttentionBwd } from '../../kernels/attention-bwd.ts';
import {
  attentionTuning, batchedStaging, LAYOUTS, nominalRows, parseTiles, pickTiles, stagingKey, tileBytes, tileCandidates, tilesError, tilesName, WHOLE_TILES_DEFAULT, wholeTiles,
} from '../../kernels/attention-tiles.ts';
import type { WebGpuBackend } from '../../engine/webgpu/backend.ts';
import { STORAGE_USAGE } from '../../engine/webgpu/usage.ts';
import { both, cpu, expectSame, randomData, useGpu, assertClose } from './helpers.ts';

const gpu = useGpu();

async function check(d: AttentionDims, seed: number, spread = 1.5): Promise<void> {
  const { n, l, s, dqk, dv } = d;
  const [cq, gq] = both(gpu(), randomData(n * l * dqk, seed, -spread, spread));
  const [ck, gk] = both(gpu(), randomData(n * s * dqk, seed + 1, -spread, spread));
  const [cv, gv] = both(gpu(), randomData(n * s * dv, seed + 2));
  const [cg, gg] = both(gpu(), randomData(n * l * dv, seed + 3));
  const what = `n${n} l${l} s${s} ${dqk}/${dv}`;
  const c = cpu.attention(cq, ck, cv, d), g = gpu().attention(gq, gk, gv, d);
  await expectSame(gpu(), g.o, c.o, 1e-4, 1e-5, `o ${what}`);
  await expectSame(gpu(), g.lse, c.lse, 1e-5, 1e-5, `lse ${what}`);
  // Backward from each side's own forward (as autograd would), compared element-wise.
  const cb = cpu.attentionBwd(cq, ck, cv, c.o, c.lse, cg, d);
  const gb = gpu().attentionBwd(gq, gk, gv, g.o, g.lse, gg, d);
  await expectSame(gpu(), gb.dq, cb.dq, 2e-3, 2e-4, `dq ${what}`);
  await expectSame(gpu(), gb.dk, cb.dk, 2e-3, 2e-4, `dk ${what}`);
  await expectSame(gpu(), gb.dv, cb.dv, 2e-3, 2e-4, `dv ${what}`);
}

test('attention forward and backward match the CPU on random shapes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        n: fc.integer({ min: 1, max: 3 }),
        l: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 70 })),
        s: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 70 })),
        dims: fc.constantFrom<[number, number]>([9, 72], [3, 5]),
      }),
      fc.integer(),
      async ({ n, l, s, dims: [dqk, dv] }, seed) => check({ n, l, s, dqk, dv, scale: 1 / Math.sqrt(dqk) }, seed),
    ),
    { numRuns: 14, seed: 11 },
  );
});

test('attention: l = s = 300 (many tiles), l ≠ s, large logits, many heads with l = 16', async () => {
  await check({ n: 1, l: 300, s: 300, dqk: 72, dv: 72, scale: 1 / Math.sqrt(72) }, 1);
  await check({ n: 2, l: 33, s: 129, dqk: 9, dv: 72, scale: 1 / 3 }, 2);
  await check({ n: 1, l: 40, s: 40, dqk: 9, dv: 72, scale: 1 }, 3, 4); // logits up to ~70
  await check({ n: 40, l: 16, s: 16, dqk: 9, dv: 72, scale: 1 / 3 }, 4);
});

test('attention at the longest sequence the issue names: l = s = 4096, head dims 64 and 9 / 72 (~12 s on lavapipe)', async () => {
  await check({ n: 1, l: 4096, s: 4096, dqk: 64, dv: 64, scale: 1 / 8 }, 5);
  await check({ n: 3, l: 37, s: 19, dqk: 64, dv: 64, scale: 1 / 8 }, 7); // ragged tiles at head dim 64
  await check({ n: 1, l: 4096, s: 4096, dqk: 9, dv: 72, scale: 1 / 3 }, 6);
});

test('attention: neighbouring rows of one block with logits ~180 apart (each row rescaled by its own maximum)', async () => {
  // Rows of q are +10 or −10 in every dim, switching every 4 rows, and k is positive, so the
  // scores of nearby rows lie around +90 and −90: a row that took another row's tile maximum
  // (e.g. the partials read at a wrong stride) loses every key to e^{S−m} = 0 or overflows.
  // The random tests' rows have similar maxima, where any maximum works (softmax is shift-invariant).
  const d = { n: 2, l: 37, s: 35, dqk: 9, dv: 72, scale: 1 };
  const q = Float32Array.from({ length: d.n * d.l * d.dqk }, (_, i) => (Math.floor((Math.floor(i / d.dqk) % d.l) / 4) % 2 ? -10 : 10));
  const k = randomData(d.n * d.s * d.dqk, 31, 0.5, 1.5);
  const [cq, gq] = both(gpu(), q), [ck, gk] = both(gpu(), k);
  const [cv, gv] = both(gpu(), randomData(d.n * d.s * d.dv, 32));
  const [cg, gg] = both(gpu(), randomData(d.n * d.l * d.dv, 33));
  const c = cpu.attention(cq, ck, cv, d), g = gpu().attention(gq, gk, gv, d);
  await expectSame(gpu(), g.o, c.o, 1e-4, 1e-5, 'o');
  await expectSame(gpu(), g.lse, c.lse, 1e-5, 1e-5, 'lse');
  const cb = cpu.attentionBwd(cq, ck, cv, c.o, c.lse, cg, d), gb = gpu().attentionBwd(gq, gk, gv, g.o, g.lse, gg, d);
  for (const w of ['dq', 'dk', 'dv'] as const) await expectSame(gpu(), gb[w], cb[w], 2e-3, 2e-4, w);
});

test('the attention kernels write only their own rows: a sentinel just past o, lse, dq, dk and dv survives', async () => {
  // One head, so a row written one past the last (a guard `<=` for `<` on a ragged last block)
  // lands in the sentinel instead of in another head's row, where the workgroup that owns it
  // (running later on lavapipe) would overwrite it and hide the bug. l = 37 and s = 35 leave
  // ragged last blocks in every kernel; dqk = 9 exercises the scalar stores, dv = 72 the vec4 ones.
  // (The tiles are those of the l ≠ s case above: no new pipelines.)
  const d = { n: 1, l: 37, s: 35, dqk: 9, dv: 72, scale: 1 / 3 };
  const { ctx } = gpu() as WebGpuBackend;
  const SENT = 7777, TAIL = 64;
  const upload = (x: Float32Array, tail = 0): GPUBuffer => {
    const data = new Float32Array(x.length + tail).fill(SENT);
    data.set(x);
    const b = ctx.device.createBuffer({ size: data.byteLength, usage: STORAGE_USAGE() });
    ctx.device.queue.writeBuffer(b, 0, data);
    return b;
  };
  const data = [randomData(d.l * d.dqk, 1), randomData(d.s * d.dqk, 2), randomData(d.s * d.dv, 3), randomData(d.l * d.dv, 4)];
  const [q, k, v, dO] = data.map((x) => upload(x)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  const sized = (n: number) => upload(new Float32Array(n), TAIL);
  const outs = { o: sized(d.l * d.dv), lse: sized(d.l), dq: sized(d.l * d.dqk), dk: sized(d.s * d.dqk), dv: sized(d.s * d.dv) };
  encodeAttention(ctx, q, k, v, outs.o, outs.lse, d);
  encodeAttentionBwd(ctx, q, k, v, outs.o, outs.lse, dO, { dq: outs.dq, dk: outs.dk, dv: outs.dv }, d);
  const sizes = { o: d.l * d.dv, lse: d.l, dq: d.l * d.dqk, dk: d.s * d.dqk, dv: d.s * d.dv };
  const names = Object.keys(outs) as (keyof typeof outs)[];
  const got = (await ctx.read(names.map((w) => ({ buffer: outs[w], bytes: (sizes[w] + TAIL) * 4 })))).map((b) => new Float32Array(b));
  // The rows themselves against the CPU, then the tails.
  const [cq, ck, cv, cdO] = data.map((x) => cpu.fromArray(x, 'f32'));
  const c = cpu.attention(cq!, ck!, cv!, d);
  const cb = cpu.attentionBwd(cq!, ck!, cv!, c.o, c.lse, cdO!, d);
  const want = { o: c.o, lse: c.lse, dq: cb.dq, dk: cb.dk, dv: cb.dv };
  names.forEach((w, i) => {
    assertClose(got[i]!.subarray(0, sizes[w]), cpu.readSync!(want[w]), 2e-3, 2e-4, w);
    const bad = got[i]!.subarray(sizes[w]).findIndex((x) => x !== SENT);
    assert.equal(bad, -1, `${w}: element ${bad} past its ${sizes[w]} was written`);
  });
  for (const b of [q, k, v, dO, ...Object.values(outs)]) b.destroy();
});

test('the autograd attention op on the GPU matches the CPU (values and gradients)', async () => {
  const [B, H, L, d] = [2, 2, 19, 72];
  const data = [randomData(B * H * L * d, 1), randomData(B * H * L * d, 2), randomData(B * H * L * d, 3)];
  const r = randomData(B * H * L * d, 4);
  const run = async (backend: 'cpu' | 'gpu') => {
    const opts = { backend: backend === 'cpu' ? cpu : gpu(), requiresGrad: true };
    const [q, k, v] = data.map((x) => tensor(x, [B, H, L, d], opts));
    const y = A.attention(q!, k!, v!);
    A.backward(A.sum(A.mul(y, tensor(r, [B, H, L, d], { backend: opts.backend }))));
    return [await y.toArray(), await q!.grad!.toArray(), await k!.grad!.toArray(), await v!.grad!.toArray()];
  };
  const [c, g] = [await run('cpu'), await run('gpu')];
  ['y', 'dq', 'dk', 'dv'].forEach((w, i) => assertClose(g[i]!, c[i]!, 2e-3, 2e-4, w));
});

test('attention in every thread layout (rows per invocation × sharers) matches the CPU, ragged tiles both ways', async () => {
  // Forced on all three kernels; column groups that do not divide the head dim (18 vec4 over 16
  // sharers, 3 over 4) and tiles that do not divide the sequences.
  try {
    // (Each layout is three pipelines to compile, seconds each on lavapipe: two layouts cover both knobs.)
    attentionTuning.tiles = { fwd: { bq: 16, bk: 16, tr: 2, kg: 16 }, dq: { bq: 16, bk: 16, tr: 2, kg: 16 }, dkdv: { bq: 16, bk: 16, tr: 2, kg: 16 } };
    await check({ n: 2, l: 37, s: 21, dqk: 72, dv: 72, scale: 1 / Math.sqrt(72) }, 10);
    attentionTuning.tiles = { fwd: { bq: 8, bk: 8, tr: 1, kg: 4 }, dq: { bq: 8, bk: 8, tr: 1, kg: 4 }, dkdv: { bq: 8, bk: 8, tr: 1, kg: 4 } };
    await check({ n: 3, l: 19, s: 13, dqk: 9, dv: 12, scale: 1 / 3 }, 20);
    // Six sharers (not a power of two: 24 invocations, a row group's lanes across subgroup
    // boundaries), at d = 72 where they fill the 18 vec4 columns; 12-row tiles.
    const six = { bq: 16, bk: 12, tr: 4, kg: 6 };
    attentionTuning.tiles = { fwd: six, dq: six, dkdv: six };
    await check({ n: 2, l: 37, s: 29, dqk: 72, dv: 72, scale: 1 / Math.sqrt(72) }, 30);
  } finally {
    attentionTuning.tiles = {};
  }
});

test('attention staged with batched loads (the form GPUs run; lavapipe runs a loop) matches the CPU', async () => {
  // The GPU form issues each invocation's loads of a tile at once into registers, then stores
  // them. 8×32 tiles with 2 rows × 4 sharers are 16 invocations: the owned block's 8 rows × 3 vec4
  // of q fill 1.5 rounds of them (a partial round), the dK/dV kernel's 32 rows of lse and D two;
  // q, k rows of 9 are read as scalars, v rows of 20 as vec4; tiles do not divide l or s.
  try {
    attentionTuning.batchedStaging = true;
    attentionTuning.tiles = { fwd: { bq: 8, bk: 32, tr: 2, kg: 4 }, dq: { bq: 8, bk: 32, tr: 2, kg: 4 }, dkdv: { bq: 8, bk: 32, tr: 2, kg: 4 } };
    await check({ n: 3, l: 45, s: 37, dqk: 9, dv: 20, scale: 1 / 3 }, 40);
  } finally {
    attentionTuning.batchedStaging = undefined;
    attentionTuning.tiles = {};
  }
});

test('accumulate loops over whole tiles (a count the compiler knows) or the valid rows match the CPU, ragged tiles both ways', async () => {
  // The rows past a ragged last tile's valid ones must add exactly nothing: zero-staged operands,
  // P and dS masked to 0. Batched staging (the GPU form) and the GPUs' layouts; l, s not multiples of any tile.
  try {
    attentionTuning.wholeTiles = ['fwd', 'dq', 'dkdv'];
    attentionTuning.batchedStaging = true;
    attentionTuning.tiles = { fwd: { bq: 16, bk: 24, tr: 4, kg: 6 }, dq: { bq: 16, bk: 16, tr: 2, kg: 8, alias: true }, dkdv: { bq: 16, bk: 16, tr: 2, kg: 8 } };
    await check({ n: 2, l: 45, s: 37, dqk: 72, dv: 72, scale: 1 / Math.sqrt(72) }, 80);
    attentionTuning.batchedStaging = undefined;
    attentionTuning.tiles = {};
    await check({ n: 3, l: 19, s: 21, dqk: 9, dv: 20, scale: 1 / 3 }, 81);
    // and every loop over the valid rows only (the default does some kernels each way).
    attentionTuning.wholeTiles = [];
    await check({ n: 3, l: 19, s: 21, dqk: 9, dv: 20, scale: 1 / 3 }, 82);
  } finally {
    attentionTuning.wholeTiles = undefined;
    attentionTuning.batchedStaging = undefined;
    attentionTuning.tiles = {};
  }
});

test('AVDIT_ATTENTION_WHOLE_TILES: 1, 0, a list of kernels, or unset for the default list; anything else is a clear error', () => {
  const old = process.env.AVDIT_ATTENTION_WHOLE_TILES;
  const all = () => (['fwd', 'dq', 'dkdv'] as const).map((k) => wholeTiles(k));
  try {
    delete process.env.AVDIT_ATTENTION_WHOLE_TILES;
    assert.deepEqual(all(), (['fwd', 'dq', 'dkdv'] as const).map((k) => WHOLE_TILES_DEFAULT.includes(k)), 'unset: the default list');
    assert.deepEqual(WHOLE_TILES_DEFAULT, ['fwd', 'dkdv']);
    process.env.AVDIT_ATTENTION_WHOLE_TILES = '0';
    assert.deepEqual(all(), [false, false, false]);
    process.env.AVDIT_ATTENTION_WHOLE_TILES = '1';
    assert.deepEqual(all(), [true, true, true]);
    process.env.AVDIT_ATTENTION_WHOLE_TILES = 'dq, dkdv';
    assert.deepEqual(all(), [false, true, true]);
    attentionTuning.wholeTiles = ['fwd'];
    assert.deepEqual(all(), [true, false, false]);
    attentionTuning.wholeTiles = undefined;
    process.env.AVDIT_ATTENTION_WHOLE_TILES = 'dq,bwd';
    assert.throws(() => wholeTiles('fwd'), /AVDIT_ATTENTION_WHOLE_TILES=dq,bwd: expected 1, 0 or a list of fwd, dq, dkdv/);
  } finally {
    attentionTuning.wholeTiles = undefined;
    if (old === undefined) delete process.env.AVDIT_ATTENTION_WHOLE_TILES;
    else process.env.AVDIT_ATTENTION_WHOLE_TILES = old;
  }
});

test('the defaults on GPUs (run 9\'s sweep) at XL\'s shapes, and as picked under lavapipe\'s 32 KiB in the batched form, match the CPU', async () => {
  // A kernel's tiles for queries l and keys s (dK/dV owns the keys).
  const tilesFor = (kind: 'fwd' | 'dq' | 'dkdv', l: number, s: number, dqk: number, dv: number, limit: number, software: boolean) =>
    pickTiles(kind, kind === 'dkdv' ? s : l, kind === 'dkdv' ? l : s, dqk, dv, limit, software);
  const pick = (...a: Parameters<typeof tilesFor>): string => tilesName(tilesFor(...a));
  const xl = (l: number, dqk: number): string[] => (['fwd', 'dq', 'dkdv'] as const).map((k) => pick(k, l, l, dqk, 72, 49152, false));
  assert.deepEqual(xl(256, 72), ['64x24:4x6', '64x16:2x8:a', '32x32:2x8'], 'spatial');
  assert.deepEqual(xl(416, 72), ['64x24:4x6', '64x16:2x8:a', '32x32:2x8'], 'fusion');
  assert.deepEqual(xl(16, 9), ['16x8', '16x8:2x8', '16x8:2x8'], 'temporal');
  // Software adapters keep their own (the same shapes under lavapipe's 32 KiB).
  assert.deepEqual((['fwd', 'dq', 'dkdv'] as const).map((k) => pick(k, 256, 256, 72, 72, 32768, true)), ['32x16', '32x16', '16x8']);
  // What the GPU rules pick where only 32 KiB fit (dQ's aliased block, six sharers, two rows per
  // invocation), run in the GPU's staging form; ragged tiles both ways.
  const limit = (gpu() as WebGpuBackend).ctx.limits.maxComputeWorkgroupStorageSize;
  try {
    attentionTuning.batchedStaging = true;
    for (const [l, s, dqk, dv] of [[45, 37, 72, 72], [19, 16, 9, 72]] as const) {
      const t = (kind: 'fwd' | 'dq' | 'dkdv') => tilesFor(kind, l, s, dqk, dv, limit, false);
      attentionTuning.tiles = { fwd: t('fwd'), dq: t('dq'), dkdv: t('dkdv') };
      await check({ n: 2, l, s, dqk, dv, scale: 1 / Math.sqrt(dqk) }, 70 + l);
    }
  } finally {
    attentionTuning.batchedStaging = undefined;
    attentionTuning.tiles = {};
  }
});

test('the dQ kernel with its scores in the V tile\'s memory (aliased tiles) matches the CPU', async () => {
  // At d = 72 the V tile is the bigger array; at dv = 12 the scores are (the shared array takes
  // the larger); s = 37 and 21 leave ragged last tiles, whose masked scores must be written as 0.
  try {
    attentionTuning.tiles = { dq: { bq: 32, bk: 16, alias: true } };
    await check({ n: 2, l: 45, s: 37, dqk: 72, dv: 72, scale: 1 / Math.sqrt(72) }, 50);
    attentionTuning.tiles = { dq: { bq: 32, bk: 16, tr: 2, kg: 8, alias: true } };
    await check({ n: 3, l: 19, s: 21, dqk: 9, dv: 12, scale: 1 / 3 }, 60);
    // Only dQ aliases; a config that does not fit is refused, not silently replaced.
    attentionTuning.tiles = { fwd: { bq: 32, bk: 16, alias: true } };
    assert.throws(() => pickTiles('fwd', 64, 64, 72, 72, 32768, true), /only the dQ kernel aliases/);
  } finally {
    attentionTuning.tiles = {};
  }
});

test('attention tiles: names round-trip, bad layouts and AVDIT_ATTENTION_TILES entries are clear errors', () => {
  assert.deepEqual(parseTiles('32x32:2x16'), { bq: 32, bk: 32, tr: 2, kg: 16 });
  assert.equal(tilesName({ bq: 32, bk: 32, tr: 2, kg: 16 }), '32x32:2x16');
  assert.equal(tilesName({ bq: 64, bk: 32 }), '64x32');
  assert.deepEqual(parseTiles('64x16:2x8:a'), { bq: 64, bk: 16, tr: 2, kg: 8, alias: true });
  assert.equal(tilesName({ bq: 64, bk: 16, alias: true }), '64x16:a');
  assert.deepEqual(parseTiles('64x16:a'), { bq: 64, bk: 16, alias: true });
  // At d = 72 on NVIDIA's 48 KiB, dQ's 64×16 fits only aliased (46 592 bytes against 50 944).
  assert.equal(tileBytes('dq', { bq: 64, bk: 16 }, 72, 72), 50944);
  assert.equal(tileBytes('dq', { bq: 64, bk: 16, alias: true }, 72, 72), 46592);
  assert.equal(parseTiles('64x32:3x8'), null);
  assert.deepEqual(parseTiles('64x24:4x6'), { bq: 64, bk: 24, tr: 4, kg: 6 });
  assert.match(tilesError({ bq: 64, bk: 32, tr: 4, kg: 6 })!, /the tile \(32\) by 6/);
  assert.match(tilesError({ bq: 64, bk: 32, tr: 4, kg: 12 })!, /sharers 4, 6, 8, 16 \(got 4, 12\)/);
  // The sweep offers six sharers where they idle fewer output columns than eight (18 vec4s at
  // d = 72, not 16 at d = 64), with 3/4 of the nominal tile's keys.
  const sixes = (dqk: number, dv: number): string[] =>
    tileCandidates('fwd', 256, 256, dqk, dv, 49152, LAYOUTS).filter((t) => t.kg === 6).map(tilesName);
  assert.deepEqual(sixes(72, 72).slice(0, 2), ['64x24:4x6', '64x12:4x6']);
  assert.deepEqual(sixes(64, 64), []);
  assert.equal(nominalRows({ bq: 64, bk: 24, tr: 4, kg: 6 }), 32);
  assert.equal(nominalRows({ bq: 64, bk: 32, tr: 2, kg: 16 }), 32);
  assert.match(tilesError({ bq: 64, bk: 32, tr: 1, kg: 16 })!, /1024 invocations/);
  const old = process.env.AVDIT_ATTENTION_TILES;
  try {
    process.env.AVDIT_ATTENTION_TILES = JSON.stringify({ 'dq:72x72:256x256': '32x32:2x16' });
    assert.deepEqual(pickTiles('dq', 256, 256, 72, 72, 49152, true), { bq: 32, bk: 32, tr: 2, kg: 16 });
    // A measured config that does not fit this device's workgroup memory falls back to the candidates.
    const small = pickTiles('dq', 256, 256, 72, 72, tileBytes('dq', { bq: 32, bk: 32 }, 72, 72) - 1, true);
    assert.ok(tileBytes('dq', small, 72, 72) < tileBytes('dq', { bq: 32, bk: 32 }, 72, 72));
    process.env.AVDIT_ATTENTION_TILES = JSON.stringify({ 'dq:72x72:256x256': '64x16:a' });
    assert.deepEqual(pickTiles('dq', 256, 256, 72, 72, 49152, true), { bq: 64, bk: 16, alias: true });
    process.env.AVDIT_ATTENTION_TILES = JSON.stringify({ 'dkdv:72x72:256x256': '64x16:a' });
    assert.throws(() => pickTiles('dkdv', 256, 256, 72, 72, 49152, true), /AVDIT_ATTENTION_TILES: dkdv:72x72:256x256 → '64x16:a': only the dQ kernel aliases/);
    process.env.AVDIT_ATTENTION_TILES = JSON.stringify({ 'dq:72x72:256x256': '32x32:3x8' });
    assert.throws(() => pickTiles('dq', 256, 256, 72, 72, 49152, true), /AVDIT_ATTENTION_TILES: dq:72x72:256x256 → '32x32:3x8'/);
  } finally {
    if (old === undefined) delete process.env.AVDIT_ATTENTION_TILES;
    else process.env.AVDIT_ATTENTION_TILES = old;
  }
});

test('the staging form: batched on GPUs and the loop on software adapters, unless AVDIT_ATTENTION_STAGING or the hook says otherwise', () => {
  const old = process.env.AVDIT_ATTENTION_STAGING;
  try {
    delete process.env.AVDIT_ATTENTION_STAGING;
    assert.deepEqual([batchedStaging(false), batchedStaging(true), stagingKey(false), stagingKey(true)], [true, false, '', '']);
    process.env.AVDIT_ATTENTION_STAGING = 'loop';
    assert.deepEqual([batchedStaging(false), stagingKey(false), stagingKey(true)], [false, '/loop', '']);
    process.env.AVDIT_ATTENTION_STAGING = 'batched';
    assert.deepEqual([batchedStaging(true), stagingKey(true)], [true, '/batched']);
    attentionTuning.batchedStaging = false;
    assert.equal(batchedStaging(true), false);
    attentionTuning.batchedStaging = undefined;
    process.env.AVDIT_ATTENTION_STAGING = 'fast';
    assert.throws(() => batchedStaging(false), /AVDIT_ATTENTION_STAGING=fast: expected loop or batched/);
  } finally {
    attentionTuning.batchedStaging = undefined;
    if (old === undefined) delete process.env.AVDIT_ATTENTION_STAGING;
    else process.env.AVDIT_ATTENTION_STAGING = old;
  }
});
