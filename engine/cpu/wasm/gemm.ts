/**
 * The WebAssembly SIMD f32 matmul (gemm.wat) as gemmABt sees it: C[M,N] += A[M,K]·Bt[N,K]ᵀ on
 * Float32Arrays at offsets.
 *
 * Each thread (the main one and every CPU worker, which loads its own copy of this module)
 * compiles and instantiates the module once, synchronously, on first use, and keeps one linear
 * memory that grows to the largest problem seen and is reused by every call.
 *
 * A call copies Bt in (memcpy, a chunk of rows at a time) and packs it into panels of 8
 * columns, then walks A in chunks of rows sized so that the packed chunk (≤ 128 KB) stays in L2
 * while the B panels pass over it: copy the chunk of A in and pack it into micro-panels of 4
 * rows, copy that chunk's rows of C in (≤ 4 MB), run the kernel (C +=), copy them back. The
 * copies are one pass over each operand and two over C, against K multiply-adds per element of
 * C: 9–19% of a call at the tiny AV-DiT's shapes, 3% at 512³ (bench/RESULTS.md).
 *
 * Every element of C is C + (sum over k in order, in f32, mul then add): the same bits whichever
 * chunk, tile or thread computes a row, so thread splits stay bit-identical (threads.ts).
 *
 * AVDIT_CPU_WASM=0 turns it off (gemmABt keeps its JS kernel); so does a runtime without
 * WebAssembly SIMD.
 */
import { gemmWasmBytes } from './gemm-wasm.ts';
import { instantiate, reserve, type WasmMemory } from './instance.ts';

interface Kernel {
  memory: WasmMemory;
  pack: (src: number, dst: number, rows: number, rowsP: number, K: number, R: number) => void;
  gemm: (ap: number, bp: number, cp: number, M: number, N: number, K: number, tmp: number) => void;
}

/** undefined: not tried yet; null: unavailable (disabled or no SIMD). */
let kernel: Kernel | null | undefined;
let heap = new Float32Array(0);

/** The floats of A in one packed chunk: 32 Ki f32 = 128 KB (2¹³ … 2¹⁷ measured the same on 2026-11-26). */
const CHUNK_FLOATS = 1 << 15;
/** The floats of C in one chunk (4 MB): bounds the memory when K is small and N large. */
const C_CHUNK_FLOATS = 1 << 20;
/** Linear memory beyond which a call leaves the work to the JS kernel (wasm32 stops at 4 GB). */
const MAX_BYTES = 2 ** 31;

function load(): Kernel | null {
  if (kernel !== undefined) return kernel;
  kernel = instantiate<Kernel>(gemmWasmBytes);
  return kernel;
}

/** Whether the WebAssembly kernel is available in this thread (compiled on first call). */
export function wasmGemmAvailable(): boolean {
  return load() !== null;
}

const up = (x: number, m: number) => Math.ceil(x / m) * m;

/**
 * C[M,N] += A[M,K]·Bt[N,K]ᵀ in WebAssembly. Returns false (having done nothing) when the module
 * is unavailable or the problem needs more linear memory than MAX_BYTES.
 */
export function gemmABtWasm(A: Float32Array, aOff: number, Bt: Float32Array, btOff: number, C: Float32Array, cOff: number, M: number, K: number, N: number): boolean {
  const k = load();
  if (!k) return false;
  if (M <= 0 || N <= 0 || K <= 0) return true;
  // Rows per chunk (a multiple of 8, so that chunks of Bt rows are whole panels), the chunk of C
  // at most C_CHUNK_FLOATS.
  const mcMax = Math.max(8, Math.floor(Math.min(CHUNK_FLOATS / K, C_CHUNK_FLOATS / N) / 8) * 8);
  const Np = up(N, 8);
  // Rows of Bt per copy-and-pack step.
  const nc = Math.min(Np, Math.max(8, Math.floor(CHUNK_FLOATS / K / 8) * 8));
  // The limit is checked with the largest chunk so that the answer does not depend on M.
  if (128 + (Math.max(mcMax, nc) + mcMax + Np) * K * 4 + mcMax * N * 4 > MAX_BYTES) return false;
  const mc = Math.min(up(M, 8), mcMax);
  // Layout (bytes, all multiples of 16): tmp[128] | raw chunk | packed A chunk | packed Bt | C chunk
  const tmp = 0;
  const raw = 128;
  const ap = raw + Math.max(mc, nc) * K * 4;
  const bp = ap + mc * K * 4;
  const cp = bp + Np * K * 4;
  const end = cp + up(mc * N * 4, 16);
  const mem = k.memory;
  reserve(mem, end);
  if (heap.buffer !== mem.buffer) heap = new Float32Array(mem.buffer);
  const H = heap;
  for (let j = 0; j < N; j += nc) {
    const n = Math.min(nc, N - j);
    H.set(Bt.subarray(btOff + j * K, btOff + (j + n) * K), raw >> 2);
    k.pack(raw, bp + j * K * 4, n, up(n, 8), K, 8);
  }
  for (let i = 0; i < M; i += mc) {
    const m = Math.min(mc, M - i);
    H.set(A.subarray(aOff + i * K, aOff + (i + m) * K), raw >> 2);
    k.pack(raw, ap, m, up(m, 4), K, 4);
    const c0 = cOff + i * N;
    H.set(C.subarray(c0, c0 + m * N), cp >> 2);
    k.gemm(ap, bp, cp, m, N, K, tmp);
    C.set(H.subarray(cp >> 2, (cp >> 2) + m * N), c0);
  }
  return true;
}
