/**
 * Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
 * counter-based generator both backends share. Element i of a draw uses the counter
 * (offset + i) and the key (seed): no state is carried between elements, so a GPU thread
 * computes any element on its own and gets the same bits as this reference.
 *
 *   uniform: u = (w0 >> 8) · 2^-24                      (exact in f32, in [0, 1))
 *   normal:  z = sqrt(−2 ln u1) · cos(2π u2),  u1 = ((w0 >> 8) + 1) · 2^-24 ∈ (0, 1],  u2 = (w1 >> 8) · 2^-24
 */
export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

/**
 * High 32 bits of the 64-bit product a·b of two u32, exactly, in f64: with b = bH·2^16 + bL,
 * a·b = 2^16·(a·bH + ⌊a·bL / 2^16⌋) + (a·bL mod 2^16); both products are below 2^48 (exact), and
 * the remainder (< 2^16) cannot change ⌊a·b / 2^32⌋ = ⌊(a·bH + ⌊a·bL / 2^16⌋) / 2^16⌋. (The WGSL
 * builds the same bits from 16-bit halves.)
 */
function mulhi(a: number, b: number): number {
  return Math.floor((a * (b >>> 16) + Math.floor((a * (b & 0xffff)) / 65536)) / 65536) >>> 0;
}

/** Ten Philox rounds over the counter (c0..c3) with key (k0, k1); returns four 32-bit words. */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number): [number, number, number, number] {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(PHILOX_M0, c0), lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi(PHILOX_M1, c2), lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/**
 * The first two words of philox4x32(lo, hi, 0, 0, k0, k1) into out[0], out[1], allocating
 * nothing (the fill loop's hot path; the same rounds as philox4x32).
 */
function philoxPair(lo: number, hi: number, k0: number, k1: number, out: Uint32Array): void {
  let c0 = lo, c1 = hi, c2 = 0, c3 = 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(PHILOX_M0, c0), lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi(PHILOX_M1, c2), lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
}

/** Split a non-negative integer below 2^53 into 32-bit (lo, hi). */
export function split64(x: number): [number, number] {
  return [x >>> 0, Math.floor(x / 0x100000000) >>> 0];
}

/** Fill `out` with uniforms or normals for counters offset … offset + out.length − 1. */
export function philoxFill(out: Float32Array | Float64Array, dist: 'uniform' | 'normal', seed: number, offset: number): void {
  const [k0, k1] = split64(seed);
  const [o0, o1] = split64(offset);
  const w = new Uint32Array(2);
  for (let i = 0; i < out.length; i++) {
    const lo = (o0 + i) >>> 0;
    const hi = (o1 + Math.floor((o0 + i) / 0x100000000)) >>> 0;
    philoxPair(lo, hi, k0, k1, w);
    out[i] = drawFromWords(dist, w[0]!, w[1]!);
  }
}

/** The number a draw makes from its counter's words 0 and 1 (the formulas at the top of this file). */
export function drawFromWords(dist: 'uniform' | 'normal', w0: number, w1: number): number {
  if (dist === 'uniform') return (w0 >>> 8) * 2 ** -24;
  const u1 = ((w0 >>> 8) + 1) * 2 ** -24;
  const u2 = (w1 >>> 8) * 2 ** -24;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * A seeded stream: each draw takes the next `n` counters, so draws never overlap and a run is
 * reproducible from (seed, offset), which checkpoints save.
 */
export class Generator {
  constructor(public seed: number, public offset = 0) {}
  /** Reserve n counters; returns the first. */
  take(n: number): number {
    const o = this.offset;
    this.offset += n;
    return o;
  }
  state(): { seed: number; offset: number } {
    return { seed: this.seed, offset: this.offset };
  }
}

/** The stream used when a random op is given no generator; reset by `manualSeed`. */
export const defaultGenerator = new Generator(0);

/** Reset the default generator (as torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultGenerator.seed = seed;
  defaultGenerator.offset = 0;
}
