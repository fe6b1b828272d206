/**
 * Drawing and sound for the synthetic audio-visual set: one object's look at a frame, and the
 * tone burst that starts exactly at each of its events. Plain loops over typed arrays.
 */
import type { Prng } from './prng.ts';

export type ShapeKind = 'disc' | 'square';
export type Motion = 'bounce' | 'flash' | 'appear';

/** A colour: RGB in [-1, 1], and the pitch (Hz) it sounds at. */
export interface Colour {
  name: string;
  rgb: [number, number, number];
  pitch: number;
}

/** C major-ish pitches so the classes are far apart on the mel axis. */
export const COLOURS: readonly Colour[] = [
  { name: 'red', rgb: [1, -0.7, -0.7], pitch: 261.63 },
  { name: 'green', rgb: [-0.7, 0.9, -0.7], pitch: 392.0 },
  { name: 'blue', rgb: [-0.5, -0.3, 1], pitch: 523.25 },
  { name: 'yellow', rgb: [1, 0.9, -0.8], pitch: 783.99 },
  { name: 'magenta', rgb: [1, -0.7, 1], pitch: 1046.5 },
];
export const SHAPES: readonly ShapeKind[] = ['disc', 'square'];
export const BACKGROUND: readonly [number, number, number] = [-0.85, -0.85, -0.75];
export const FLOOR: readonly [number, number, number] = [-0.35, -0.35, -0.35];

/** One object of a clip. Positions in pixels (centre), per video frame. */
export interface ObjectTrack {
  shape: ShapeKind;
  colour: Colour;
  motion: Motion;
  /** Base radius (pixels). */
  radius: number;
  /** Video frames where a sound starts (sorted). */
  events: number[];
  x: Float64Array;
  y: Float64Array;
  /** Per-frame visibility in [0, 1], brightness boost (flash) in [0, 1], radius scale. */
  alpha: Float64Array;
  glow: Float64Array;
  scale: Float64Array;
}

/** Height of the floor strip in pixels for a frame of height H. */
export const floorThickness = (h: number): number => Math.max(1, Math.round(h / 16));

/** Lay out an object's per-frame state so its visual events happen exactly at `events`. */
export function track(shape: ShapeKind, colour: Colour, motion: Motion, events: number[], M: number, H: number, W: number, rng: Prng): ObjectTrack {
  const radius = rng.uniform(0.12, 0.2) * Math.min(H, W);
  const t: ObjectTrack = {
    shape, colour, motion, radius, events,
    x: new Float64Array(M), y: new Float64Array(M), alpha: new Float64Array(M).fill(1), glow: new Float64Array(M), scale: new Float64Array(M).fill(1),
  };
  const floorY = H - floorThickness(H) - radius; // centre height when touching the floor
  const topY = radius + 1;
  const x0 = rng.uniform(radius + 1, W - radius - 1);
  const x1 = rng.uniform(radius + 1, W - radius - 1);
  for (let m = 0; m < M; m++) t.x[m] = M > 1 ? x0 + ((x1 - x0) * m) / (M - 1) : x0; // straight drift, never touches a wall
  if (motion === 'bounce') {
    // Parabolic arcs: on the floor exactly at each event, in the air otherwise.
    const span = floorY - topY;
    const first = events[0]!;
    const last = events[events.length - 1]!;
    for (let m = 0; m < M; m++) {
      let h: number;
      if (m <= first) {
        const s = m / first; // falling from rest at the top
        h = span * (1 - s * s);
      } else if (m >= last) {
        const d = 2.5; // rising towards an apex 2.5 frames after the last bounce
        const s = Math.min(1, (m - last) / d);
        h = 0.7 * span * (1 - (1 - s) * (1 - s));
      } else {
        let k = 0;
        while (events[k + 1]! < m) k++;
        const a = events[k]!;
        const b = events[k + 1]!;
        const s = (m - a) / (b - a);
        h = span * Math.min(1, (b - a) / 4) * 4 * s * (1 - s);
      }
      t.y[m] = floorY - h;
    }
  } else {
    const y = rng.uniform(topY, floorY - 1);
    t.y.fill(y);
    for (let m = 0; m < M; m++) {
      if (motion === 'flash') {
        let g = 0;
        for (const e of events) if (m >= e) g = Math.max(g, Math.exp(-(m - e) / 0.8));
        t.glow[m] = g;
        t.scale[m] = 1 + 0.25 * g;
      } else {
        const e = events[0]!;
        t.alpha[m] = m < e ? 0 : 1;
        t.scale[m] = m === e ? 1.3 : 1;
      }
    }
  }
  return t;
}

/** Fill frame [3, H, W] with the background and floor strip. */
export function drawBackground(out: Float32Array, off: number, H: number, W: number): void {
  const fy = H - floorThickness(H);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      const v = y >= fy ? FLOOR[c]! : BACKGROUND[c]!;
      out.fill(v, off + (c * H + y) * W, off + (c * H + y + 1) * W);
    }
  }
}

/** Blend object `t` at frame m into frame [3, H, W] (anti-aliased edge of one pixel). */
export function drawObject(out: Float32Array, off: number, H: number, W: number, t: ObjectTrack, m: number): void {
  const a = t.alpha[m]!;
  if (a <= 0) return;
  const r = t.radius * t.scale[m]!;
  const g = t.glow[m]!;
  // Flash objects rest at 60 % brightness and glow towards white on their events.
  const base = t.motion === 'flash' ? 0.6 + 0.4 * g : 1;
  const rgb = t.colour.rgb.map((v) => {
    const lin = (v + 1) / 2;
    const lit = lin * base + (1 - lin * base) * 0.7 * g;
    return 2 * lit - 1;
  });
  const cx = t.x[m]!;
  const cy = t.y[m]!;
  const x0 = Math.max(0, Math.floor(cx - r - 1));
  const x1 = Math.min(W - 1, Math.ceil(cx + r + 1));
  const y0 = Math.max(0, Math.floor(cy - r - 1));
  const y1 = Math.min(H - 1, Math.ceil(cy + r + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const d = t.shape === 'disc' ? Math.hypot(dx, dy) : Math.max(Math.abs(dx), Math.abs(dy));
      const cov = a * Math.min(1, Math.max(0, r + 0.5 - d));
      if (cov <= 0) continue;
      for (let c = 0; c < 3; c++) {
        const i = off + (c * H + y) * W + x;
        out[i] = out[i]! * (1 - cov) + rgb[c]! * cov;
      }
    }
  }
}

/**
 * Add the object's sound to `audio` [L]: at each event a tone burst starting at sample
 * round(e · sampleRate / fps) with envelope min(1, t/2 ms) · e^{−t/τ} (τ = 45 ms); sine for discs,
 * odd harmonics 1, 1/3, 1/5, 1/7 (square-ish) for squares; plus a 4 ms decaying noise click.
 * Loudness grows with the object's size.
 */
export function addSound(audio: Float32Array, t: ObjectTrack, sampleRate: number, fps: number, H: number, W: number, rng: Prng): void {
  const amp = 0.15 + 0.25 * Math.min(1, t.radius / (0.2 * Math.min(H, W)));
  const harmonics = t.shape === 'disc' ? [[1, 1]] : [[1, 1], [3, 1 / 3], [5, 1 / 5], [7, 1 / 7]];
  const partials = harmonics.filter(([h]) => h! * t.colour.pitch < sampleRate / 2 - 200);
  const tau = 0.045;
  const attack = 0.002;
  const dur = Math.round(10 * tau * sampleRate); // e^-10: far below the noise, so no cut-off click
  for (const e of t.events) {
    const s0 = Math.round((e * sampleRate) / fps);
    const phase = rng.uniform(0, 2 * Math.PI);
    for (let n = 0; n < dur && s0 + n < audio.length; n++) {
      const time = n / sampleRate;
      const env = Math.min(1, time / attack) * Math.exp(-time / tau);
      let v = 0;
      for (const [h, w] of partials) v += w! * Math.sin(2 * Math.PI * h! * t.colour.pitch * time + h! * phase);
      const click = time < 0.004 ? 0.3 * rng.normal() * Math.exp(-time / 0.001) : 0;
      audio[s0 + n] = audio[s0 + n]! + amp * (env * v + click);
    }
  }
}
