/**
 * A loss-curve line chart drawn straight into pixels: axes, "nice" ticks (1, 2, 5 × 10^k) with
 * 3×5-font labels, light grid lines, one polyline per series, optional log-scaled y axis.
 */
import { drawText, TEXT_HEIGHT, textWidth } from './font.ts';
import { blankImage, type RgbaImage } from './rgba.ts';

export interface Series {
  /** y values; x defaults to 0, 1, 2, … */
  y: ArrayLike<number>;
  x?: ArrayLike<number>;
  rgb?: [number, number, number];
}

export interface PlotOptions {
  width?: number;
  height?: number;
  logY?: boolean;
  /** Text scale of tick labels (default 2: 6×10 px glyphs). */
  textScale?: number;
}

const PALETTE: [number, number, number][] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]];

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k === 0 ? 0 : parseFloat((k * step).toPrecision(12)));
  return out;
}

/** Short label: 3 significant digits, exponent form for very large or small values. */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(parseFloat(v.toPrecision(3)));
}

function line(img: RgbaImage, x0: number, y0: number, x1: number, y1: number, rgb: [number, number, number]): void {
  // Bresenham, two pixels thick vertically so thin curves stay visible.
  x0 = Math.round(x0); y0 = Math.round(y0); x1 = Math.round(x1); y1 = Math.round(y1);
  const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    for (const yy of [y0, y0 + 1]) if (x0 >= 0 && yy >= 0 && x0 < img.width && yy < img.height) img.data.set([...rgb, 255], (yy * img.width + x0) * 4);
    if (x0 === x1 && y0 === y1) break;
    const e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

/** Line chart of one or more series (e.g. training loss per step). */
export function plotLines(input: ArrayLike<number> | Series[], o: PlotOptions = {}): RgbaImage {
  const series: Series[] = Array.isArray(input) && input.length > 0 && typeof input[0] === 'object' ? (input as Series[]) : [{ y: input as ArrayLike<number> }];
  const W = o.width ?? 480;
  const H = o.height ?? 300;
  const ts = o.textScale ?? 2;
  const logY = o.logY ?? false;
  const fy = (v: number) => (logY ? Math.log10(v) : v);
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.y.length; i++) {
      const x = s.x ? s.x[i]! : i;
      const y = fy(s.y[i]!);
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      xmin = Math.min(xmin, x); xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, y); ymax = Math.max(ymax, y);
    }
  }
  if (!Number.isFinite(xmin)) { xmin = 0; xmax = 1; ymin = 0; ymax = 1; }
  if (xmax === xmin) xmax = xmin + 1;
  if (ymax === ymin) { ymin -= 0.5; ymax += 0.5; }
  const pad = (ymax - ymin) * 0.05;
  ymin -= pad; ymax += pad;
  // Log axis: ticks at powers of ten when the data spans two or more, else round values in between.
  const decades = logY ? niceTicks(Math.ceil(ymin), Math.floor(ymax), 5).filter(Number.isInteger) : [];
  const yTicks = !logY ? niceTicks(ymin, ymax, 5)
    : decades.length >= 2 ? decades
    : niceTicks(Math.pow(10, ymin), Math.pow(10, ymax), 5).filter((v) => v > 0).map(Math.log10);
  const yLabel = (v: number) => tickLabel(logY ? Math.pow(10, v) : v);
  const xTicks = niceTicks(xmin, xmax, 6);
  const left = 8 + Math.max(...yTicks.map((v) => textWidth(yLabel(v), ts)));
  const bottom = H - (TEXT_HEIGHT * ts + 10);
  const top = 8;
  const right = W - 12;
  const px = (x: number) => left + ((x - xmin) / (xmax - xmin)) * (right - left);
  const py = (y: number) => bottom - ((y - ymin) / (ymax - ymin)) * (bottom - top);
  const img = blankImage(W, H, [255, 255, 255]);
  const grey: [number, number, number] = [225, 225, 225];
  const black: [number, number, number] = [0, 0, 0];
  for (const v of yTicks) {
    const y = Math.round(py(v));
    for (let x = left; x <= right; x++) img.data.set([...grey, 255], (y * W + x) * 4);
    line(img, left - 4, y, left, y, black);
    const s = yLabel(v);
    drawText(img, s, left - 6 - textWidth(s, ts), y - Math.floor((TEXT_HEIGHT * ts) / 2), black, ts);
  }
  for (const v of xTicks) {
    const x = Math.round(px(v));
    line(img, x, bottom, x, bottom + 3, black);
    const s = tickLabel(v);
    drawText(img, s, Math.min(W - textWidth(s, ts), Math.max(0, x - textWidth(s, ts) / 2)), bottom + 6, black, ts);
  }
  line(img, left, top, left, bottom, black);
  line(img, left, bottom, right, bottom, black);
  series.forEach((s, k) => {
    const rgb = s.rgb ?? PALETTE[k % PALETTE.length]!;
    let prev: [number, number] | null = null;
    for (let i = 0; i < s.y.length; i++) {
      const x = s.x ? s.x[i]! : i;
      const y = fy(s.y[i]!);
      if (!Number.isFinite(x) || !Number.isFinite(y)) { prev = null; continue; }
      const p: [number, number] = [px(x), py(y)];
      if (prev) line(img, prev[0], prev[1], p[0], p[1], rgb);
      else line(img, p[0], p[1], p[0], p[1], rgb);
      prev = p;
    }
  });
  return img;
}
