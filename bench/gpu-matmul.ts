/**
 * GPU matmul benchmark: every available variant at 4096³ (NN, and the backward-pass transposes
 * NT / TN; then NN with rows 128 floats longer, and NN once more at the end, two probes of v4's
 * slow 4096³ NN), at AV-DiT-XL shapes (M ∈ {4096, 16384, 65536} × K, N ∈ {1152, 3456, 4608}), at
 * XL's weight-gradient shapes (TN, long K) with and without split-K, and at the audio branch's
 * narrow projections (M = 320, 2560) with the small configs too (set `narrow`),
 * next to PyTorch (f32 with TF32 off, TF32, f16) run from the same script.
 *
 *   node --import tsx bench/gpu-matmul.ts [--quick] [--variants v2,v3,v4] [--shapes square,xl,dw,narrow]
 *        [--sweep] [--ablate] [--runs 5] [--no-torch] [--no-check]
 *
 *   --quick     tiny sizes (checks the script on lavapipe in seconds)
 *   --sweep     also time a grid of v2 / v4 tile configs (SWEEP below) at 4096³ NN and four XL
 *               shapes, print them ranked (geometric mean over the five shapes) and a suggested
 *               MATMUL_DEFAULTS (kernels/matmul.ts); `--shapes sweep` runs only the sweep shapes
 *   --ablate    also time the default v2 and v4 kernels with parts of their work cut out
 *               (bench/ablations.ts: the products, the global loads, the staging stores, the
 *               barriers) at 4096³ NN and an XL forward projection: where their time goes
 *
 * Method: operands are filled on the GPU with a hash of the element index (reproducible on the
 * CPU, so any output element of any shape can be checked); each measurement is the median of
 * `runs` timed runs, each a compute pass of `reps` back-to-back matmuls (reps chosen so a run
 * lasts ~30 ms) bracketed by GPU timestamps (Dawn toggle timestamp_quantization off), or wall
 * time of submit → onSubmittedWorkDone without timestamp-query. Before timing, every variant is
 * checked against a CPU reference on small shapes with all transposes, and after timing a few
 * dozen output elements of each big shape are compared with a CPU dot product. A variant that
 * fails to compile or validate is reported and skipped; the others go on.
 *
 * Output: a summary table on stdout and JSON in $OUT/gpu-matmul.json (env OUT) or
 * bench/results/gpu-matmul-<time>.json (gpu-matmul-robust… with AVDIT_ROBUSTNESS=1, gpu-matmul-noswizzle…
 * with AVDIT_MATMUL_SWIZZLE=0).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fold1d, type GpuContext } from '../kernels/context.ts';
import { ablatedContext, MATMUL_ABLATIONS } from './ablations.ts';
import { encodeToF16, f16Bytes } from '../kernels/cast-f16.ts';
import { MATMUL_DEFAULTS, encodeMatmul, parseVariant, variantSupport, type MatmulParams } from '../kernels/matmul.ts';
import { GpuHarness } from './gpu-harness.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : def;
};
const quick = flag('quick');
const runs = Number(opt('runs', quick ? '3' : '5'));
const shapeSets = opt('shapes', 'square,xl,dw,narrow').split(',');
const targetMs = quick ? 5 : 30;
// Sweep configs are timed with fewer, shorter runs (the grid has to fit in about a minute).
const sweepRuns = Math.min(runs, 3);
const sweepTargetMs = quick ? 3 : 10;

/**
 * The tile-config grid of --sweep (configs a device cannot run are reported and skipped).
 * v2: BMxBNxBK:TMxTN (outputs per thread); v4: BMxBNxBK:SGMxSGN[:s1][:h][:np] (s1 = one
 * workgroup-memory stage; h = f16 prefetch registers; np = no register prefetch). Fragments per
 * subgroup in v4 = (BM/16/SGM)·(BN/16/SGN). Run 2 (H200) dropped 256x256x16:4x4:s1, 128x128x16:2x2
 * and 128x64x32:2x2 (7–9 TFLOP/s at 4096³); the h / np configs test whether register pressure
 * (accumulators + f32 prefetch registers) is what held 64×64-per-subgroup tiles back.
 */
const SWEEP: string[] = [
  // v2: the four best of run 2's eleven (bench/results/h200-run2), and the default's tile turned
  // on its side: 256×128 tiles N = 1152 exactly (9 tiles) where the default's 256 columns compute
  // 1280 (half of an XL step's FLOPs have N = 1152; run 9: 34 TFLOP/s there against 37–39).
  'v2:128x128x16:8x8',
  'v2:128x128x8:8x8',
  'v2:64x128x16:8x8',
  'v2:128x256x16:8x8',
  'v2:256x128x16:8x8',
  'v4:128x128x32:2x4',
  'v4:128x128x16:2x4',
  'v4:128x128x32:2x2',
  'v4:128x128x64:2x4:s1',
  'v4:256x128x16:4x2',
  'v4:128x256x16:2x4',
  'v4:256x128x32:4x2:s1',
  'v4:128x256x32:2x4:s1',
  'v4:256x128x32:2x4:s1',
  'v4:64x64x32:2x2',
  'v4:128x128x64:2x4:s1:h',
  'v4:128x128x64:2x4:s1:np',
  'v4:128x128x32:2x4:h',
  'v4:128x128x32:2x4:np',
  'v4:128x128x32:2x2:h',
  'v4:128x128x32:2x2:h:np',
  'v4:128x256x32:2x4:s1:h',
  'v4:256x128x32:4x2:s1:h',
  'v4:64x64x32:2x2:h',
  // Staggered staging stores (storeStagger in kernels/matmul-sgmat.ts): 2 → 1 wavefronts a store at BK = 64.
  'v4:128x128x64:2x4:s1:z',
  'v4:128x128x64:2x4:s1:h:z',
  'v4:128x128x64:2x4:s1:np:z',
  'v4:128x128x32:2x4:z',
  // B as f16 fragments straight from global memory (tenth session): only A is staged, half the
  // staging stores; B gets an f16 copy first (kernels/cast-f16.ts), as a cache of frozen weights would.
  'v4:128x128x32:2x4:gb',
  'v4:128x128x64:2x4:s1:gb',
  'v4:128x256x32:2x4:gb',
  // Both operands as f16 fragments straight from global memory (twelfth session): nothing staged,
  // no barrier; L1/L2 serve the reuse. 4×2 and 4×4 fragments a subgroup.
  'v4:128x128x32:2x4:gb:ga',
  'v4:128x128x32:2x2:gb:ga',
  'v4:128x256x32:2x4:gb:ga',
  // Both as f16 but staged through fragment copies (twenty-second session, SgConfig.FS): half the
  // plain v4's global bytes and no 16-bit scalar stores into the tiles; the default's tile and two others.
  'v4:128x128x64:2x4:s1:gb:ga:fs',
  'v4:128x128x32:2x4:gb:ga:fs',
  'v4:128x256x32:2x4:s1:gb:ga:fs',
  // B alone so (A, f32, staged from registers as usual: no cast pass for activations in the engine).
  'v4:128x128x64:2x4:s1:gb:fs',
  // and with the bigger tiles (a quarter fewer global bytes per FLOP again, twenty-third session):
  // at 4096³ the plain v4 reads ~4.3 GB from L2 (f32, 128×128 tiles), about 0.6–0.8 ms at the
  // H200's L2 bandwidth against its 0.97 ms: these two take both cuts (1.6 GB of B and A as f32 at
  // 256-wide tiles).
  'v4:256x128x32:4x2:s1:gb:fs',
  'v4:128x256x32:2x4:s1:gb:fs',
  // f32 products on the tensor cores (twentieth session, kernels/matmul-sgmat.ts SgConfig.X3): each
  // operand as an 11-bit hi and an f16 remainder, three MMAs a fragment pair. Ranked as their own
  // family against v2 (f32 accuracy, checked against f64 like v2): matmul-f32x3.txt.
  'v4:128x128x32:2x4:s1:x3',
  'v4:128x128x16:2x4:s1:x3',
  'v4:64x64x32:2x2:x3',
  'v4:128x64x32:2x2:s1:x3',
  'v4:256x128x16:4x2:s1:x3',
  'v4:128x128x32:2x2:s1:x3',
  // The same scaled back in the staged write-back (no subgroupMatrixScalarMultiply, in case the
  // driver lacks it or runs it slowly).
  'v4:128x128x32:2x4:s1:x3s',
];

interface Shape {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  tag: string;
}

function shapes(): Shape[] {
  const out: Shape[] = [];
  const sq = quick ? 256 : 4096;
  if (shapeSets.includes('square')) {
    out.push({ M: sq, N: sq, K: sq, transA: false, transB: false, tag: 'square NN' });
    out.push({ M: sq, N: sq, K: sq, transA: false, transB: true, tag: 'square NT (dX = dY·Wᵀ)' });
    out.push({ M: sq, N: sq, K: sq, transA: true, transB: false, tag: 'square TN (dW = Xᵀ·dY)' });
    // v4 ran 4096³ NN at 43 TFLOP/s against 121–127 NT/TN and 117 at 4096×4608×4608 NN (run 3):
    // rows 128 floats longer tell a power-of-two stride effect from the kernel; 4096³ NN once more
    // at the end (below) tells it from being timed first.
    out.push({ M: sq, N: sq + 128, K: sq + 128, transA: false, transB: false, tag: 'NN+128 (power-of-two probe)' });
  }
  if (shapeSets.includes('xl')) {
    const Ms = quick ? [64, 256] : [4096, 16384, 65536];
    const KN = quick ? [72, 216] : [1152, 3456, 4608];
    for (const M of Ms) for (const K of KN) for (const N of KN) out.push({ M, N, K, transA: false, transB: false, tag: 'XL' });
    // The forward projections as the model runs them (x·Wᵀ, NT; the NN rows above at the same M,
    // N, K are what AVDIT_MATMUL_WEIGHT_T's transposed weights would run), and the temporal
    // adapter's stacked q/k/v (N = 1536) both ways.
    const Mf = quick ? 256 : 65536;
    const fwd: [number, number][] = quick ? [[216, 72], [72, 216], [96, 72]] : [[3456, 1152], [1152, 1152], [4608, 1152], [1152, 4608], [1536, 1152]];
    for (const [N, K] of fwd) out.push({ M: Mf, N, K, transA: false, transB: true, tag: 'XL fwd NT' });
    const [Ns, Ks] = fwd.at(-1)!;
    out.push({ M: Mf, N: Ns, K: Ks, transA: false, transB: false, tag: 'XL' });
  }
  if (shapeSets.includes('dw')) {
    // Weight gradients dW = dYᵀ·X (TN) as XL's training step makes them, M = out features, N = in,
    // K = tokens (batch 2 and 16 video): each timed with split-K (splitKFor, the default) and without.
    const Ks = quick ? [512, 2048] : [8192, 65536];
    const MN: [number, number][] = quick ? [[72, 72], [8, 72], [72, 8]] : [[1152, 1152], [96, 1152], [1152, 96], [144, 1152]];
    for (const K of Ks) {
      for (const [M, N] of MN) {
        for (const tag of ['dW split-K', 'dW no split']) out.push({ M, N, K, transA: true, transB: false, tag });
      }
    }
  }
  if (shapeSets.includes('narrow')) {
    // The audio branch's projections (M = 160 tokens × batch 2 or 16) and the like: too few big
    // tiles to fill the GPU, so the automatic choice takes the small config (MATMUL_DEFAULTS
    // minBigTiles). Timed with both configs (the small ones only here) to set that threshold.
    const Ms = quick ? [40, 96] : [320, 2560];
    const KN: [number, number][] = quick ? [[72, 216], [288, 72]] : [[1152, 3456], [1152, 1152], [1152, 4608], [4608, 1152]];
    for (const M of Ms) for (const [K, N] of KN) out.push({ M, N, K, transA: false, transB: true, tag: 'narrow NT' });
  }
  if (flag('sweep') || shapeSets.includes('sweep')) {
    // 4096³ NN (shared with the square set when it runs) and four XL shapes: the narrow one
    // (K = N = 1152, the weakest), the wide MLP one (N = 4608), and two forward projections as the
    // model runs them (x·Wᵀ, NT: every Linear's forward, so all of a denoising step).
    if (!shapeSets.includes('square')) out.push({ M: sq, N: sq, K: sq, transA: false, transB: false, tag: 'square NN' });
    const M = quick ? 512 : 16384;
    const [n1, n4] = quick ? [72, 288] : [1152, 4608];
    out.push({ M, N: n1, K: n1, transA: false, transB: false, tag: 'sweep XL' });
    out.push({ M, N: n4, K: n1, transA: false, transB: false, tag: 'sweep XL' });
    out.push({ M, N: quick ? 216 : 3456, K: n1, transA: false, transB: true, tag: 'sweep XL' });
    // The MLP's second product (x·W₂ᵀ, N = 1152 from K = 4608): the XL step's biggest N = 1152 user.
    out.push({ M, N: n1, K: n4, transA: false, transB: true, tag: 'sweep XL' });
  }
  if (shapeSets.includes('square') && shapeSets.length > 1) out.push({ M: sq, N: sq, K: sq, transA: false, transB: false, tag: 'NN again (timed last: order probe)' });
  return out;
}

// ---- reproducible operands: value(i) = hash(i ^ seed) → uniform [-1, 1) ----
const SEED_A = 0x1234567;
const SEED_B = 0x7654321;

function hashValue(i: number, seed: number): number {
  let x = (i ^ seed) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return (x >>> 8) * (1 / 16777216) * 2 - 1;
}

const FILL_WGSL = /* wgsl */ `
struct F { n: u32, seed: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@group(0) @binding(1) var<uniform> f: F;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) l: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + l;
  if (i >= f.n) { return; }
  var x = i ^ f.seed;
  x ^= x >> 16u; x *= 0x7feb352du; x ^= x >> 15u; x *= 0x846ca68bu; x ^= x >> 16u;
  o[i] = f32(x >> 8u) * (1.0 / 16777216.0) * 2.0 - 1.0;
}`;

function fill(h: GpuHarness, buf: GPUBuffer, n: number, seed: number): void {
  h.dispatch({
    key: 'bench/fill',
    code: FILL_WGSL,
    buffers: [buf],
    uniforms: new Uint32Array([n, seed, 0, 0]).buffer,
    workgroups: fold1d(Math.ceil(n / 256), h.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** Read single f32 elements at the given indices. */
async function readAt(h: GpuHarness, buf: GPUBuffer, idx: number[]): Promise<Float32Array> {
  h.submit();
  const staging = h.device.createBuffer({ size: idx.length * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = h.device.createCommandEncoder();
  idx.forEach((e, j) => enc.copyBufferToBuffer(buf, e * 4, staging, j * 4, 4));
  h.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const r = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return r;
}

/** Max normalised error |gpu − ref| / Σ|a·b| over `samples` random outputs of a hash-filled product. */
async function spotCheck(h: GpuHarness, out: GPUBuffer, s: Shape, samples: number): Promise<number> {
  const idx: number[] = [];
  let r = 12345;
  const next = () => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let j = 0; j < samples; j++) {
    const m = j === 0 ? s.M - 1 : Math.floor(next() * s.M);
    const n = j === 0 ? s.N - 1 : Math.floor(next() * s.N);
    idx.push(m * s.N + n);
  }
  const got = await readAt(h, out, idx);
  let err = 0;
  idx.forEach((e, j) => {
    const m = Math.floor(e / s.N);
    const n = e % s.N;
    let v = 0;
    let g = 0;
    for (let k = 0; k < s.K; k++) {
      const a = hashValue(s.transA ? k * s.M + m : m * s.K + k, SEED_A);
      const b = hashValue(s.transB ? n * s.K + k : k * s.N + n, SEED_B);
      v += a * b;
      g += Math.abs(a * b);
    }
    const e2 = Math.abs(got[j]! - v) / (g + 1e-6);
    err = Number.isNaN(e2) ? Infinity : Math.max(err, e2);
  });
  return err;
}

/** CPU-reference check of a variant on small shapes, all transposes, batch + broadcast. */
async function smallCheck(h: GpuHarness, variant: string): Promise<number> {
  let worst = 0;
  const gb = isGb(variant);
  const gaf16 = isGa(variant);
  // `:gb` takes K and N in multiples of 16 only (edge tiles in M and N, a K tail and a batch
  // still); `:ga` M too.
  const cases: [number, number, number, number, boolean, boolean][] = gaf16
    ? [[2, 208, 272, 144, false, false], [1, 144, 80, 48, true, true], [1, 48, 64, 80, false, true], [2, 64, 128, 48, true, false]]
    : gb
    ? [[2, 197, 272, 144, false, false], [1, 130, 80, 48, true, true], [1, 33, 64, 80, false, true], [2, 64, 128, 48, true, false]]
    : [
        [2, 197, 261, 133, false, false],
        [1, 130, 68, 72, true, true],
        [1, 33, 65, 7, false, true],
        [2, 64, 128, 40, true, false],
      ];
  for (const [batch, M, N, K, transA, transB] of cases) {
    const a = new Float32Array(batch * M * K).map((_, i) => hashValue(i, 11));
    const b = new Float32Array(K * N).map((_, i) => hashValue(i, 22));
    const p: MatmulParams = { batch, M, N, K, transA, transB, strideA: M * K, strideB: 0, variant };
    const ga = h.upload(a);
    const gbuf = h.upload(b);
    const gah = gaf16 ? h.buffer(f16Bytes(a.length)) : null;
    if (gah) encodeToF16(h, ga, gah, a.length);
    const gbh = gb ? h.buffer(f16Bytes(b.length)) : null;
    if (gbh) encodeToF16(h, gbuf, gbh, b.length);
    const go = h.buffer(batch * M * N * 4);
    encodeMatmul(h, gah ?? ga, gbh ?? gbuf, go, p);
    await h.checkErrors();
    const got = await h.read(go, batch * M * N);
    for (let i = 0; i < batch; i++) {
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let v = 0;
          let g = 0;
          for (let k = 0; k < K; k++) {
            const x = a[i * M * K + (transA ? k * M + m : m * K + k)]!;
            const y = b[transB ? n * K + k : k * N + n]!;
            v += x * y;
            g += Math.abs(x * y);
          }
          const e = Math.abs(got[(i * M + m) * N + n]! - v) / (g + 1e-6);
          worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
        }
      }
    }
    ga.destroy();
    gbuf.destroy();
    gah?.destroy();
    gbh?.destroy();
    go.destroy();
  }
  return worst;
}

interface Row {
  variant: string;
  shape: Shape;
  ms?: number;
  tflops?: number;
  reps?: number;
  timing?: string;
  spotErr?: number;
  error?: string;
}

/**
 * Median ns of one matmul through `ctx` (h itself, or an ablatedContext): a warm-up (compiles),
 * one timed run to size the repeat count `reps` (a run lasts about `targetMs`), then `nRuns` runs.
 */
async function timeMatmul(
  h: GpuHarness, ctx: GpuContext, [A, B, O]: GPUBuffer[], p: MatmulParams, nRuns: number, target: number,
): Promise<{ ns: number; reps: number; source: string }> {
  encodeMatmul(ctx, A!, B!, O!, p);
  await h.sync();
  await h.checkErrors();
  // Warm-up: about 100 ms of this kernel first (as gpu-attention-mixed.ts since run 8). The GPU's
  // clocks drop while the CPU compiles the next pipeline or checks a result, and a short timed
  // burst then runs at idle clocks: run 11's sweep timed the default v4 config at 4.25 ms at 4096³,
  // 0.97 ms as a requested variant; the ablations (same timing) were as exposed.
  let warm = 0;
  for (let i = 0; i < 50 && warm < (quick ? 0 : 100e6); i++) warm += (await h.time(() => encodeMatmul(ctx, A!, B!, O!, p))).ns;
  const one = await h.time(() => encodeMatmul(ctx, A!, B!, O!, p));
  const reps = Math.max(1, Math.min(200, Math.round((target * 1e6) / Math.max(one.ns, 1))));
  const times: number[] = [];
  let source: string = one.source;
  for (let r = 0; r < nRuns; r++) {
    const t = await h.time(() => {
      for (let i = 0; i < reps; i++) encodeMatmul(ctx, A!, B!, O!, p);
    });
    times.push(t.ns / reps);
    source = t.source;
  }
  await h.checkErrors();
  times.sort((x, y) => x - y);
  return { ns: times[Math.floor(times.length / 2)]!, reps, source };
}

interface AblationRow {
  variant: string;
  shape: string;
  ablation: string;
  ms?: number;
  error?: string;
}

/**
 * --ablate: the default v2 and v4 kernels (those of the requested families this device runs)
 * whole and with each MATMUL_ABLATIONS edit, at 4096³ NN and an XL forward projection (x·Wᵀ, NT).
 */
async function ablate(h: GpuHarness, bufs: GPUBuffer[], requested: string[]): Promise<AblationRow[]> {
  const sq = quick ? 256 : 4096;
  const M = quick ? 512 : 16384;
  const cases: Shape[] = [
    { M: sq, N: sq, K: sq, transA: false, transB: false, tag: 'square NN' },
    { M, N: quick ? 216 : 3456, K: quick ? 72 : 1152, transA: false, transB: true, tag: 'XL NT' },
  ];
  // Each family's big default config, or its small one where the device cannot run that (lavapipe).
  const runnable = (v: string) => !variantSupport(h, parseVariant(v));
  const fams = (['v2', 'v4'] as const)
    .filter((f) => requested.some((r) => r.startsWith(f)))
    .map((f) => [f, `${f}:${MATMUL_DEFAULTS[f].small}`].map((v) => (quick && f === 'v4' ? v.replace('v4', 'v4emu') : v)).find(runnable))
    .filter((v): v is string => v !== undefined);
  const out: AblationRow[] = [];
  console.log(`\n=== ablations (ms; the kernel with one kind of work cut out) ===`);
  for (const variant of fams) {
    for (const s of cases) {
      const p: MatmulParams = { batch: 1, M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB, strideA: 0, strideB: 0, variant };
      const shape = `${s.M}x${s.N}x${s.K} ${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;
      const line: string[] = [];
      for (const [what, edit] of [['whole', null] as const, ...Object.entries(MATMUL_ABLATIONS)]) {
        const row: AblationRow = { variant, shape, ablation: what };
        out.push(row);
        try {
          const ctx = edit ? ablatedContext(h, what, edit) : h;
          row.ms = (await timeMatmul(h, ctx, bufs, p, sweepRuns, sweepTargetMs)).ns / 1e6;
          line.push(`${what} ${row.ms.toFixed(3)}`);
        } catch (e) {
          row.error = String(e);
          line.push(`${what} ERROR`);
          console.log(`${variant} ${shape} ${what}: ${String(e).slice(0, 1500)}`);
          await h.sync().then(() => h.checkErrors()).catch(() => undefined);
        }
      }
      console.log(`${variant.padEnd(18)} ${shape.padEnd(20)} ${line.join('  ')}`);
    }
  }
  return out;
}

/** Whether a variant reads B as f16 from global memory (v4's `:gb`). */
const isGb = (variant: string): boolean => variant.split(':').includes('gb');
/** Whether it reads A as f16 from global memory too (`:ga`). */
const isGa = (variant: string): boolean => variant.split(':').includes('ga');

/** Whether a variant is v4's f32 split (`:x3`): f32 accuracy on the tensor cores. */
const isX3 = (variant: string): boolean => variant.split(':').includes('x3');

const tolerance = (variant: string) => (!isX3(variant) && (variant.startsWith('v3') || variant.startsWith('v4')) ? 2e-3 : 1e-5);
/** The sweep family of a variant: v2 (f32), v3 / v4 (mixed), x3 (f32 on the tensor cores). */
const family = (variant: string): string => (isX3(variant) ? 'x3' : variant.split(':')[0]!);

async function main(): Promise<void> {
  const h = await GpuHarness.open();
  console.log(`adapter: ${h.describe()}`);
  const smc = h.subgroupMatrixConfigs();
  if (smc.length) console.log(`subgroup-matrix configs: ${smc.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ')}`);

  const requested = shapeSets.includes('sweep') && !flag('variants') ? [] : opt('variants', `v1,v2,v4,v4:${MATMUL_DEFAULTS.f32x3.big}`).split(',');
  const sweep = flag('sweep') || shapeSets.includes('sweep') ? SWEEP.filter((v) => !requested.includes(v)) : [];
  // The small configs of the requested v2 / v4, timed on the narrow shapes only.
  const smallConfigs = shapeSets.includes('narrow')
    ? (['v2', 'v4'] as const).filter((v) => requested.includes(v)).map((v) => `${v}:${MATMUL_DEFAULTS[v].small}`).filter((v) => !requested.includes(v))
    : [];
  requested.push(...smallConfigs);
  const variants: string[] = [];
  const skipped: Record<string, string> = {};
  for (const v of [...requested, ...sweep]) {
    let why: string | null;
    try {
      why = variantSupport(h, parseVariant(v));
    } catch (e) {
      why = String(e);
    }
    if (why) skipped[v] = why;
    else variants.push(v);
  }
  for (const [v, why] of Object.entries(skipped)) console.log(`skip ${v}: ${why}`);

  // Correctness first (small shapes, CPU reference).
  const checks: Record<string, { err?: number; ok: boolean; error?: string }> = {};
  if (!flag('no-check')) {
    for (const v of [...variants]) {
      try {
        const err = await smallCheck(h, v);
        const ok = err < tolerance(v);
        checks[v] = { err, ok };
        console.log(`check ${v.padEnd(20)} max err ${err.toExponential(2)} ${ok ? 'ok' : 'FAIL'}`);
      } catch (e) {
        checks[v] = { ok: false, error: String(e) };
        console.log(`check ${v.padEnd(20)} ERROR ${String(e).slice(0, 2000)}`);
        variants.splice(variants.indexOf(v), 1);
      }
    }
  }

  // One set of buffers big enough for every shape (no destroy/create churn across sizes).
  const all = shapes();
  const maxA = Math.max(...all.map((s) => s.M * s.K));
  const maxB = Math.max(...all.map((s) => s.K * s.N));
  const maxO = Math.max(...all.map((s) => s.M * s.N));
  const A = h.buffer(maxA * 4);
  const B = h.buffer(maxB * 4);
  const O = h.buffer(maxO * 4);
  fill(h, A, maxA, SEED_A);
  fill(h, B, maxB, SEED_B);
  // `:gb` variants read B as f16: one converted copy for all shapes (each reads its first K·N).
  const Bh = variants.some(isGb) ? h.buffer(f16Bytes(maxB)) : null;
  if (Bh) encodeToF16(h, B, Bh, maxB);
  const Ah = variants.some(isGa) ? h.buffer(f16Bytes(maxA)) : null;
  if (Ah) encodeToF16(h, A, Ah, maxA);
  await h.sync();
  await h.checkErrors();

  const rows: Row[] = [];
  const broken = new Set<string>();
  for (const s of all) {
    if (s.tag === 'dW no split') process.env['AVDIT_MATMUL_SPLITK'] = '0';
    else delete process.env['AVDIT_MATMUL_SPLITK'];
    for (const v of variants) {
      if (broken.has(v)) continue;
      if (v === 'v1' && s.M * s.N * s.K > 4096 ** 3) continue; // the naive kernel only at 4096³
      const isSweep = sweep.includes(v);
      if (smallConfigs.includes(v) && s.tag !== 'narrow NT') continue;
      if (isSweep && s.tag !== 'square NN' && s.tag !== 'sweep XL') continue;
      // (The requested variants of the ranked families run the sweep's shapes too: the default
      // configs rank beside the others.)
      if (!isSweep && s.tag === 'sweep XL' && (v === 'v1' || smallConfigs.includes(v))) continue;
      const nRuns = isSweep ? sweepRuns : runs;
      const target = isSweep ? sweepTargetMs : targetMs;
      const p: MatmulParams = { batch: 1, M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB, strideA: 0, strideB: 0, variant: v };
      const row: Row = { variant: v, shape: s };
      rows.push(row);
      try {
        const { ns, reps, source } = await timeMatmul(h, h, [isGa(v) ? Ah! : A, isGb(v) ? Bh! : B, O], p, nRuns, target);
        row.ms = ns / 1e6;
        row.tflops = (2 * s.M * s.N * s.K) / ns / 1e3;
        row.reps = reps;
        row.timing = source;
        row.spotErr = await spotCheck(h, O, s, quick ? 16 : 24);
        const bad = !(row.spotErr < tolerance(v));
        console.log(
          `${v.padEnd(20)} ${`${s.M}x${s.N}x${s.K}`.padEnd(18)} ${s.tag.padEnd(24)} ${row.ms.toFixed(3).padStart(9)} ms ${(row.tflops >= 10 ? row.tflops.toFixed(1) : row.tflops.toPrecision(3)).padStart(7)} TFLOP/s  err ${row.spotErr.toExponential(1)}${bad ? ' WRONG' : ''}`,
        );
      } catch (e) {
        row.error = String(e);
        broken.add(v);
        console.log(`${v} ${s.M}x${s.N}x${s.K}: ERROR ${String(e).slice(0, 3000)}`);
        try {
          await h.sync();
          await h.checkErrors();
        } catch {
          /* already reported */
        }
      }
    }
  }
  // The verdicts first (a time limit that cuts the ablations short keeps them).
  const ranking = sweep.length ? sweepReport(rows, all, [...sweep, ...requested.filter((v) => /^v[234]/.test(v) && !smallConfigs.includes(v))]) : undefined;
  // The fastest `:gb` form, for gpu-run.sh's part xl-direct (AVDIT_MATMUL_DIRECT): to $OUT, else bench/results/.
  const bestDirect = ranking?.ranked.v4?.find((r) => r.geomean > 0 && isGb(r.variant));
  // The verdicts for gpu-run.sh's TUNE=1, beside the other results.
  const outDir = process.env.OUT ?? join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  if (bestDirect) writeFileSync(join(outDir, 'matmul-direct.txt'), `${bestDirect.variant}\n`);
  // f32 on the tensor cores: its fastest config if that beats v2's fastest over the sweep shapes
  // (geometric means of rows that were timed and passed the f32 spot check), else off: gpu-run.sh's
  // TUNE=1 sets AVDIT_MATMUL_F32X3 from it.
  const bestX3 = ranking?.ranked.x3?.find((r) => r.geomean > 0), bestV2 = ranking?.ranked.v2?.find((r) => r.geomean > 0);
  if (bestX3 && bestV2) {
    console.log(`f32 on the tensor cores: ${bestX3.variant} ${bestX3.geomean.toFixed(1)} TFLOP/s (geometric mean), v2's best ${bestV2.variant} ${bestV2.geomean.toFixed(1)}`);
    writeFileSync(join(outDir, 'matmul-f32x3.txt'), bestX3.geomean > bestV2.geomean ? `${bestX3.variant.slice(3)}\n` : 'off\n');
  }
  // The mixed kernel: the sweep's fastest staged v4 config if it beats the default big config's
  // geometric mean by more than 3%, else off: gpu-run.sh's TUNE=1 sets AVDIT_MATMUL_V4 from it.
  const v4Staged = (ranking?.ranked.v4 ?? []).filter((r) => r.geomean > 0 && !isGb(r.variant));
  const v4Default = v4Staged.find((r) => r.variant === `v4:${MATMUL_DEFAULTS.v4.big}`);
  if (v4Staged[0] && v4Default) {
    const wins = v4Staged[0].geomean > 1.03 * v4Default.geomean;
    console.log(`v4: fastest staged ${v4Staged[0].variant} ${v4Staged[0].geomean.toFixed(1)} TFLOP/s (geometric mean), the default ${v4Default.variant} ${v4Default.geomean.toFixed(1)}`);
    writeFileSync(join(outDir, 'matmul-v4.txt'), wins ? `${v4Staged[0].variant.slice(3)}\n` : 'off\n');
  }
  // Rows of variant v that were timed and whose spot check passed (a failed or missing one leaves
  // the two sides of a comparison unequal: no verdict).
  const measured = (r: Row, v: string | undefined): boolean => r.variant === v && r.ms !== undefined && (r.spotErr ?? 1) < tolerance(v);
  // v2's default tile against it on its side (256×128) where N = 1152 (the sweep's XL shapes),
  // summed: gpu-run.sh's TUNE=1 sets AVDIT_MATMUL_V2_ALT from it (kernels/matmul.ts altBeatsBig).
  const [bigV2, altV2] = [`v2:${MATMUL_DEFAULTS.v2.big}`, 'v2:256x128x16:8x8'];
  const n1152 = (v: string): number[] => rows.filter((r) => measured(r, v) && r.shape.tag === 'sweep XL' && r.shape.N === 1152).map((r) => r.ms!);
  const [bigMs, altMs] = [n1152(bigV2), n1152(altV2)];
  if (bigMs.length > 0 && bigMs.length === altMs.length) {
    const [b, a] = [bigMs, altMs].map((xs) => xs.reduce((x, y) => x + y, 0));
    console.log(`v2 at N = 1152: ${bigV2} ${b.toFixed(2)} ms, ${altV2} ${a.toFixed(2)} ms`);
    writeFileSync(join(outDir, 'matmul-v2-alt.txt'), a < b ? `${altV2.slice(3)}\n` : 'off\n');
  }
  // v2 (f32) and v4 (mixed, staged) on XL's forward shapes: NT (as the model runs them) against NN at
  // the same sizes (what transposed weight copies would run), summed, rows whose spot checks pass:
  // gpu-run.sh's TUNE=1 sets AVDIT_MATMUL_WEIGHT_T to the precisions where NN won.
  const nnWins = ([precision, fam]: [string, string]): boolean => {
    const v = requested.find((x) => x === fam || x.startsWith(`${fam}:`));
    const same = (a: Shape, b: Shape) => a.M === b.M && a.N === b.N && a.K === b.K;
    const nt = rows.filter((r) => measured(r, v) && r.shape.tag === 'XL fwd NT');
    const nn = rows.filter((r) => measured(r, v) && r.shape.tag === 'XL' && nt.some((o) => same(o.shape, r.shape)));
    if (!v || nt.length === 0 || nt.length !== nn.length) return false;
    const [a, b] = [nt, nn].map((xs) => xs.reduce((t, r) => t + r.ms!, 0));
    console.log(`${v} (${precision}) on XL's forward shapes: NT ${a.toFixed(2)} ms, NN ${b.toFixed(2)} ms (${((100 * (a - b)) / a).toFixed(1)}% saved by transposed weights)`);
    return b < a;
  };
  const weightT = ([['f32', 'v2'], ['mixed', 'v4']] as [string, string][]).filter(nnWins).map(([precision]) => precision);
  if (requested.some((x) => /^v[24]/.test(x))) writeFileSync(join(outDir, 'matmul-weight-t.txt'), `${weightT.join(',') || '0'}\n`);
  const ablations = flag('ablate') ? await ablate(h, [A, B, O], requested) : [];
  A.destroy();
  B.destroy();
  Bh?.destroy();
  Ah?.destroy();
  O.destroy();
  const adapter = h.describe();
  h.destroy();

  // PyTorch on the same (NN) shapes.
  type TorchRow = { M: number; N: number; K: number; f32_ms: number; tf32_ms: number; f16_ms: number };
  let torch: { device?: string; torch?: string; results?: TorchRow[]; error?: string } = { error: 'skipped (--no-torch)' };
  if (!flag('no-torch')) {
    const uniq = [...new Map(all.map((s) => [`${s.M},${s.N},${s.K}`, [s.M, s.N, s.K]])).values()];
    const r = spawnSync('python3', [join(here, 'torch_matmul.py'), JSON.stringify(uniq), String(runs)], { encoding: 'utf8', timeout: 1800_000 });
    const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    try {
      torch = JSON.parse(last);
    } catch {
      torch = { error: `torch script failed (status ${r.status}): ${(r.stderr ?? '').slice(-1500)}` };
    }
  }
  const torchAt = (s: Shape) => torch.results?.find((t) => t.M === s.M && t.N === s.N && t.K === s.K);

  // Summary: one line per shape, TFLOP/s per variant, PyTorch, ratios.
  const tf = (ms: number | undefined, s: Shape) => (ms ? (2 * s.M * s.N * s.K) / (ms * 1e9) : undefined);
  const fmt = (x: number | undefined) => (x === undefined ? '-' : x >= 10 ? x.toFixed(1) : x.toPrecision(2));
  const timed = variants.filter((v) => !sweep.includes(v) && rows.some((r) => r.variant === v && r.tflops !== undefined));
  console.log(`\n=== matmul TFLOP/s (${adapter}) ===`);
  if (torch.error) console.log(`torch: ${torch.error}`);
  else console.log(`torch: ${torch.device} ${torch.torch}`);
  const head = ['shape', 'op', ...timed, 'pt-f32', 'pt-tf32', 'pt-f16', 'best f32/pt-f32', 'best mixed/pt-f16'];
  const widths = head.map((x, i) => Math.max(i === 0 ? 18 : i === 1 ? 10 : 8, x.length));
  const line = (cells: string[]) => console.log(cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' '));
  line(head);
  const seen = new Set<string>();
  for (const s of all) {
    const key = `${s.M}x${s.N}x${s.K} ${s.tag}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const rs = rows.filter((r) => r.shape === s);
    const t = torchAt(s);
    const f32Best = Math.max(0, ...rs.filter((r) => /^v[12]/.test(r.variant) && r.tflops).map((r) => r.tflops!));
    const mixBest = Math.max(0, ...rs.filter((r) => /^v[34]/.test(r.variant) && !isX3(r.variant) && r.tflops).map((r) => r.tflops!));
    const ptF32 = s.transA || s.transB ? undefined : tf(t?.f32_ms, s);
    const ptF16 = s.transA || s.transB ? undefined : tf(t?.f16_ms, s);
    line([
      `${s.M}x${s.N}x${s.K}`,
      s.tag.split(' ').slice(0, 2).join(' '),
      ...timed.map((v) => fmt(rs.find((r) => r.variant === v)?.tflops)),
      fmt(ptF32),
      fmt(s.transA || s.transB ? undefined : tf(t?.tf32_ms, s)),
      fmt(ptF16),
      ptF32 && f32Best ? (f32Best / ptF32).toFixed(2) : '-',
      ptF16 && mixBest ? (mixBest / ptF16).toFixed(2) : '-',
    ]);
  }

  if (ranking) console.log(ranking.text);
  const result = { date: new Date().toISOString(), adapter, subgroupMatrixConfigs: smc, quick, runs, skipped, checks, rows, torch, sweep: ranking?.ranked, ablations };
  // AVDIT_ROBUSTNESS=1 (Dawn's shader safety nets on, engine/webgpu/device.ts) and AVDIT_MATMUL_SWIZZLE=0
  // (v2's transposed tiles unswizzled, kernels/matmul-tiled.ts) write their own files, to compare.
  const name = process.env['AVDIT_ROBUSTNESS'] === '1' ? 'gpu-matmul-robust' : process.env['AVDIT_MATMUL_SWIZZLE'] === '0' ? 'gpu-matmul-noswizzle' : 'gpu-matmul';
  const file = join(outDir, process.env['OUT'] ? `${name}.json` : `${name}-${result.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`\nwrote ${file}`);
}

/** A variant string with its bare name resolved to the config it stands for. */
function canonical(v: string): string {
  if (/^v[23]$/.test(v)) return `${v}:${MATMUL_DEFAULTS[v as 'v2' | 'v3'].big}`;
  if (v === 'v4') return `v4:${MATMUL_DEFAULTS.v4.big}`;
  return v;
}

interface Ranked {
  variant: string;
  tflops: (number | null)[];
  geomean: number;
}

/**
 * The sweep table: per family (v2 f32, v3/v4 mixed) every config timed on all sweep shapes (4096³
 * NN + the 'sweep XL' ones), ranked by the geometric mean of TFLOP/s; then a suggested
 * MATMUL_DEFAULTS (big = best geometric mean; small = best of the configs with BM·BN ≤ 8192).
 */
function sweepReport(rows: Row[], all: Shape[], configs: string[]): { text: string; ranked: Record<string, Ranked[]> } {
  const sShapes = all.filter((s) => (s.tag === 'square NN' && s.M === s.K) || s.tag === 'sweep XL');
  const out: string[] = [];
  const ranked: Record<string, Ranked[]> = {};
  const seen = new Set<string>();
  for (const fam of ['v2', 'v3', 'v4', 'x3']) {
    const list: Ranked[] = [];
    for (const v of configs.filter((c) => family(c) === fam)) {
      const name = canonical(v);
      if (seen.has(name)) continue;
      const tfl = sShapes.map((s) => {
        const r = rows.find((x) => x.shape === s && canonical(x.variant) === name && x.tflops !== undefined && !(x.spotErr! >= tolerance(x.variant)));
        return r ? r.tflops! : null;
      });
      if (tfl.every((x) => x === null)) continue;
      seen.add(name);
      const ok = tfl.filter((x): x is number => x !== null);
      // A config missing a shape (error / wrong) ranks by its mean with the missing ones as 0.
      const geomean = ok.length === tfl.length ? Math.exp(ok.reduce((a, x) => a + Math.log(x), 0) / ok.length) : 0;
      list.push({ variant: name, tflops: tfl, geomean });
    }
    if (!list.length) continue;
    list.sort((a, b) => b.geomean - a.geomean);
    ranked[fam] = list;
    out.push(`\n=== sweep ${fam}: TFLOP/s, ranked by geometric mean ===`);
    const heads = ['#', 'config', ...sShapes.map((s) => `${s.M}x${s.N}x${s.K}`), 'geomean'];
    const w = [3, 24, ...sShapes.map((s) => Math.max(10, `${s.M}x${s.N}x${s.K}`.length)), 8];
    const ln = (c: string[]) => out.push(c.map((x, i) => (i === 1 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join(' '));
    ln(heads);
    list.forEach((r, i) => ln([String(i + 1), r.variant, ...r.tflops.map((x) => (x === null ? '-' : x.toFixed(1))), r.geomean ? r.geomean.toFixed(1) : '-']));
  }
  const cfgOf = (v: string) => v.split(':').slice(1).join(':');
  const area = (v: string) => {
    const d = cfgOf(v).split(':')[0]!.split('x').map(Number);
    return d[0]! * d[1]!;
  };
  const suggest = (fam: 'v2' | 'v3' | 'v4') => {
    // `:gb` configs need B as f16, which the engine does not make yet: ranked, never suggested.
    const l = (ranked[fam] ?? []).filter((r) => r.geomean > 0 && !isGb(r.variant));
    const big = l[0] ? cfgOf(l[0].variant) : MATMUL_DEFAULTS[fam].big;
    const sm = l.find((r) => area(r.variant) <= 8192);
    // (v2's alt: the N = 1152 comparison after the sweep, matmul-v2-alt.txt.)
    return `{ big: '${big}', small: '${sm ? cfgOf(sm.variant) : MATMUL_DEFAULTS[fam].small}'${fam === 'v2' ? ", alt: null /* or matmul-v2-alt.txt's */" : ''} }`;
  };
  out.push(`\n=== suggested MATMUL_DEFAULTS (kernels/matmul.ts) ===`);
  out.push(`  v2: ${suggest('v2')},`);
  out.push(`  v3: ${suggest('v3')},`);
  out.push(`  v4: ${suggest('v4')},`);
  // f32 on the tensor cores pays where its best config beats v2's best on the same shapes.
  const x3 = (ranked.x3 ?? []).filter((r) => r.geomean > 0), v2best = (ranked.v2 ?? []).find((r) => r.geomean > 0);
  if (x3[0]) out.push(`  f32x3: { on: ${!!v2best && x3[0].geomean > v2best.geomean}, big: '${cfgOf(x3[0].variant)}', small: '${cfgOf(x3.find((r) => area(r.variant) <= 8192)?.variant ?? `v4:${MATMUL_DEFAULTS.f32x3.small}`)}' },  // ${v2best ? (x3[0].geomean / v2best.geomean).toFixed(2) : '?'}× v2's best`);
  // The direct form (weights' f16 copies read from memory) pays where it beats the staged best.
  const v4 = (ranked.v4 ?? []).filter((r) => r.geomean > 0);
  const gb = v4.find((r) => isGb(r.variant)), staged = v4.find((r) => !isGb(r.variant));
  if (gb) out.push(`  direct: ${staged && gb.geomean > staged.geomean ? `'${gb.variant}',  // ${(gb.geomean / staged.geomean).toFixed(2)}× the staged best` : `null,  // the best :gb form, ${gb.variant}, is ${staged ? (gb.geomean / staged.geomean).toFixed(2) : '?'}× the staged best`}`);
  return { text: out.join('\n'), ranked };
}

await main();
