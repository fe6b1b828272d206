/** An 8-bit RGBA image, and conversions from model frames [3, H, W] with values in [-1, 1]. */

export interface RgbaImage {
  width: number;
  height: number;
  /** Row-major RGBA bytes, length width·height·4. */
  data: Uint8Array;
}

/** Throws unless `v` is a whole number ≥ `min` (1 for sizes that must be positive). */
export function checkSize(fn: string, what: string, v: number, min = 1): void {
  if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`${fn}: ${what} ${v} is not a whole number ≥ ${min}`);
}

export function blankImage(width: number, height: number, rgb: [number, number, number] = [0, 0, 0]): RgbaImage {
  checkSize('blankImage', 'width', width, 0);
  checkSize('blankImage', 'height', height, 0);
  let data: Uint8Array;
  try {
    data = new Uint8Array(width * height * 4);
  } catch (e) {
    throw new RangeError(`blankImage: a ${width}×${height} RGBA image (${width * height * 4} bytes) cannot be allocated: ${(e as Error).message}`);
  }
  for (let i = 0; i < width * height; i++) data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  return { width, height, data };
}

/** [-1, 1] → 0..255 (clamped, rounded; NaN → 0). */
export const toByte = (v: number): number => (Number.isFinite(v) ? Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5) : 0);

/**
 * Frame [C, H, W] (C = 3 RGB, or 1 grey) in [-1, 1] at `offset` of `data` → RGBA image, each
 * pixel repeated `scale`×`scale` times (nearest-neighbour upscaling).
 */
export function frameToImage(data: Float32Array, C: number, H: number, W: number, scale = 1, offset = 0): RgbaImage {
  if (C !== 1 && C !== 3) throw new Error(`frameToImage: ${C} channels (1 or 3 are drawn)`);
  checkSize('frameToImage', 'height H', H);
  checkSize('frameToImage', 'width W', W);
  checkSize('frameToImage', 'offset', offset, 0);
  if (!(Number.isFinite(scale) && scale > 0)) throw new RangeError(`frameToImage: scale ${scale} is not a positive number`);
  if (offset + C * H * W > data.length) throw new Error(`frameToImage: ${C}×${H}×${W} at offset ${offset} exceeds ${data.length} values`);
  const k = Math.max(1, Math.floor(scale));
  const img = blankImage(W * k, H * k);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const px = [0, 1, 2].map((c) => toByte(data[offset + ((C === 3 ? c : 0) * H + y) * W + x]!));
      for (let dy = 0; dy < k; dy++) {
        for (let dx = 0; dx < k; dx++) img.data.set([px[0]!, px[1]!, px[2]!, 255], ((y * k + dy) * W * k + x * k + dx) * 4);
      }
    }
  }
  return img;
}

/** Frames of a clip [M, C, H, W] → M images. */
export function clipToImages(video: Float32Array, M: number, C: number, H: number, W: number, scale = 1): RgbaImage[] {
  checkSize('clipToImages', 'frame count M', M);
  checkSize('clipToImages', 'height H', H);
  checkSize('clipToImages', 'width W', W);
  if (video.length !== M * C * H * W) throw new Error(`clipToImages: ${video.length} values is not ${M}×${C}×${H}×${W}`);
  return Array.from({ length: M }, (_, m) => frameToImage(video, C, H, W, scale, m * C * H * W));
}

/** Nearest-neighbour upscaling by an integer factor. */
export function upscale(img: RgbaImage, k: number): RgbaImage {
  checkSize('upscale', 'factor k', k);
  const out = blankImage(img.width * k, img.height * k);
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      const s = (Math.floor(y / k) * img.width + Math.floor(x / k)) * 4;
      out.data.set(img.data.subarray(s, s + 4), (y * out.width + x) * 4);
    }
  }
  return out;
}
