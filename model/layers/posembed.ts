/**
 * Fixed sine-cosine position embeddings (MAE / DiT's get_1d/2d_sincos_pos_embed), computed in
 * f64 and returned as plain arrays.
 *
 *   1-D, position m over D channels: ω_i = 10000^(−i/(D/2)), i < D/2;
 *     emb[m] = [sin(m ω_0) … sin(m ω_{D/2−1}), cos(m ω_0) … cos(m ω_{D/2−1})]
 *   2-D on an H×W grid (row-major tokens): first D/2 channels = 1-D of the column (w) index,
 *     last D/2 = 1-D of the row (h) index — DiT's meshgrid(w, h) order.
 */
export function sincos1d(dim: number, positions: ArrayLike<number>): Float64Array {
  if (dim % 2 !== 0) throw new Error(`sincos1d: dim ${dim} must be even`);
  const half = dim / 2;
  const out = new Float64Array(positions.length * dim);
  for (let m = 0; m < positions.length; m++) {
    for (let i = 0; i < half; i++) {
      const a = positions[m]! * Math.pow(10000, -i / half);
      out[m * dim + i] = Math.sin(a);
      out[m * dim + half + i] = Math.cos(a);
    }
  }
  return out;
}

/** [H·W, D] for an H×W grid, tokens in row-major order. */
export function sincos2d(dim: number, h: number, w: number): Float64Array {
  if (dim % 4 !== 0) throw new Error(`sincos2d: dim ${dim} must be divisible by 4`);
  const half = dim / 2;
  const cols = sincos1d(half, Array.from({ length: w }, (_, i) => i));
  const rows = sincos1d(half, Array.from({ length: h }, (_, i) => i));
  const out = new Float64Array(h * w * dim);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const o = (r * w + c) * dim;
      out.set(cols.subarray(c * half, (c + 1) * half), o);
      out.set(rows.subarray(r * half, (r + 1) * half), o + half);
    }
  }
  return out;
}
