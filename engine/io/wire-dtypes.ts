/**
 * Element types as stored in checkpoint files ("wire" dtypes, safetensors spelling) and their
 * conversion to the engine's typed arrays: floats of 16/32 bits → f32, f64 → f64, integers →
 * i32 (an i64 value outside the i32 range is an error, never a silent wrap). All data is
 * little-endian on disk; byte-swapping big-endian data is the caller's job.
 */
import { endianness } from 'node:os';
import type { DType, TypedArray } from '../dtype.ts';
import { allocArray } from '../dtype.ts';
import { CheckpointError } from './checkpoint-errors.ts';

export type WireDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each wire dtype. */
export const WIRE_BYTES: Readonly<Record<WireDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isWireDtype(s: unknown): s is WireDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(WIRE_BYTES, s);
}

/** The engine dtype a wire dtype is read into. */
export function engineDtypeOf(w: WireDtype): DType {
  return w === 'F64' ? 'f64' : w === 'F32' || w === 'F16' || w === 'BF16' ? 'f32' : 'i32';
}

if (endianness() !== 'LE') throw new Error('checkpoint readers assume a little-endian host');

const f32scratch = new Float32Array(1);
const u32scratch = new Uint32Array(f32scratch.buffer);

/** IEEE half (as its 16 bits) → number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 (as its 16 bits) → number. */
export function bf16ToNumber(h: number): number {
  u32scratch[0] = h << 16;
  return f32scratch[0]!;
}

/** A typed view of `bytes` in the wire dtype (I64 as pairs of i32 words: low, high). Copies when unaligned. */
function sourceView(bytes: Uint8Array, w: WireDtype): ArrayLike<number> {
  const el = WIRE_BYTES[w];
  const b = bytes.byteOffset % el === 0 ? bytes : new Uint8Array(bytes);
  const n = b.byteLength / el;
  switch (w) {
    case 'F64': return new Float64Array(b.buffer, b.byteOffset, n);
    case 'F32': return new Float32Array(b.buffer, b.byteOffset, n);
    case 'I32': return new Int32Array(b.buffer, b.byteOffset, n);
    case 'I64': return new Int32Array(b.buffer, b.byteOffset, 2 * n);
    case 'F16': case 'BF16': return new Uint16Array(b.buffer, b.byteOffset, n);
    case 'I16': return new Int16Array(b.buffer, b.byteOffset, n);
    case 'I8': return new Int8Array(b.buffer, b.byteOffset, n);
    case 'U8': case 'BOOL': return new Uint8Array(b.buffer, b.byteOffset, n);
  }
}

/**
 * Decode `n` elements of wire dtype `w` from little-endian `bytes` into a fresh engine array.
 * `index(i)` gives the element position in `bytes` of output element i (row-major gather for
 * strided views); omitted, elements are read contiguously from the start.
 * `file`/`tensor` name the source in errors (i64 values that do not fit i32).
 */
export function decodeElements(
  bytes: Uint8Array, w: WireDtype, n: number, file: string, tensor: string, index?: (i: number) => number,
): TypedArray {
  const out = allocArray(engineDtypeOf(w), n);
  const src = sourceView(bytes, w);
  if (!index && (w === 'F32' || w === 'F64' || w === 'I32')) {
    out.set((src as TypedArray).subarray(0, n));
    return out;
  }
  const at = index ?? ((i: number) => i);
  switch (w) {
    case 'I64':
      for (let i = 0; i < n; i++) {
        const j = at(i);
        const lo = src[2 * j]!, hi = src[2 * j + 1]!;
        if (hi !== lo >> 31) {
          const v = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
          throw new CheckpointError(file, tensor, `int64 value ${v} at element ${i} does not fit in int32`);
        }
        out[i] = lo;
      }
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToNumber(src[at(i)]!);
      return out;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToNumber(src[at(i)]!);
      return out;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = src[at(i)]! ? 1 : 0;
      return out;
    default:
      for (let i = 0; i < n; i++) out[i] = src[at(i)]!;
      return out;
  }
}

/** Little-endian bytes of `data` stored as wire dtype `w` (F32/F64/I32 as they are; i32 data as I64 widened). */
export function encodeElements(data: TypedArray, w: 'F32' | 'F64' | 'I32' | 'I64'): Uint8Array {
  if (w !== 'I64') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const words = new Int32Array(2 * data.length);
  for (let i = 0; i < data.length; i++) {
    words[2 * i] = data[i]!;
    words[2 * i + 1] = data[i]! < 0 ? -1 : 0;
  }
  return new Uint8Array(words.buffer);
}
