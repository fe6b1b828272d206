/**
 * Perceptual colormaps (matplotlib's viridis and magma, 9 anchors each, linearly interpolated),
 * and the spectrogram picture: time on x, frequency upwards.
 */
import { blankImage, type RgbaImage } from './rgba.ts';

export type ColormapName = 'viridis' | 'magma' | 'gray';

const ANCHORS: Record<ColormapName, number[][]> = {
  viridis: [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]],
  magma: [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122], [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]],
  gray: [[0, 0, 0], [255, 255, 255]],
};

/** Colour of u ∈ [0, 1] (clamped) under a colormap, as [r, g, b] bytes. */
export function colormap(name: ColormapName, u: number): [number, number, number] {
  const a = ANCHORS[name];
  const x = (Number.isFinite(u) ? Math.min(1, Math.max(0, u)) : 0) * (a.length - 1);
  const i = Math.min(a.length - 2, Math.floor(x));
  const f = x - i;
  const p = a[i]!;
  const q = a[i + 1]!;
  return [0, 1, 2].map((c) => Math.round(p[c]! + (q[c]! - p[c]!) * f)) as [number, number, number];
}

export interface SpectrogramImageOptions {
  colormap?: ColormapName;
  /** Pixels per time frame and per frequency band (default 2 and 4). */
  xScale?: number;
  yScale?: number;
  /** Value range mapped to the colormap (default: the data's min and max). */
  vmin?: number;
  vmax?: number;
}

/** A spectrogram [T, F] (e.g. log-mel) → image of T·xScale × F·yScale, low frequencies at the bottom. */
export function spectrogramImage(spec: Float32Array, T: number, F: number, o: SpectrogramImageOptions = {}): RgbaImage {
  if (spec.length !== T * F) throw new Error(`spectrogramImage: ${spec.length} values is not ${T}×${F}`);
  const xs = o.xScale ?? 2;
  const ys = o.yScale ?? 4;
  let lo = o.vmin ?? Infinity;
  let hi = o.vmax ?? -Infinity;
  if (o.vmin === undefined || o.vmax === undefined) {
    for (const v of spec) {
      if (!Number.isFinite(v)) continue;
      if (o.vmin === undefined) lo = Math.min(lo, v);
      if (o.vmax === undefined) hi = Math.max(hi, v);
    }
  }
  const span = hi > lo ? hi - lo : 1;
  const img = blankImage(T * xs, F * ys);
  const cm = o.colormap ?? 'magma';
  for (let t = 0; t < T; t++) {
    for (let f = 0; f < F; f++) {
      const [r, g, b] = colormap(cm, (spec[t * F + f]! - lo) / span);
      const y0 = (F - 1 - f) * ys;
      for (let dy = 0; dy < ys; dy++) for (let dx = 0; dx < xs; dx++) img.data.set([r, g, b, 255], ((y0 + dy) * img.width + t * xs + dx) * 4);
    }
  }
  return img;
}
