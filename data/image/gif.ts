/** Animated GIF encoding through the `gifenc` package (one palette quantised from all frames). */
import { writeFileSync } from 'node:fs';
import gifenc from 'gifenc';
import type { RgbaImage } from './rgba.ts';

export interface GifOptions {
  /** Milliseconds per frame (default 100 = 10 fps). */
  delayMs?: number;
  /** 0 = loop forever (default), -1 = play once, n = n repeats. */
  repeat?: number;
}

export function encodeGif(frames: RgbaImage[], o: GifOptions = {}): Uint8Array {
  if (frames.length === 0) throw new Error('encodeGif: no frames');
  const { width, height } = frames[0]!;
  // The logical screen and image descriptors hold width and height as 16-bit fields, and a
  // 0-pixel frame leaves nothing to quantise: refuse both rather than write a corrupt file.
  const u16 = (what: string, v: number, min: number) => {
    if (!(Number.isInteger(v) && v >= min && v <= 0xffff)) throw new RangeError(`encodeGif: ${what} ${v} is not a whole number in ${min}..65535 (the GIF 16-bit field)`);
  };
  u16('frame width', width, 1);
  u16('frame height', height, 1);
  for (const f of frames) if (f.width !== width || f.height !== height) throw new Error(`encodeGif: frame of ${f.width}×${f.height} among frames of ${width}×${height}`);
  frames.forEach((f, i) => {
    if (f.data.length !== width * height * 4) throw new Error(`encodeGif: frame ${i} has ${f.data.length} bytes, not ${width}×${height}×4`);
  });
  const delayMs = o.delayMs ?? 100;
  if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`encodeGif: delayMs ${delayMs} is not a finite number ≥ 0`);
  u16('frame delay (delayMs / 10, in 1/100 s)', Math.round(delayMs / 10), 0);
  const repeat = o.repeat ?? 0;
  if (repeat !== -1) u16('repeat count (-1 = play once)', repeat, 0);
  // One global palette: quantise the frames laid end to end, so colours do not flicker.
  const all = new Uint8Array(frames.length * width * height * 4);
  frames.forEach((f, i) => all.set(f.data, i * width * height * 4));
  const palette = gifenc.quantize(all, 256);
  const gif = gifenc.GIFEncoder();
  for (const f of frames) {
    gif.writeFrame(gifenc.applyPalette(f.data, palette), width, height, { palette, delay: delayMs, repeat });
  }
  gif.finish();
  return gif.bytes();
}

export function writeGif(path: string, frames: RgbaImage[], o: GifOptions = {}): void {
  writeFileSync(path, encodeGif(frames, o));
}
