/**
 * Philox-4x32-10 in WGSL, bit-identical to engine/rng.ts: element i uses the 64-bit counter
 * (offset + i) as (c0, c1), c2 = c3 = 0, key = the seed's (lo, hi). 32×32→64 products are built
 * from 16-bit halves because WGSL has no 64-bit integers.
 *
 * uniform: (w0 >> 8)·2^-24, exact. normal: Box–Muller sqrt(−2 ln u1)·cos(2π u2), with our own
 * log and cos (argument reduction done exactly on the 24-bit integers) so the result stays within
 * a few ulp of the CPU's f64 maths on any GPU, whatever its native log/cos precision.
 */
import { uniforms, type GpuContext } from './context.ts';
import { entry, GROUP_INDEX_WGSL, gridFor } from './grid.ts';

const PHILOX_WGSL = /* wgsl */ `
fn mulhi(a: u32, b: u32) -> u32 {
  let aL = a & 0xffffu; let aH = a >> 16u; let bL = b & 0xffffu; let bH = b >> 16u;
  let ll = aL * bL; let lh = aL * bH; let hl = aH * bL; let hh = aH * bH;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}
fn philox(c: vec4u, k: vec2u) -> vec4u {
  var x = c;
  var key = k;
  for (var r = 0; r < 10; r++) {
    let hi0 = mulhi(0xd2511f53u, x.x); let lo0 = 0xd2511f53u * x.x;
    let hi1 = mulhi(0xcd9e8d57u, x.z); let lo1 = 0xcd9e8d57u * x.z;
    x = vec4u(hi1 ^ x.y ^ key.x, lo1, hi0 ^ x.w ^ key.y, lo0);
    key = key + vec2u(0x9e3779b9u, 0xbb67ae85u);
  }
  return x;
}
// ln(v) for v > 0: v = m·2^e with m in [√½, √2), ln m = 2·atanh(s), s = (m−1)/(m+1), |s| < 0.172.
fn ln_(v: f32) -> f32 {
  let fe = frexp(v);
  var m = fe.fract;
  var e = f32(fe.exp);
  if (m < 0.70710678) { m = m * 2.0; e = e - 1.0; }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let p = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 / 13.0)))));
  return e * 0.693147180559945 + 2.0 * s * p;
}
// cos(2π·k/2^24) for an integer k in [0, 2^24): quadrant reduction in integers, then Taylor on [0, π/4].
fn cos2pi_(k: u32) -> f32 {
  let q = k >> 22u;            // quadrant 0..3
  var r = k & 0x3fffffu;       // position inside it, of 2^22
  var useSin = (q & 1u) == 1u; // cos(π/2·q + t) is ±cos t or ∓sin t
  let neg = q == 1u || q == 2u;
  if (r > 0x200000u) { r = 0x400000u - r; useSin = !useSin; } // fold to [0, π/4]
  let t = f32(r) * (1.5707963267948966 / 4194304.0);
  let t2 = t * t;
  var v: f32;
  if (useSin) {
    v = t * (1.0 - t2 / 6.0 * (1.0 - t2 / 20.0 * (1.0 - t2 / 42.0 * (1.0 - t2 / 72.0 * (1.0 - t2 / 110.0)))));
  } else {
    v = 1.0 - t2 / 2.0 * (1.0 - t2 / 12.0 * (1.0 - t2 / 30.0 * (1.0 - t2 / 56.0 * (1.0 - t2 / 90.0 * (1.0 - t2 / 132.0)))));
  }
  return select(v, -v, neg);
}`;

function code(dist: 'uniform' | 'normal'): string {
  const value = dist === 'uniform'
    ? 'f32(w.x >> 8u) * 5.9604644775390625e-8'
    : 'sqrt(-2.0 * ln_(f32((w.x >> 8u) + 1u) * 5.9604644775390625e-8)) * cos2pi_(w.y >> 8u)';
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
struct U { n: u32, k0: u32, k1: u32, o0: u32, o1: u32 }
@group(0) @binding(1) var<uniform> u: U;
${PHILOX_WGSL}
${GROUP_INDEX_WGSL}
${entry(256)}
  if (gi >= u.n) { return; }
  let lo = u.o0 + gi;
  let hi = u.o1 + select(0u, 1u, lo < u.o0); // carry of the 64-bit counter
  let w = philox(vec4u(lo, hi, 0u, 0u), vec2u(u.k0, u.k1));
  out[gi] = ${value};
}`;
}

const split64 = (x: number): [number, number] => [x >>> 0, Math.floor(x / 0x100000000) >>> 0];

export function encodeRandom(ctx: GpuContext, out: GPUBuffer, dist: 'uniform' | 'normal', n: number, seed: number, offset: number): void {
  if (n === 0) return;
  const [k0, k1] = split64(seed);
  const [o0, o1] = split64(offset);
  ctx.dispatch({
    key: `rng/philox/${dist}`,
    code: () => code(dist),
    buffers: [out],
    uniforms: uniforms([['u32', n], ['u32', k0], ['u32', k1], ['u32', o0], ['u32', o1]]),
    workgroups: gridFor(ctx, n),
  });
}
