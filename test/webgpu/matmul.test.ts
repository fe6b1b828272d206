/**
 * Every matmul variant this machine can run (lavapipe: v1, v2, v3, v4emu; NVIDIA adds v4)
 * against a plain JS reference: odd sizes, all transposes, batches, stride-0 broadcast, K = 0,
 * vec4 and scalar load paths, interior and edge tiles.
 *
 * Small tile configs keep lavapipe's (slow) shader compiles short; each variant also runs once
 * with its default config so the configs the GPU uses are checked too.
 * Error measure: |gpu − ref| / Σ_k |a·b| (max over outputs), which does not blow up on
 * cancellation: f32 variants < 1e-5, f16-operand variants < 2e-3 (f16 unit roundoff 2^-11).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { GpuHarness } from '../../bench/gpu-harness.ts';
import { sgName, sgWgsl, storeStagger } from '../../kernels/matmul-sgmat.ts';
import { tiledTuning, tiledWgsl, tileSwizzle } from '../../kernels/matmul-tiled.ts';
import { chooseVariant, encodeMatmul, MATMUL_DEFAULTS, parseVariant, splitKFor, V4_MIN_OUT_BYTES, variantSupport, type MatmulParams } from '../../kernels/matmul.ts';
import { encodeToF16, f16Bytes } from '../../kernels/cast-f16.ts';
import { matmulReference as reference, tensorCoreContext } from './matmul-reference.ts';

// Opened at load time: which variants get a test depends on what the device offers.
const h: GpuHarness = await GpuHarness.open();
after(() => h.destroy());

/** Deterministic uniform(-1, 1) values. */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

type Case = [batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean, broadcast: 'none' | 'A' | 'B'];

async function run(variant: string | undefined, c: Case, precision?: 'f32' | 'mixed', withBias = false): Promise<number> {
  const [batch, M, N, K, transA, transB, bc] = c;
  const p: MatmulParams = {
    batch, M, N, K, transA, transB,
    strideA: bc === 'A' ? 0 : M * K,
    strideB: bc === 'B' ? 0 : K * N,
    ...(variant ? { variant } : {}),
    ...(precision ? { precision } : {}),
  };
  const a = rand(Math.max(1, (bc === 'A' ? 1 : batch) * M * K), 1 + M * 7 + K);
  const b = rand(Math.max(1, (bc === 'B' ? 1 : batch) * K * N), 2 + N * 13 + K);
  const ga = h.upload(a);
  const gb = h.upload(b);
  const bias = withBias ? rand(N, 3 + N).map((x) => 4 * x) : null;
  const gbias = bias ? h.upload(bias) : null;
  // At least one f32 fragment (v4 refuses smaller outputs; the engine's pool hands out such
  // buffers), all of it poisoned: unwritten elements show, and so do writes past M×N (checked below).
  const slots = Math.max(batch * M * N, V4_MIN_OUT_BYTES / 4);
  const go = h.buffer(slots * 4);
  h.device.queue.writeBuffer(go, 0, new Float32Array(slots).fill(12345));
  try {
    encodeMatmul(h, ga, gb, go, p, gbias);
    await h.checkErrors();
    const all = await h.read(go, slots);
    const past = all.subarray(batch * M * N).findIndex((x) => x !== 12345);
    assert.equal(past, -1, `${variant ?? 'auto'} ${JSON.stringify(c)}: wrote element ${batch * M * N + past}, past the M×N output`);
    const got = all.subarray(0, batch * M * N);
    const { val, mag } = reference(a, b, p, bias);
    let err = 0;
    for (let i = 0; i < got.length; i++) {
      const e = Math.abs(got[i]! - val[i]!) / (mag[i]! + 1e-6);
      if (!(e <= err)) err = Number.isNaN(e) ? Infinity : Math.max(err, e);
    }
    return err;
  } finally {
    ga.destroy();
    gb.destroy();
    gbias?.destroy();
    go.destroy();
  }
}

// Four pipelines per variant: NN and TT with vec4 loads, NT and TN scalar (odd sizes).
const CASES: Case[] = [
  [3, 72, 136, 40, false, false, 'B'], // NN vec4, B shared across the batch, edge + interior tiles
  [1, 4, 8, 100, false, false, 'none'],
  [2, 64, 64, 96, true, true, 'A'], // TT vec4, A shared
  [1, 132, 68, 4, true, true, 'none'],
  [1, 33, 65, 7, false, true, 'none'], // NT scalar
  [2, 65, 1, 33, false, true, 'none'],
  [1, 5, 6, 0, false, true, 'none'], // K = 0 → zeros
  [2, 1, 7, 65, true, false, 'none'], // TN scalar
  [1, 7, 33, 1, true, false, 'B'],
];

// v4emu compiles slowly on lavapipe (~15 s per pipeline), so by default it runs only NT and TN:
// between them each operand is loaded both row-major and column-major, with interior (direct)
// and edge (staged) write-back. AVDIT_TEST_FULL=1 runs every case.
const EMU_CASES: Case[] = process.env['AVDIT_TEST_FULL']
  ? CASES
  : [
      [2, 72, 136, 40, false, true, 'B'], // NT vec4, 2×3 tiles of 64: interior + edges, K tail
      [2, 132, 68, 72, true, false, 'A'], // TN vec4
      [1, 64, 64, 64, true, false, 'none'], // TN, one interior tile
    ];

// [variant, tolerance]: small configs for the full case list, default configs for one case.
const RUNS: [string, number, Case[]][] = [
  ['v1', 1e-5, CASES],
  ['v2:32x32x8', 1e-5, CASES],
  ['v2', 1e-5, [CASES[0]!]],
  ['v2:64x32x8:4x8', 1e-5, [CASES[0]!, CASES[4]!, CASES[7]!]], // TM ≠ TN thread tiles
  ['v3:32x32x8', 2e-3, CASES],
  ['v3', 2e-3, [CASES[0]!]],
  ['v4emu', 2e-3, EMU_CASES],
  ['v4emu:128x128x32:2x4', 2e-3, [[1, 136, 132, 40, false, false, 'none']]],
  ['v4emu:64x64x32:2x2:s1', 2e-3, [[2, 72, 136, 72, false, true, 'B']]], // one workgroup-memory stage
  ['v4emu:64x64x32:2x2:h:np', 2e-3, [[1, 33, 65, 70, false, true, 'none']]], // f16 registers (scalar loads), no prefetch
  ['v4emu:64x64x32:2x2:s1:h:np', 2e-3, [[2, 132, 68, 72, true, false, 'A']]], // the same with one stage, vec4 loads
  ['v4emu:64x64x32:2x2:z', 2e-3, [[2, 72, 136, 40, false, true, 'B']]], // staggered staging stores
  ['v4emu:64x64x64:2x2:s1:h:z', 2e-3, [[1, 132, 68, 72, true, false, 'A']]],
  ['v4', 2e-3, CASES],
];

// Variants this device cannot run (v4 without subgroup matrices, configs over the workgroup
// memory limit) get no test of their own: the test below checks they are refused with a reason.
const unsupported: [string, string][] = [];
for (const [variant, tol, cases] of RUNS) {
  const why = variantSupport(h, parseVariant(variant));
  if (why) {
    unsupported.push([variant, why]);
    continue;
  }
  test(`matmul ${variant}`, async () => {
    for (const c of cases) {
      const err = await run(variant, c);
      assert.ok(err < tol, `${variant} ${JSON.stringify(c)}: error ${err} ≥ ${tol}`);
    }
  });
}

/**
 * The direct forms (B, and with `ga` A, read as f16 copies) against the staged `staged` variant,
 * bit for bit, on `cases` (inputs from seed + M and seed + 1 + N); `check` sees each direct output.
 */
async function sameBitsAsStaged(
  staged: string, forms: readonly string[], cases: readonly Case[], seed: number,
  check?: (direct: Float32Array, a: Float32Array, b: Float32Array, p: MatmulParams) => void,
): Promise<void> {
  for (const [batch, M, N, K, transA, transB, bc] of cases) {
    const p: MatmulParams = { batch, M, N, K, transA, transB, strideA: bc === 'A' ? 0 : M * K, strideB: bc === 'B' ? 0 : K * N };
    const a = rand((bc === 'A' ? 1 : batch) * M * K, seed + M), b = rand((bc === 'B' ? 1 : batch) * K * N, seed + 1 + N);
    const ga = h.upload(a), gb = h.upload(b), gah = h.buffer(f16Bytes(a.length)), gbh = h.buffer(f16Bytes(b.length));
    const outs = [staged, ...forms].map(() => h.buffer(batch * M * N * 4));
    try {
      encodeToF16(h, ga, gah, a.length);
      encodeToF16(h, gb, gbh, b.length);
      encodeMatmul(h, ga, gb, outs[0]!, { ...p, variant: staged });
      forms.forEach((form, f) => encodeMatmul(h, form.split(':').includes('ga') ? gah : ga, gbh, outs[f + 1]!, { ...p, variant: `${staged}${form}` }));
      await h.checkErrors();
      const plain = await h.read(outs[0]!, batch * M * N);
      for (const [f, form] of forms.entries()) {
        const direct = await h.read(outs[f + 1]!, batch * M * N);
        const i = plain.findIndex((x, j) => !Object.is(x, direct[j]));
        assert.equal(i, -1, `${staged}${form} ${JSON.stringify([batch, M, N, K, transA, transB, bc])}: element ${i}: ${plain[i]} vs ${direct[i]}`);
        check?.(direct, a, b, p);
      }
    } finally {
      for (const x of [ga, gb, gah, gbh, ...outs]) x.destroy();
    }
  }
}

// v4 `:gb` reads B as f16 fragments straight from memory (a converted copy), staging only A: the
// same products in the same order as staging both, so the same bits. Edge tiles in M and N (the
// fragments past N skipped), a K tail (k slices past K skipped), B shared across a batch; NT and
// TN with vec4 loads of A, whose plain pipelines EMU_CASES has compiled already.
const GB_CASES: Case[] = [
  [2, 80, 48, 64, false, true, 'B'], // N ≠ K: a transposed B's stride (K) cannot pass for N
  [1, 72, 96, 80, true, false, 'none'],
];
for (const base of ['v4emu:64x64x32:2x2', 'v4:64x64x32:2x2']) {
  if (variantSupport(h, parseVariant(base))) continue;
  test(`matmul ${base}:gb (B as f16 from global memory) gives the same bits as ${base}`, async () => {
    await sameBitsAsStaged(base, [':gb'], GB_CASES, 5, (direct, a, b, p) => {
      const { val, mag } = reference(a, b, p, null);
      const err = Math.max(...[...direct].map((x, j) => Math.abs(x - val[j]!) / (mag[j]! + 1e-6)));
      assert.ok(err < 2e-3, `error ${err}`);
    });
    assert.throws(() => encodeMatmul(h, h.buffer(64), h.buffer(64), h.buffer(V4_MIN_OUT_BYTES), { batch: 1, M: 4, N: 4, K: 4, transA: false, transB: false, strideA: 16, strideB: 16, variant: `${base}:gb` }), /multiples of 16/);
  });
}

// v4 `:gb:ga` reads both operands as f16 fragments straight from memory (nothing staged, no
// barrier in the K loop): again the same bits. M must be a multiple of 16 too; edge tiles in M
// (the last whole fragment read in place of those past M) and N, a K tail, A or B shared across
// a batch, NT / TN / TT.
const GA_CASES: Case[] = [
  [2, 80, 48, 48, false, true, 'B'],
  [1, 48, 96, 80, true, false, 'none'],
  [2, 32, 64, 48, true, true, 'A'],
];
for (const base of ['v4emu:64x64x32:2x2', 'v4:64x64x32:2x2']) {
  if (variantSupport(h, parseVariant(base))) continue;
  test(`matmul ${base}:gb:ga (A and B as f16 from global memory) gives the same bits as ${base}`, async () => {
    await sameBitsAsStaged(base, [':gb:ga'], GA_CASES, 7);
    assert.throws(() => encodeMatmul(h, h.buffer(64), h.buffer(64), h.buffer(V4_MIN_OUT_BYTES), { batch: 1, M: 8, N: 16, K: 16, transA: false, transB: false, strideA: 128, strideB: 256, variant: `${base}:gb:ga` }), /M \(8\) must be a multiple of 16/);
  });
}

// v4 `:gb:ga:fs` takes both operands as f16 too, but stages them in workgroup memory through
// fragment copies (one and two stages), and `:gb:fs` B alone (A staged from f32 registers): the
// same bits as the plain v4 again, on GA_CASES (edge tiles in M and N, K tails, a shared operand,
// every transpose but NN) and an NN case.
for (const base of ['v4emu:64x64x32:2x2', 'v4:64x64x32:2x2']) {
  if (variantSupport(h, parseVariant(base))) continue;
  test(`matmul ${base}:gb:ga:fs and :gb:fs (f16 operands staged through fragments) give the same bits as ${base}`, async () => {
    for (const stages of ['', ':s1']) await sameBitsAsStaged(`${base}${stages}`, [':gb:ga:fs', ':gb:fs'], [...GA_CASES, [1, 64, 64, 64, false, false, 'none']], 7);
  });
}

test('v4 :gb:ga:fs with the real builtins: blocks copied through left fragments into As and Bs, no scalar staging, no branch around the copies', () => {
  for (const [transA, transB] of [[false, true], [true, false]] as const) {
    const code = sgWgsl({ BM: 128, BN: 128, BK: 64, SGM: 2, SGN: 4, ST: 1, GB: true, GA: true, FS: true }, transA, transB, true, false, 'new');
    assert.match(code, /var<storage, read> A: array<f16>;/);
    assert.match(code, /var<workgroup> As: array<f16, \d+>;/);
    assert.match(code, /var<workgroup> Bs: array<f16, \d+>;/);
    // Each subgroup copies 4 blocks of each 128×64 tile (32 blocks, 8 subgroups) per K-step.
    assert.equal((code.match(/subgroupMatrixStore<row_major>\(&As, /g) ?? []).length, 2 * 4, 'the first K-step and the loop');
    assert.match(code, /fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>\(&A, offA \+ go \* /);
    assert.doesNotMatch(code, /\br[ab]\d+ = |if \(more\)/);
    assert.match(code, /if \(k0t \+ 16u < P\.K\)/, 'k slices past K are skipped');
  }
  assert.throws(() => parseVariant('v4:128x128x32:2x4:fs'), /fs .* needs gb/);
  // B alone (gb:fs): A staged from its f32 registers as usual, B's blocks through fragments.
  const bOnly = sgWgsl({ BM: 128, BN: 128, BK: 64, SGM: 2, SGN: 4, ST: 1, GB: true, FS: true }, false, true, true, false, 'new');
  assert.match(bOnly, /var<storage, read> A: array<vec4<f32>>;/);
  assert.match(bOnly, /var<storage, read> B: array<f16>;/);
  assert.match(bOnly, /\bra\d+ = /);
  assert.equal((bOnly.match(/subgroupMatrixStore<row_major>\(&Bs, /g) ?? []).length, 2 * 4);
  assert.doesNotMatch(bOnly, /subgroupMatrixStore<row_major>\(&As, /);
  assert.throws(() => sgWgsl({ BM: 64, BN: 64, BK: 16, SGM: 2, SGN: 4, GB: true, GA: true, FS: true }, false, false, true, false, 'new'), /do not divide among 8 subgroups/);
});

test('v4 variant strings: ga needs gb', () => {
  assert.throws(() => parseVariant('v4:128x128x32:2x4:ga'), /ga .* needs gb/);
  assert.deepEqual((parseVariant('v4:128x128x32:2x4:gb:ga') as { cfg: unknown }).cfg, { BM: 128, BN: 128, BK: 32, SGM: 2, SGN: 4, ST: 2, GB: true, GA: true });
});

// A bias [N] added to every row (a Linear's): each variant's accumulators start at it. Cases with
// edge tiles (columns past N must read no bias), scalar and vec4 paths, and K = 0 (out = bias).
const BIAS_RUNS: [string, number, Case[]][] = [
  ['v1', 1e-5, [CASES[0]!, CASES[4]!]],
  ['v2:32x32x8', 1e-5, [CASES[0]!, CASES[4]!, CASES[6]!]],
  ['v2', 1e-5, [CASES[0]!]],
  ['v3:32x32x8', 2e-3, [CASES[0]!, CASES[4]!]],
  ['v4emu', 2e-3, [EMU_CASES[0]!]],
  ['v4', 2e-3, [CASES[0]!, CASES[4]!, CASES[6]!]],
];
for (const [variant, tol, cases] of BIAS_RUNS) {
  if (variantSupport(h, parseVariant(variant))) continue; // refused with a reason above
  test(`matmul ${variant} with a bias`, async () => {
    for (const c of cases) {
      const err = await run(variant, c, undefined, true);
      assert.ok(err < tol, `${variant} + bias ${JSON.stringify(c)}: error ${err} ≥ ${tol}`);
    }
  });
}

test('matmul variants this device lacks are refused with a reason', (t) => {
  for (const [variant, why] of unsupported) {
    t.diagnostic(`${variant}: ${why}`);
    assert.match(why, /subgroup|workgroup|f16|shader/i, `${variant}: unclear reason "${why}"`);
  }
});

test('matmul automatic choice', async () => {
  const forced = process.env['AVDIT_MATMUL'];
  delete process.env['AVDIT_MATMUL']; // the automatic choice is what is tested here
  after(() => {
    if (forced !== undefined) process.env['AVDIT_MATMUL'] = forced;
  });
  const p = { batch: 1, M: 40, N: 24, K: 16, transA: false, transB: false, strideA: 0, strideB: 0 };
  assert.equal(chooseVariant(h, p).name, 'v2');
  const mixed = chooseVariant(h, { ...p, precision: 'mixed' }).name;
  assert.equal(mixed, h.features.subgroupMatrix ? 'v4' : h.features.f16 ? 'v3' : 'v2');
  assert.ok((await run(undefined, [2, 40, 24, 16, false, false, 'none'], 'mixed')) < 2e-3);
  // On a card with tensor cores, an output buffer smaller than one f32 fragment goes to v3 (Dawn
  // refuses v4's fragment stores into it: seen on the H200).
  const tensorCores = { limits: h.limits, features: { ...h.features, f16: true, subgroupMatrix: { M: 16, N: 16, K: 16 } } } as unknown as typeof h;
  const small = { ...p, M: 8, N: 8, precision: 'mixed' as const };
  assert.equal(chooseVariant(tensorCores, small, 512).name, 'v3');
  assert.equal(chooseVariant(tensorCores, small, V4_MIN_OUT_BYTES).name, 'v4');
  assert.throws(() => chooseVariant(tensorCores, { ...small, variant: 'v4:64x64x32:2x2' }, 512), /at least 1024 bytes/);
  assert.throws(() => parseVariant('v9'));
  assert.throws(() => parseVariant('v2:128x128x16:6x8'));
  assert.throws(() => parseVariant('v4:128x128x32:2x4:s3'));
  assert.deepEqual(parseVariant('v4:256x128x32:4x2:s1'), { name: 'v4', cfg: { BM: 256, BN: 128, BK: 32, SGM: 4, SGN: 2, ST: 1 } });
  assert.deepEqual(parseVariant('v4:128x128x32:2x2:h:np'), { name: 'v4', cfg: { BM: 128, BN: 128, BK: 32, SGM: 2, SGN: 2, ST: 2, H: true, NP: true } });
  assert.throws(() => parseVariant('v4:128x128x32:2x2:hh'), /bad option 'hh'/);
  assert.deepEqual(parseVariant('v4:128x128x64:2x4:s1:z'), { name: 'v4', cfg: { BM: 128, BN: 128, BK: 64, SGM: 2, SGN: 4, ST: 1, Z: true } });
});

test('AVDIT_MATMUL_V4 gives mixed precision\'s big products another staged v4 config (a GPU sweep\'s pick); the small ones keep theirs', () => {
  const saved = [process.env['AVDIT_MATMUL'], process.env['AVDIT_MATMUL_V4']] as const;
  delete process.env['AVDIT_MATMUL'];
  const tensorCores = tensorCoreContext(h);
  const pick = (M: number): string => {
    const v = chooseVariant(tensorCores, { batch: 1, M, N: 4608, K: 1152, transA: false, transB: true, strideA: 0, strideB: 0, precision: 'mixed' });
    return v.name === 'v4' ? `v4:${sgName(v.cfg)}` : v.name;
  };
  try {
    delete process.env['AVDIT_MATMUL_V4'];
    assert.equal(pick(65536), `v4:${MATMUL_DEFAULTS.v4.big}`);
    process.env['AVDIT_MATMUL_V4'] = '128x256x32:2x4:s1';
    assert.equal(pick(65536), 'v4:128x256x32:2x4:s1');
    assert.equal(pick(256), `v4:${MATMUL_DEFAULTS.v4.small}`, 'few big tiles: the default small config');
    process.env['AVDIT_MATMUL_V4'] = 'v4:256x128x32:4x2:s1';
    assert.equal(pick(65536), 'v4:256x128x32:4x2:s1');
    process.env['AVDIT_MATMUL_V4'] = 'off';
    assert.equal(pick(65536), `v4:${MATMUL_DEFAULTS.v4.big}`);
    for (const bad of ['128x128x32:2x4:s1:x3', '128x128x32:2x4:gb']) {
      process.env['AVDIT_MATMUL_V4'] = bad;
      assert.throws(() => pick(65536), /AVDIT_MATMUL_V4=.*expected a staged v4 config/);
    }
    // f32 products never read it.
    process.env['AVDIT_MATMUL_V4'] = '128x256x32:2x4:s1';
    const f32 = chooseVariant(tensorCores, { batch: 1, M: 65536, N: 4608, K: 1152, transA: false, transB: true, strideA: 0, strideB: 0 });
    assert.ok(f32.name === 'v4' && f32.cfg.X3, 'f32: the x3 split');
  } finally {
    for (const [k, v] of [['AVDIT_MATMUL', saved[0]], ['AVDIT_MATMUL_V4', saved[1]]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('v2\'s alternative tile (AVDIT_MATMUL_V2_ALT) is taken where it computes 5% fewer padded outputs and still fills the GPU', () => {
  const saved = [process.env['AVDIT_MATMUL'], process.env['AVDIT_MATMUL_V2_ALT']] as const;
  delete process.env['AVDIT_MATMUL'];
  // An NVIDIA-sized device: 48 KiB of workgroup memory, 1024 invocations.
  const nvidia = { limits: { ...h.limits, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 }, features: { ...h.features, software: false } } as unknown as typeof h;
  const cfg = (M: number, N: number): string => {
    const v = chooseVariant(nvidia, { batch: 1, M, N, K: 1152, transA: false, transB: true, strideA: 0, strideB: 0 });
    return v.name === 'v2' ? `${v.cfg.BM}x${v.cfg.BN}` : v.name;
  };
  try {
    delete process.env['AVDIT_MATMUL_V2_ALT'];
    assert.equal(MATMUL_DEFAULTS.v2.alt, null, 'no alternative until a GPU measures one');
    assert.equal(cfg(65536, 1152), '128x256');
    process.env['AVDIT_MATMUL_V2_ALT'] = '256x128x16:8x8';
    // XL's N = 1152: 1280 columns computed by 256-wide tiles, 1152 by 128-wide ones (10% fewer); N = 3456:
    // 3584 against 3456 (3.6%, under the 5% it takes); 4608 and 1536 divide by 256.
    assert.deepEqual([cfg(65536, 1152), cfg(65536, 3456), cfg(65536, 4608), cfg(65536, 1536)], ['256x128', '128x256', '128x256', '128x256']);
    // Too few 256-row tiles to fill the GPU (7168 × 1152: 252 of them, the big config's 280): not taken.
    assert.equal(cfg(7168, 1152), '128x256');
    // Too few for the big config either: the small one, as before.
    assert.equal(cfg(4096, 1152), '64x128');
    process.env['AVDIT_MATMUL_V2_ALT'] = 'off';
    assert.equal(cfg(65536, 1152), '128x256');
    process.env['AVDIT_MATMUL_V2_ALT'] = 'v4:128x128x32:2x4';
    assert.throws(() => cfg(65536, 1152), /AVDIT_MATMUL_V2_ALT \/ MATMUL_DEFAULTS.v2.alt 'v4:128x128x32:2x4': not a v2 config/);
  } finally {
    for (const [k, v] of [['AVDIT_MATMUL', saved[0]], ['AVDIT_MATMUL_V2_ALT', saved[1]]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('v2/v3 XOR swizzle of transposed tiles: four-way store conflicts to none at the default tiles; both layouts right', async () => {
  // [rows of k in vec4s (BK/4), floats per k-row (BM or BN), thread step, threads] → wavefronts without / with.
  for (const [rowVecs, rowFloats, step, T, without] of [[4, 128, 16, 512, 4], [4, 256, 32, 512, 4], [2, 128, 16, 256, 2]] as const) {
    const sw = tileSwizzle(rowVecs, rowFloats, step, T);
    assert.ok(sw, `${rowVecs}/${rowFloats}: a swizzle`);
    assert.equal(sw.without, without);
    assert.equal(sw.wavefronts, 1);
    assert.ok((sw.r - 1) * sw.s < step, 'g stays below the thread step (reads cost nothing extra)');
  }
  assert.match(tiledWgsl({ BM: 128, BN: 256, BK: 16, TM: 8, TN: 8 }, false, false, true, true), /let tyX2 = ty \^ 2u;[\s\S]*let txX6 = tx \^ 6u;/);
  // The plain layout still works (AVDIT_MATMUL_SWIZZLE=0), with transposes that use the swizzle when on.
  tiledTuning.swizzle = false;
  try {
    assert.doesNotMatch(tiledWgsl({ BM: 128, BN: 256, BK: 16, TM: 8, TN: 8 }, false, false, true, true), /tyX/);
    for (const c of [CASES[0]!, [1, 33, 65, 7, false, true, 'none'] as Case]) assert.ok((await run('v2:32x32x8', c)) < 1e-5);
  } finally {
    tiledTuning.swizzle = true;
  }
});

test('v2 with its inner product unrolled (as on GPUs; lavapipe runs it rolled): both swizzles, edges, bias', async () => {
  // Under npm test (AVDIT_ROLL_LOOPS=1) software adapters roll the BK steps into a loop
  // (kernels/loop-bound.ts), which every other v2/v3 test here runs; this runs the form NVIDIA
  // (and lavapipe outside the tests) gets. NT swizzles both tiles.
  assert.match(tiledWgsl({ BM: 64, BN: 128, BK: 16, TM: 8, TN: 8 }, false, false, true, true, false, true), /for \(var kk = 0u; kk < \(16u \| P\.p0\)/);
  assert.doesNotMatch(tiledWgsl({ BM: 64, BN: 128, BK: 16, TM: 8, TN: 8 }, false, false, true, true), /var kk/);
  tiledTuning.unrolled = true;
  try {
    assert.ok((await run('v2:64x128x16', [2, 70, 150, 37, false, true, 'B'])) < 1e-5, 'NT');
    assert.ok((await run('v2:64x128x16', [1, 65, 129, 40, false, true, 'none'], 'f32', true)) < 1e-5, 'NT with a bias');
  } finally {
    delete tiledTuning.unrolled;
  }
});

test('staggered staging stores: the lane mask takes the default tiles from two wavefronts a store to one', () => {
  // [row of the staged tile in vec4s, padded row length in halves] → wavefronts without / with the mask.
  const cases: [number, number, number, number][] = [
    [16, 72, 2, 1], // inner dimension BK = 64 (A as [m][k], B as [n][k])
    [32, 136, 2, 1], // inner dimension 128 (B as [k][n], A as [k][m])
    [8, 40, 3, 2], // BK = 32
  ];
  for (const [rowVecs, ld, without, withMask] of cases) {
    const r = storeStagger(rowVecs, ld);
    assert.equal(r.without, without, `${rowVecs}/${ld} without`);
    assert.equal(r.wavefronts, withMask, `${rowVecs}/${ld} with mask ${r.mask}`);
    assert.ok(r.mask > 0 && r.mask < 32);
  }
  // The flag reaches the kernel: lanes pick their word order from the mask, the default does not.
  const z = sgWgsl({ BM: 128, BN: 128, BK: 64, SGM: 2, SGN: 4, ST: 1, Z: true }, false, true, true, false);
  const plain = sgWgsl({ BM: 128, BN: 128, BK: 64, SGM: 2, SGN: 4, ST: 1 }, false, true, true, false);
  assert.match(z, new RegExp(`flipA = \\(countOneBits\\(lidx & ${storeStagger(16, 72).mask}u\\)`));
  assert.match(z, /flipB/);
  assert.doesNotMatch(plain, /flip/);
});

test('v4 :gb with the real builtins: B fragments loaded from the f16 binding, row-major (NN) or column-major (NT), nothing of B staged', () => {
  for (const transB of [false, true]) {
    const code = sgWgsl({ BM: 128, BN: 128, BK: 32, SGM: 2, SGN: 4, GB: true }, false, transB, true, false, 'new');
    assert.match(code, /var<storage, read> B: array<f16>;/);
    assert.match(code, new RegExp(`subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, ${transB ? 'col' : 'row'}_major>\\(&B, `));
    assert.doesNotMatch(code, /var<workgroup> Bs|\brb\d+ = /);
    assert.match(code, /if \(k0t \+ 16u < P\.K\)/, 'k slices past K are skipped');
  }
});

test('v4 :gb:ga with the real builtins: A and B fragments loaded from the f16 bindings, nothing staged, no barrier before the write-back', () => {
  for (const [transA, transB] of [[false, true], [true, false]] as const) {
    const code = sgWgsl({ BM: 128, BN: 128, BK: 32, SGM: 2, SGN: 4, GB: true, GA: true }, transA, transB, true, false, 'new');
    assert.match(code, /var<storage, read> A: array<f16>;/);
    assert.match(code, new RegExp(`subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, ${transA ? 'col' : 'row'}_major>\\(&A, `));
    assert.doesNotMatch(code, /var<workgroup> (As|Bs)|\br[ab]\d+ = /);
    const loop = code.slice(code.indexOf('for (var t = 0u'), code.indexOf('let interior'));
    assert.doesNotMatch(loop, /workgroupBarrier/);
    assert.match(loop, /min\(m0 \+ rowSg \+ 16u, P\.M - 16u\)/, 'past M the last whole fragment stands in');
  }
});

test('split-K weight gradients (TN, few tiles, long K): partial products and their sum match the reference', async () => {
  // Thresholds scaled down so that small shapes split: K = 96 → 8 chunks of 12, K = 90 → 6 of 15
  // (the largest divisor allowed), and one with f16 operands.
  const saved = { ...MATMUL_DEFAULTS.splitK };
  MATMUL_DEFAULTS.splitK = { target: 64, minChunk: 8, max: 8, onSoftware: true };
  try {
    const base = { batch: 1, transA: true, transB: false, strideA: 0, strideB: 0 };
    assert.equal(splitKFor({ ...base, M: 40, N: 36, K: 96 }, 2), 8);
    assert.equal(splitKFor({ ...base, M: 40, N: 36, K: 90 }, 2), 6);
    assert.equal(splitKFor({ ...base, M: 40, N: 36, K: 96, transA: false }, 2), 1, 'only A transposed, B not');
    assert.equal(splitKFor({ ...base, M: 40, N: 36, K: 96 }, 64), 1, 'enough tiles already');
    MATMUL_DEFAULTS.splitK.onSoftware = false;
    assert.equal(splitKFor({ ...base, M: 40, N: 36, K: 96 }, 2, true), 1, 'not on software adapters by default');
    MATMUL_DEFAULTS.splitK.onSoftware = true;
    for (const [c, variant, tol] of [
      [[1, 40, 36, 96, true, false, 'none'], 'v2:32x32x8', 1e-5],
      [[1, 33, 65, 90, true, false, 'none'], 'v2:32x32x8', 1e-5],
      [[1, 40, 36, 96, true, false, 'none'], 'v3:32x32x8', 2e-3],
    ] as [Case, string, number][]) {
      const err = await run(variant, c);
      assert.ok(err < tol, `split-K ${variant} ${JSON.stringify(c)}: error ${err} ≥ ${tol}`);
    }
  } finally {
    MATMUL_DEFAULTS.splitK = saved;
  }
});
