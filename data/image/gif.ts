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
  for (const f of frames) if (f.width !== width || f.height !== height) throw new Error(`encodeGif: frame of ${f.width}×${f.height} among frames of ${width}×${height}`);
  // One global palette: quantise the frames laid end to end, so colours do not flicker.
  const all = new Uint8Array(frames.length * width * height * 4);
  frames.forEach((f, i) => all.set(f.data, i * width * height * 4));
  const palette = gifenc.quantize(all, 256);
  const gif = gifenc.GIFEncoder();
  for (const f of frames) {
    gif.writeFrame(gifenc.applyPalette(f.data, palette), width, height, { palette, delay: o.delayMs ?? 100, repeat: o.repeat ?? 0 });
  }
  gif.finish();
  return gif.bytes();
}

export function writeGif(path: string, frames: RgbaImage[], o: GifOptions = {}): void {
  writeFileSync(path, encodeGif(frames, o));
}
