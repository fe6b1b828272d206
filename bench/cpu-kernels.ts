/**
 * The CPU backend's WebAssembly kernels besides the matmul (engine/cpu/wasm/kernels.wat) against
 * the JavaScript they replace, same process, one thread, tinybench medians:
 *   - f32 GELU and its gradient over 2^18 elements (the same bits either way);
 *   - 2^18 normal draws: Philox words in WebAssembly vs philoxFill (the same numbers);
 *   - a sum over the leading axis of [8192, 64] (a bias gradient; the same bits);
 *   - f32 arithmetic as the demo's training step makes it: a product of [8,3,8,16,16] tensors, a
 *     bias-style add [128,8,64] + [1,8,64], a·x + b (the same values), the backend's JavaScript
 *     row loops against the WebAssembly rows; transposes (the matmul's and attention's); gathers
 *     of attention heads out of a packed qkv projection;
 *   - attention forward and backward for narrow heads at the tiny models' shapes and longer ones:
 *     the WebAssembly path vs the gemm path (per head through gemmABt).
 * Writes bench/results/cpu-kernels.json.
 *
 *   node --import tsx bench/cpu-kernels.ts
 */
import { Bench } from 'tinybench';
import type { AttentionDims } from '../engine/backend.ts';
import { attentionBwdGemm, attentionFwdGemm } from '../engine/cpu/fused.ts';
import { fillRandom } from '../engine/cpu/random-fill.ts';
import { geluF32, geluGradF32 } from '../engine/cpu/scalar-math.ts';
import { attentionBwdWasm, attentionFwdWasm } from '../engine/cpu/wasm/attention.ts';
import { binaryWasm, colSumWasm, geluBwdWasm, geluWasm, gatherRowsWasm, transposeWasm, unaryWasm } from '../engine/cpu/wasm/elementwise.ts';
import { forEachRow } from '../engine/cpu/indexing.ts';
import { philoxFill } from '../engine/rng.ts';
import { writeResult } from './results.ts';

const fill = (n: number, p: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * p) * 3);
const rows: { what: string; jsMs: number; wasmMs: number; speedup: number }[] = [];

async function pair(what: string, js: () => void, wasm: () => void, time = 800): Promise<void> {
  const bench = new Bench({ time, warmupIterations: 3 });
  bench.add('js', js);
  bench.add('wasm', wasm);
  await bench.run();
  const p50 = (name: string) => (bench.tasks.find((t) => t.name === name)!.result as unknown as { latency: { p50: number } }).latency.p50;
  const row = { what, jsMs: p50('js'), wasmMs: p50('wasm'), speedup: p50('js') / p50('wasm') };
  rows.push(row);
  console.log(`${what.padEnd(44)} js ${row.jsMs.toFixed(3).padStart(8)} ms   wasm ${row.wasmMs.toFixed(3).padStart(8)} ms   ${row.speedup.toFixed(2)}×`);
}

const n = 1 << 18;
const X = fill(n, 0.37), DY = fill(n, 0.11), O = new Float32Array(n);
await pair('GELU, 2^18 f32', () => { for (let i = 0; i < n; i++) O[i] = geluF32(X[i]!); }, () => geluWasm(X, O, 0, n));
await pair('GELU gradient, 2^18 f32', () => { for (let i = 0; i < n; i++) O[i] = DY[i]! * geluGradF32(X[i]!); }, () => geluBwdWasm(X, DY, O, 0, n));
await pair('normal draws, 2^18 f32', () => philoxFill(O, 'normal', 7, 0), () => fillRandom(O, 'normal', 7, 0));
const R = 8192, C = 64, S = new Float32Array(C);
await pair('sum over rows, [8192, 64] → [64]', () => {
  S.fill(0);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) S[c] += X[r * C + c]!;
}, () => { S.fill(0); colSumWasm(X, S, R, C); });

// The backend's JavaScript loops (engine/cpu/backend.ts binary / unary before the module took
// f32; matmul.ts transpose2d; attention-layout.ts gatherRows), written out here.
function jsMul(O: Float32Array, A: Float32Array, aShape: number[], B: Float32Array, bShape: number[], out: number[]): void {
  forEachRow(out, [aShape, bShape], (o0, offs, inner, m) => {
    let ia = offs[0]!, ib = offs[1]!;
    const sa = inner[0]!, sb = inner[1]!;
    for (let j = 0; j < m; j++, ia += sa, ib += sb) O[o0 + j] = A[ia]! * B[ib]!;
  });
}
function jsAdd(O: Float32Array, A: Float32Array, aShape: number[], B: Float32Array, bShape: number[], out: number[]): void {
  forEachRow(out, [aShape, bShape], (o0, offs, inner, m) => {
    let ia = offs[0]!, ib = offs[1]!;
    const sa = inner[0]!, sb = inner[1]!;
    for (let j = 0; j < m; j++, ia += sa, ib += sb) O[o0 + j] = A[ia]! + B[ib]!;
  });
}
const e5 = [8, 3, 8, 16, 16], n5 = 8 * 3 * 8 * 16 * 16;
const P = fill(n5, 0.21), Q = fill(n5, 0.43), PQ = new Float32Array(n5);
await pair('product, [8,3,8,16,16] f32', () => jsMul(PQ, P, e5, Q, e5, e5), () => binaryWasm('mul', PQ, P, e5, Q, e5, e5));
const bias = fill(512, 0.9);
await pair('bias add, [128,8,64] + [1,8,64] f32', () => jsAdd(PQ, P, [128, 8, 64], bias, [1, 8, 64], [128, 8, 64]), () => binaryWasm('add', PQ, P, [128, 8, 64], bias, [1, 8, 64], [128, 8, 64]));
await pair('a·x + b, 2^18 f32', () => { for (let i = 0; i < n; i++) O[i] = 0.7 * X[i]! + 0.1; }, () => unaryWasm('affine', X, O, 0.7, 0.1));
for (const [rws, cls] of [[1280, 64], [1024, 1024]] as const) {
  const T = fill(rws * cls, 0.13), TO = new Float32Array(rws * cls);
  await pair(`transpose, [${rws}, ${cls}] f32`, () => { for (let r = 0; r < rws; r++) for (let c = 0; c < cls; c++) TO[c * rws + r] = T[r * cls + c]!; }, () => transposeWasm(T, 0, TO, 0, rws, cls));
}
{
  // q of a packed [64, 16, 3, 4, 16] projection (the demo's video spatial attention): 256 heads × 16 rows × 16.
  const Bq = 64, L = 16, H = 4, w = 16, src = fill(Bq * L * 3 * H * w, 0.17), g = new Float32Array(Bq * H * L * w);
  const r = { off: 0, sB: L * 3 * H * w, sH: w, sL: 3 * H * w };
  await pair('gather heads, packed [64,16,3,4,16] → q', () => {
    for (let h = 0; h < Bq * H; h++) {
      for (let i = 0; i < L; i++) {
        const s0 = r.off + Math.floor(h / H) * r.sB + (h % H) * r.sH + i * r.sL, o0 = (h * L + i) * w;
        for (let c = 0; c < w; c++) g[o0 + c] = src[s0 + c]!;
      }
    }
  }, () => gatherRowsWasm(src, H, Bq * H, [{ r, len: L, w }], [g]));
}

const shapes: [string, AttentionDims][] = [
  ['video spatial (demo, b8): 256 × 16² × 16', { n: 256, l: 16, s: 16, dqk: 16, dv: 16, scale: 0.25 }],
  ['audio spatial (demo, b8): 32 × 32² × 16', { n: 32, l: 32, s: 32, dqk: 16, dv: 16, scale: 0.25 }],
  ['temporal (demo, b8): 512 × 8² × 2/16', { n: 512, l: 8, s: 8, dqk: 2, dv: 16, scale: 0.7 }],
  ['longer: 4 × 256² × 16', { n: 4, l: 256, s: 256, dqk: 16, dv: 16, scale: 0.25 }],
  ['wider: 32 × 32² × 32', { n: 32, l: 32, s: 32, dqk: 32, dv: 32, scale: 0.18 }],
];
for (const [name, d] of shapes) {
  const q = fill(d.n * d.l * d.dqk, 0.3), k = fill(d.n * d.s * d.dqk, 0.7), v = fill(d.n * d.s * d.dv, 0.5), dO = fill(d.n * d.l * d.dv, 0.9);
  const o = new Float32Array(d.n * d.l * d.dv), lse = new Float32Array(d.n * d.l);
  const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
  attentionFwdGemm(q, k, v, d, o, lse, 0, d.n);
  await pair(`attention fwd, ${name}`, () => attentionFwdGemm(q, k, v, d, o, lse, 0, d.n), () => attentionFwdWasm(q, k, v, d, o, lse, 0, d.n));
  await pair(`attention bwd, ${name}`, () => attentionBwdGemm(q, k, v, o, lse, dO, d, dq, dk, dv, 0, d.n), () => attentionBwdWasm(q, k, v, o, lse, dO, d, dq, dk, dv, 0, d.n));
}
writeResult('cpu-kernels', { note: 'js = the JavaScript the WebAssembly kernel replaces (for attention: the gemm path); one thread; tinybench medians', rows });
