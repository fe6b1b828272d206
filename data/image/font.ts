/** A 3×5 bitmap font for tick labels (digits, '.', '-', '+', 'e', 'k', space), drawn into pixels. */
import type { RgbaImage } from './rgba.ts';

// Each glyph: 5 rows of 3 bits, top row first, most significant bit on the left.
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 2, 2], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], '+': [0, 2, 7, 2, 0], e: [0, 7, 7, 4, 7], k: [4, 5, 6, 5, 5], ' ': [0, 0, 0, 0, 0],
};

/** Width in pixels of `text` at `scale` (3 px per glyph plus 1 px spacing, times scale). */
export const textWidth = (text: string, scale = 1): number => Math.max(0, text.length * 4 - 1) * scale;
export const TEXT_HEIGHT = 5;

/** Draw `text` with its top-left corner at (x, y); unknown characters are skipped as blanks. */
export function drawText(img: RgbaImage, text: string, x: number, y: number, rgb: [number, number, number], scale = 1): void {
  for (let i = 0; i < text.length; i++) {
    const g = GLYPHS[text[i]!] ?? GLYPHS[' ']!;
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 3; c++) {
        if (!((g[r]! >> (2 - c)) & 1)) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = x + (i * 4 + c) * scale + dx;
            const py = y + r * scale + dy;
            if (px >= 0 && py >= 0 && px < img.width && py < img.height) img.data.set([...rgb, 255], (py * img.width + px) * 4);
          }
        }
      }
    }
  }
}
