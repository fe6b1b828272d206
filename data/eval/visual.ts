/**
 * Reading the synthetic scene back from pixels: which pixels are "object", per-frame object
 * statistics, visual events (appearance, flash, bounce) and the dominant object colour.
 *
 * Object mask. A pixel's contrast d is its Euclidean RGB distance (in [-1, 1] units) to the
 * nearer of the two scene colours, BACKGROUND and FLOOR; its object weight is
 * w = clamp((d − 0.3) / 0.3, 0, 1), so the one-pixel anti-aliased rims count partly.
 *
 * Per frame m (all sums over pixels, weighted by w):
 *   area[m]    = Σ w                       (pixels)
 *   mass[m]    = Σ w · lum, lum = mean over RGB of (v + 1) / 2   (brightness × area)
 *   cy[m]      = Σ w · (y + 0.5) / area    (vertical centroid, pixels from the top)
 *   contact[m] = Σ_x w[floorTop − 1, x]    (object pixels in the row just above the floor strip)
 *
 * Events at frame m ≥ 1 (frame 0 has no past to compare with):
 *   - appearance / flash: the object mass jumps up, mass[m] ≥ (1 + jump) · mass[m−1] + minMass.
 *     An appearing object adds all its mass; a flashing one grows by 25 % and brightens towards
 *     white, so either way the luminous mass rises sharply, while a moving object keeps it.
 *   - flash: pixels that are object in both frames brighten, brighten[m] ≥ minBright (and ≥ 5 %
 *     of the object area), at a local maximum. Unlike the mass, this does not change when one
 *     object passes in front of another of its colour, nor when an object moves.
 *   - bounce: the object touches the floor at a local extreme of its vertical motion:
 *     contact[m] ≥ minContact, contact[m] − contact[m−1] ≥ minContact and contact[m] ≥ contact[m+1].
 *     (A bouncing object is on the floor exactly at its events and ≥ 2 px above it otherwise.)
 * Candidates closer than `merge` frames compete (the data never puts two events on adjacent
 * frames): floor contact beats brightening beats a mass rise, then the stronger wins.
 */
import { BACKGROUND, COLOURS, FLOOR, floorThickness } from '../synthetic-render.ts';

/** Shape of one clip's video: [M, 3, H, W]. */
export interface ClipDims {
  frames: number;
  height: number;
  width: number;
}

export interface FrameStats {
  area: Float64Array;
  mass: Float64Array;
  cy: Float64Array;
  cx: Float64Array;
  contact: Float64Array;
  /**
   * Brightening of pixels that are object in both frames: Σ w · max(0, lum[m] − lum[m−1] − 0.05)
   * over pixels with w = min(w[m−1], w[m]) ≥ 0.5; 0 at m = 0.
   */
  brighten: Float64Array;
  /** Mean |frame[m] − frame[m−1]| over all pixels and channels ([-1, 1] units); motion[0] = 0. */
  motion: Float64Array;
}

export interface VisualEventOptions {
  /** Relative rise of the object mass that marks an appearance or flash (default 0.25). */
  jump?: number;
  /** Absolute part of the rise, in pixels × brightness (default 0.5 + 0.002·H·W). */
  minMass?: number;
  /** Brightening (see FrameStats.brighten) that marks a flash (default minMass, and ≥ 5 % of the object area). */
  minBright?: number;
  /** Floor-contact pixels that mark a bounce (default 0.75). */
  minContact?: number;
  /** Minimum frames between two detections (default 2). */
  merge?: number;
}

const W_LO = 0.3;
const W_HI = 0.6;
/** Luminance rise per pixel ignored by `brighten` (anti-aliased rims of moving objects). */
const BRIGHT_STEP = 0.05;

/** Object weight in [0, 1] of each pixel of each frame → [M, H, W]. */
export function objectWeights(video: Float32Array, d: ClipDims): Float32Array {
  const { frames: M, height: H, width: W } = d;
  const hw = H * W;
  if (video.length !== M * 3 * hw) throw new Error(`objectWeights: video has ${video.length} values, expected ${M}×3×${H}×${W}`);
  const out = new Float32Array(M * hw);
  for (let m = 0; m < M; m++) {
    const off = m * 3 * hw;
    for (let p = 0; p < hw; p++) {
      let db = 0;
      let df = 0;
      for (let c = 0; c < 3; c++) {
        const v = video[off + c * hw + p]!;
        db += (v - BACKGROUND[c]!) ** 2;
        df += (v - FLOOR[c]!) ** 2;
      }
      const dist = Math.sqrt(Math.min(db, df));
      out[m * hw + p] = Math.min(1, Math.max(0, (dist - W_LO) / (W_HI - W_LO)));
    }
  }
  return out;
}

/** Per-frame object statistics of one clip [M, 3, H, W] (see the file comment). */
export function frameStats(video: Float32Array, d: ClipDims, weights = objectWeights(video, d)): FrameStats {
  const { frames: M, height: H, width: W } = d;
  const hw = H * W;
  const s: FrameStats = {
    area: new Float64Array(M), mass: new Float64Array(M), cy: new Float64Array(M), cx: new Float64Array(M),
    contact: new Float64Array(M), brighten: new Float64Array(M), motion: new Float64Array(M),
  };
  const row = H - floorThickness(H) - 1;
  for (let m = 0; m < M; m++) {
    const off = m * 3 * hw;
    let a = 0;
    let e = 0;
    let sy = 0;
    let sx = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const w = weights[m * hw + p]!;
        if (w <= 0) continue;
        const lum = (video[off + p]! + video[off + hw + p]! + video[off + 2 * hw + p]! + 3) / 6;
        a += w;
        e += w * lum;
        sy += w * (y + 0.5);
        sx += w * (x + 0.5);
        if (y === row) s.contact[m] = s.contact[m]! + w;
      }
    }
    s.area[m] = a;
    s.mass[m] = e;
    s.cy[m] = a > 0 ? sy / a : H / 2;
    s.cx[m] = a > 0 ? sx / a : W / 2;
    if (m > 0) {
      let diff = 0;
      for (let i = 0; i < 3 * hw; i++) diff += Math.abs(video[off + i]! - video[off - 3 * hw + i]!);
      s.motion[m] = diff / (3 * hw);
      const prev = off - 3 * hw;
      let b = 0;
      for (let p = 0; p < hw; p++) {
        const w = Math.min(weights[m * hw + p]!, weights[(m - 1) * hw + p]!);
        if (w < 0.5) continue;
        const dl = (video[off + p]! + video[off + hw + p]! + video[off + 2 * hw + p]! - video[prev + p]! - video[prev + hw + p]! - video[prev + 2 * hw + p]!) / 6;
        if (dl > BRIGHT_STEP) b += w * (dl - BRIGHT_STEP);
      }
      s.brighten[m] = b;
    }
  }
  return s;
}

/** Visual event frames of one clip (sorted), from its per-frame statistics. */
export function eventsFromStats(s: FrameStats, d: ClipDims, o: VisualEventOptions = {}): number[] {
  const M = d.frames;
  const jump = o.jump ?? 0.25;
  const minMass = o.minMass ?? 0.5 + 0.002 * d.height * d.width;
  const minContact = o.minContact ?? 0.75;
  const merge = o.merge ?? 2;
  const minBright = o.minBright ?? minMass;
  // Each candidate frame gets a priority: floor contact (3) > brightening (2) > mass rise (1),
  // plus a fraction for its strength; adjacent candidates keep the higher one.
  const hits: [number, number][] = [];
  for (let m = 1; m < M; m++) {
    const c = s.contact[m]!;
    const touch = c >= minContact && c - s.contact[m - 1]! >= minContact && (m === M - 1 || c >= s.contact[m + 1]!);
    const b = s.brighten[m]!;
    const bright = b >= minBright && b >= 0.05 * Math.max(s.area[m]!, s.area[m - 1]!) && (m === M - 1 || b >= s.brighten[m + 1]!);
    const ratio = s.mass[m]! / (s.mass[m - 1]! + minMass);
    const rise = s.mass[m]! >= (1 + jump) * s.mass[m - 1]! + minMass;
    const score = touch ? 3 + c / (1 + c) : bright ? 2 + b / (1 + b) : rise ? 1 + ratio / (1 + ratio) : 0;
    if (score > 0) hits.push([m, score]);
  }
  hits.sort((a, b) => b[1] - a[1]);
  const out: number[] = [];
  for (const [m] of hits) if (out.every((k) => Math.abs(k - m) >= merge)) out.push(m);
  return out.sort((a, b) => a - b);
}

/** Visual event frames of one clip [M, 3, H, W] in [-1, 1]. */
export function detectVisualEvents(video: Float32Array, d: ClipDims, o: VisualEventOptions = {}): number[] {
  return eventsFromStats(frameStats(video, d), d, o);
}

/**
 * Share of object weight nearest to each colour (chromaticity r/(r+g+b), g/(r+g+b) of the
 * pixel's [0, 1] RGB against each COLOURS entry's), over pixels with w ≥ 0.5 of all frames.
 * Only the first `nColours` colours are candidates. All zeros when there is no object.
 */
export function colourHistogram(video: Float32Array, d: ClipDims, nColours = COLOURS.length, weights = objectWeights(video, d)): Float64Array {
  const { frames: M, height: H, width: W } = d;
  const hw = H * W;
  const ref = COLOURS.slice(0, nColours).map((c) => chroma((c.rgb[0] + 1) / 2, (c.rgb[1] + 1) / 2, (c.rgb[2] + 1) / 2));
  const hist = new Float64Array(nColours);
  let total = 0;
  for (let m = 0; m < M; m++) {
    const off = m * 3 * hw;
    for (let p = 0; p < hw; p++) {
      const w = weights[m * hw + p]!;
      if (w < 0.5) continue;
      const [r, g] = chroma((video[off + p]! + 1) / 2, (video[off + hw + p]! + 1) / 2, (video[off + 2 * hw + p]! + 1) / 2);
      let best = 0;
      let bestD = Infinity;
      ref.forEach(([cr, cg], k) => {
        const dd = (r - cr) ** 2 + (g - cg) ** 2;
        if (dd < bestD) [best, bestD] = [k, dd];
      });
      hist[best] = hist[best]! + w;
      total += w;
    }
  }
  if (total > 0) for (let k = 0; k < nColours; k++) hist[k] = hist[k]! / total;
  return hist;
}

function chroma(r: number, g: number, b: number): [number, number] {
  const s = Math.max(1e-6, r + g + b);
  return [r / s, g / s];
}

/** Index of the dominant object colour (into COLOURS, < nColours), or −1 when no object is seen. */
export function dominantColour(video: Float32Array, d: ClipDims, nColours = COLOURS.length): number {
  const h = colourHistogram(video, d, nColours);
  let best = -1;
  let bestV = 0;
  h.forEach((v, k) => {
    if (v > bestV) [best, bestV] = [k, v];
  });
  return best;
}
