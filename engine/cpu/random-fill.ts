/**
 * The CPU backend's random fills: engine/rng.ts philoxFill's numbers, with the Philox words made
 * in WebAssembly where it is available (one i64 multiply per product, against four 16-bit partial
 * products in JavaScript: most of a draw's time) and the floats made from them by the same
 * drawFromWords.
 */
import { drawFromWords, philoxFill, split64 } from '../rng.ts';
import { PHILOX_WASM_CHUNK, philoxWordsWasm } from './wasm/elementwise.ts';

/** out[i] = draw of counter offset + i under key `seed`. */
export function fillRandom(out: Float32Array | Float64Array, dist: 'uniform' | 'normal', seed: number, offset: number): void {
  const [k0, k1] = split64(seed);
  for (let i = 0; i < out.length; i += PHILOX_WASM_CHUNK) {
    const n = Math.min(PHILOX_WASM_CHUNK, out.length - i);
    const [o0, o1] = split64(offset + i);
    const w = philoxWordsWasm(n, o0, o1, k0, k1);
    if (!w) {
      philoxFill(out.subarray(i), dist, seed, offset + i);
      return;
    }
    for (let j = 0; j < n; j++) out[i + j] = drawFromWords(dist, w[2 * j]!, w[2 * j + 1]!);
  }
}
