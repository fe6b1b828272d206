/**
 * v4's `:x3` split (kernels/matmul-sgmat.ts SgConfig.X3): f32 products on f16 tensor cores as
 * hi·hi + hi·lo + lo·hi of each operand's two f16 halves, after scaling by the power of two its
 * largest |x| (kernels/absmax.ts) calls for. On lavapipe the subgroup matrices are emulated
 * (v4emu), on an NVIDIA GPU the real ones run too. Errors are measured as in matmul.test.ts,
 * |gpu − ref| / Σ_k |a·b| against f64, beside v2's (plain f32 FMAs) on the same inputs: the split
 * must be f32-accurate, not f16-accurate (plain v4: ~5e-4), also for operands far outside f16's range.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { GpuHarness } from '../../bench/gpu-harness.ts';
import { encodeAbsMaxBits, encodeAbsMaxPairBits, encodeZeroWords } from '../../kernels/absmax.ts';
import { chooseVariant, encodeMatmul, f32x3Table, MATMUL_DEFAULTS, parseVariant, V4_MIN_OUT_BYTES, variantSupport, type MatmulParams } from '../../kernels/matmul.ts';
import { sgName, sgSharedBytes } from '../../kernels/matmul-sgmat.ts';
import { randomData } from './helpers.ts';
import { matmulReference, tensorCoreContext } from './matmul-reference.ts';

const h: GpuHarness = await GpuHarness.open();
after(() => h.destroy());

/** Deterministic uniform(-scale, scale) values. */
const rand = (n: number, seed: number, scale = 1): Float32Array => randomData(n, seed, -scale, scale);

type Case = { batch: number; M: number; N: number; K: number; transA: boolean; transB: boolean; shareB?: boolean; scaleA?: number; scaleB?: number; bias?: boolean };

/** out of `variant` for the case, and its f64 reference (values and Σ|a·b| per output). */
async function product(variant: string, c: Case): Promise<{ got: Float32Array; val: Float64Array; mag: Float64Array }> {
  const { batch, M, N, K, transA, transB } = c;
  const p: MatmulParams = { batch, M, N, K, transA, transB, strideA: M * K, strideB: c.shareB ? 0 : K * N, variant };
  const a = rand(batch * M * K, 11 + M + K, c.scaleA ?? 1);
  const b = rand((c.shareB ? 1 : batch) * K * N, 17 + N + K, c.scaleB ?? 1);
  const bias = c.bias ? rand(N, 5 + N, 3) : null;
  const bufs = [h.upload(a), h.upload(b), h.buffer(Math.max(batch * M * N * 4, V4_MIN_OUT_BYTES)), ...(bias ? [h.upload(bias)] : [])];
  try {
    encodeMatmul(h, bufs[0]!, bufs[1]!, bufs[2]!, p, bufs[3] ?? null);
    await h.checkErrors();
    const got = await h.read(bufs[2]!, batch * M * N);
    const { val, mag } = matmulReference(a, b, p, bias);
    return { got, val, mag };
  } finally {
    for (const x of bufs) x.destroy();
  }
}

const errorOf = ({ got, val, mag }: { got: Float32Array; val: Float64Array; mag: Float64Array }): number => {
  let err = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i]! - val[i]!) / (mag[i]! + 1e-300);
    err = Number.isNaN(e) ? Infinity : Math.max(err, e);
  }
  return err;
};

// NT with vec4 loads (interior and edge tiles, a K tail, B shared by the batch), TN with scalar
// loads at odd sizes, and NN with a bias: every staging path of both operands.
const CASES: Case[] = [
  { batch: 2, M: 72, N: 136, K: 40, transA: false, transB: true, shareB: true },
  { batch: 1, M: 33, N: 65, K: 70, transA: true, transB: false },
  { batch: 1, M: 68, N: 72, K: 96, transA: false, transB: false, bias: true },
];

// The emulation (one workgroup-memory stage: lavapipe has 32 KiB) runs everywhere with shader-f16,
// which CI's lavapipe has; the real subgroup matrices where the device has them.
for (const variant of ['v4emu:64x64x32:2x2:s1:x3', 'v4:64x64x32:2x2:x3', `v4:${MATMUL_DEFAULTS.f32x3.big}`]) {
  const why = variantSupport(h, parseVariant(variant));
  if (why && variant.startsWith('v4:')) {
    test(`x3 split ${variant} needs what this device lacks`, () => assert.match(why, /subgroup|workgroup|f16/i));
    continue;
  }
  test(`x3 split ${variant}: f32 products on f16 halves are as accurate as v2's f32 FMAs`, async (t) => {
    for (const c of CASES) {
      const x3 = errorOf(await product(variant, c));
      const v2 = errorOf(await product('v2:32x32x8', c));
      t.diagnostic(`${JSON.stringify(c)}: x3 ${x3.toExponential(2)}, v2 ${v2.toExponential(2)}`);
      // v2 here: ~1e-7; plain f16 operands: ~5e-4; dropping lo·lo costs ~2^-22 = 2.4e-7 a term.
      assert.ok(x3 < Math.max(4 * v2, 2e-6), `${JSON.stringify(c)}: x3 error ${x3}, v2 ${v2}`);
    }
  });
  test(`x3 split ${variant}: operands far outside f16's range (1e-30, 1e25) keep f32 accuracy`, async () => {
    // Without the powers of two, A would round to zero in f16 and B to infinity.
    for (const [scaleA, scaleB] of [[1e-30, 1e25], [3e20, 2e-12]] as const) {
      const c = { ...CASES[0]!, scaleA, scaleB };
      const r = await product(variant, c);
      assert.ok(errorOf(r) < 2e-6, `scales ${scaleA}, ${scaleB}: error ${errorOf(r)}`);
    }
  });
}

// x3s: the same split scaled back in the staged write-back (no subgroupMatrixScalarMultiply): the
// same products, so the same bits as x3, on the case with interior and edge tiles and far-off scales.
for (const base of ['v4emu:64x64x32:2x2:s1', 'v4:64x64x32:2x2']) {
  if (variantSupport(h, parseVariant(`${base}:x3`)) && base.startsWith('v4:')) continue;
  test(`x3s split ${base}: scaled back in the staged write-back, the same bits as x3`, async () => {
    const c = { ...CASES[0]!, scaleA: 1e-30, scaleB: 1e25 };
    const [x3, x3s] = [await product(`${base}:x3`, c), await product(`${base}:x3s`, c)];
    const i = x3.got.findIndex((v, j) => !Object.is(v, x3s.got[j]));
    assert.equal(i, -1, `element ${i}: ${x3.got[i]} vs ${x3s.got[i]}`);
    assert.ok(errorOf(x3s) < 2e-6, `error ${errorOf(x3s)}`);
  });
}

test('x3 split-K (a weight gradient: TN, few tiles, long K): the chunks share one scale per operand and sum to the product', async () => {
  // Thresholds scaled down so that this small product splits K = 96 into 8 chunks (as in matmul.test.ts).
  const saved = { ...MATMUL_DEFAULTS.splitK };
  MATMUL_DEFAULTS.splitK = { target: 64, minChunk: 8, max: 8, onSoftware: true };
  const keys: string[] = [];
  const dispatch = h.dispatch.bind(h);
  h.dispatch = (d) => (keys.push(d.key), dispatch(d));
  try {
    const c: Case = { batch: 1, M: 40, N: 36, K: 96, transA: true, transB: false, scaleA: 1e-20, scaleB: 1e12 };
    const err = errorOf(await product('v4emu:64x64x32:2x2:s1:x3', c));
    assert.ok(keys.some((k) => k.startsWith('reduce')), `split into chunks and summed (dispatched: ${keys.join(', ')})`);
    assert.equal(keys.filter((k) => k.startsWith('absmax/zero')).length, 1, 'one pair of maxima for all chunks');
    assert.ok(err < 2e-6, `error ${err}`);
  } finally {
    MATMUL_DEFAULTS.splitK = saved;
    h.dispatch = dispatch;
  }
});

test('absmax of two buffers in one dispatch: each into its own slot (vec4 and scalar, across workgroups, one empty)', async () => {
  // (1_100_000 vec4 items pass 1024 workgroups of 256: the loops stride past their first round.)
  for (const [n0, n1] of [[4096, 1_100_000], [1_100_001, 5], [12, 0], [1, 1]] as const) {
    const x0 = rand(n0, n0 + 1), x1 = rand(Math.max(n1, 1), n1 + 2);
    // The maxima where only a loop's second round reaches (scalar item 262300, vec4 item 262500).
    x0[Math.min(n0 - 1, 262_300)] = -3.25;
    if (n1) x1[Math.min(n1 - 1, 1_050_001)] = 7.5;
    const S = h.buffer(16), g0 = h.upload(x0), g1 = h.upload(x1);
    try {
      encodeZeroWords(h, S);
      encodeAbsMaxPairBits(h, g0, n0, 3, g1, n1, 1, S);
      await h.checkErrors();
      const got = new Float32Array((await h.read(S, 4)).buffer);
      assert.deepEqual([...got], [0, n1 ? 7.5 : 0, 0, 3.25], `n0 = ${n0}, n1 = ${n1}`);
    } finally {
      S.destroy();
      g0.destroy();
      g1.destroy();
    }
  }
});

test('absmax: the bits of the largest |x| (negative, scalar and vec4 paths, across workgroups), folded into the slot', async () => {
  for (const n of [1, 7, 4096, 300_001]) {
    const x = rand(n, n);
    const at = Math.floor(n * 0.77);
    x[at] = -2.5;
    const S = h.buffer(16), gx = h.upload(x);
    try {
      encodeZeroWords(h, S);
      encodeAbsMaxBits(h, gx, n, S, 2);
      encodeAbsMaxBits(h, gx, Math.max(1, at), S, 1); // a prefix without the -2.5
      await h.checkErrors();
      const bits = new Uint32Array((await h.read(S, 4)).buffer);
      assert.equal(new Float32Array(bits.buffer)[2], 2.5, `n = ${n}`);
      const prefix = x.subarray(0, Math.max(1, at)).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.equal(new Float32Array(bits.buffer)[1], prefix, `n = ${n}: prefix max`);
      assert.equal(bits[0], 0);
      assert.equal(bits[3], 0);
    } finally {
      S.destroy();
      gx.destroy();
    }
  }
});

test('f32 products take the x3 split where the device has tensor cores, unless AVDIT_MATMUL_F32X3=0', () => {
  const saved = [process.env['AVDIT_MATMUL'], process.env['AVDIT_MATMUL_F32X3']] as const;
  delete process.env['AVDIT_MATMUL'];
  const tensorCores = tensorCoreContext(h);
  const pick = (M: number, N: number, device = tensorCores, outBytes = M * N * 4): string => {
    const v = chooseVariant(device, { batch: 1, M, N, K: 1152, transA: false, transB: true, strideA: 0, strideB: 0 }, outBytes);
    return v.name === 'v4' || v.name === 'v4emu' ? `${v.name}:${sgName(v.cfg)}` : v.name;
  };
  try {
    delete process.env['AVDIT_MATMUL_F32X3'];
    assert.equal(MATMUL_DEFAULTS.f32x3.on, true, 'on by default since H200 run 11');
    assert.deepEqual(f32x3Table(), { big: MATMUL_DEFAULTS.f32x3.big, small: MATMUL_DEFAULTS.f32x3.small, emulate: false });
    assert.equal(pick(65536, 1152), `v4:${MATMUL_DEFAULTS.f32x3.big}`, 'the default, where there are tensor cores');
    assert.equal(pick(65536, 1152, { ...tensorCores, features: { ...tensorCores.features, subgroupMatrix: null } } as unknown as typeof h), 'v2', 'no tensor cores: v2');
    process.env['AVDIT_MATMUL_F32X3'] = '1';
    assert.equal(pick(65536, 1152), `v4:${MATMUL_DEFAULTS.f32x3.big}`);
    assert.equal(pick(256, 1152), `v4:${MATMUL_DEFAULTS.f32x3.small}`, 'few big tiles: the small config');
    assert.equal(pick(8, 8, tensorCores, 256), 'v2', 'an output under one fragment: v2');
    assert.equal(pick(65536, 1152, h), h.features.subgroupMatrix ? `v4:${MATMUL_DEFAULTS.f32x3.big}` : 'v2', 'this device');
    process.env['AVDIT_MATMUL_F32X3'] = '128x128x16:2x4:s1:x3';
    assert.equal(pick(65536, 1152), 'v4:128x128x16:2x4:s1:x3');
    assert.equal(pick(256, 1152), `v4:${MATMUL_DEFAULTS.f32x3.small}`, 'a named config is for the big products; the small ones keep the default');
    process.env['AVDIT_MATMUL_F32X3'] = 'v4emu:64x64x32:2x2:s1:x3'; // the emulation: to run the models with it here
    assert.equal(pick(65536, 1152, h), 'v4emu:64x64x32:2x2:s1:x3');
    process.env['AVDIT_MATMUL_F32X3'] = '0';
    assert.equal(pick(65536, 1152), 'v2');
    process.env['AVDIT_MATMUL_F32X3'] = '128x128x16:2x4';
    assert.throws(() => pick(65536, 1152), /with :x3/);
  } finally {
    for (const [k, v] of [['AVDIT_MATMUL', saved[0]], ['AVDIT_MATMUL_F32X3', saved[1]]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  // The configs fit NVIDIA's 48 KiB; x3 refuses the forms that do not stage f32 registers.
  for (const which of ['big', 'small'] as const) assert.ok(sgSharedBytes((parseVariant(`v4:${MATMUL_DEFAULTS.f32x3[which]}`) as { cfg: Parameters<typeof sgSharedBytes>[0] }).cfg) <= 49152);
  assert.throws(() => parseVariant('v4:128x128x32:2x4:gb:x3'), /x3/);
  assert.throws(() => parseVariant('v4:128x128x32:2x4:h:x3'), /x3/);
  assert.deepEqual(parseVariant('v4:128x128x32:2x4:s1:x3s'), { name: 'v4', cfg: { BM: 128, BN: 128, BK: 32, SGM: 2, SGN: 4, ST: 1, X3: true, X3S: true } });
  assert.equal(sgName((parseVariant('v4:128x128x32:2x4:s1:x3s') as { cfg: Parameters<typeof sgName>[0] }).cfg), '128x128x32:2x4:s1:x3s');
});
