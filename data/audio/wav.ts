/**
 * WAV (RIFF/WAVE) reading and writing. Reads PCM 8/16/24/32-bit and IEEE float 32/64-bit, plain
 * or WAVE_FORMAT_EXTENSIBLE, any channel count; writes 16-bit PCM (sample = round(32768·x), clamped) or 32-bit float (clamped); NaN/±Inf are written as 0. Samples are
 * floats in [-1, 1], one Float32Array per channel. Corrupt or unsupported files throw WavError
 * saying what is wrong and where.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export class WavError extends Error {
  override name = 'WavError';
}

export interface Wav {
  sampleRate: number;
  /** One array per channel (1 = mono, 2 = stereo), values in [-1, 1]. */
  channels: Float32Array[];
}

export type WavFormat = 'pcm16' | 'float32';

const tag = (b: Uint8Array, at: number): string => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);

/** Parse WAV bytes. */
export function decodeWav(bytes: Uint8Array, what = 'WAV'): Wav {
  const fail = (msg: string): never => {
    throw new WavError(`${what}: ${msg}`);
  };
  if (bytes.length < 12) fail(`only ${bytes.length} bytes, too short for a RIFF header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (tag(bytes, 0) !== 'RIFF') fail(`starts with "${tag(bytes, 0)}", not "RIFF"`);
  if (tag(bytes, 8) !== 'WAVE') fail(`RIFF form type is "${tag(bytes, 8)}", not "WAVE"`);
  let fmt: { code: number; channels: number; rate: number; blockAlign: number; bits: number } | null = null;
  let data: Uint8Array | null = null;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = tag(bytes, at);
    const size = dv.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) fail(`"fmt " chunk at byte ${at} has size ${size} (needs ≥ 16 within the file)`);
      let code = dv.getUint16(body, true);
      if (code === 0xfffe) {
        if (size < 40) fail(`WAVE_FORMAT_EXTENSIBLE "fmt " chunk is ${size} bytes, needs 40`);
        code = dv.getUint16(body + 24, true);
      }
      fmt = { code, channels: dv.getUint16(body + 2, true), rate: dv.getUint32(body + 4, true), blockAlign: dv.getUint16(body + 12, true), bits: dv.getUint16(body + 14, true) };
    } else if (id === 'data') {
      // 0xFFFFFFFF is the "unknown length" that streaming writers leave: read to the end.
      if (body + size > bytes.length && size !== 0xffffffff) fail(`"data" chunk says ${size} bytes but only ${bytes.length - body} remain (file truncated?)`);
      data = bytes.subarray(body, Math.min(bytes.length, body + size));
    }
    at = body + size + (size & 1);
  }
  if (!fmt) return fail('no "fmt " chunk');
  if (!data) return fail('no "data" chunk');
  const { code, channels, rate, bits } = fmt;
  if (channels < 1) fail(`channel count is ${channels}`);
  if (rate < 1) fail(`sample rate is ${rate}`);
  const bytesPer = bits / 8;
  const okPcm = code === 1 && [8, 16, 24, 32].includes(bits);
  const okFloat = code === 3 && (bits === 32 || bits === 64);
  if (!okPcm && !okFloat) fail(`unsupported encoding: format code ${code} with ${bits} bits (PCM 8/16/24/32 and float 32/64 are read)`);
  if (fmt.blockAlign !== channels * bytesPer) fail(`block align ${fmt.blockAlign} ≠ channels ${channels} × ${bytesPer} bytes`);
  const frames = Math.floor(data.length / fmt.blockAlign);
  const dd = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      const p = i * fmt.blockAlign + c * bytesPer;
      let v: number;
      if (code === 3) v = bits === 32 ? dd.getFloat32(p, true) : dd.getFloat64(p, true);
      else if (bits === 8) v = (dd.getUint8(p) - 128) / 128;
      else if (bits === 16) v = dd.getInt16(p, true) / 32768;
      else if (bits === 24) v = ((dd.getUint8(p) | (dd.getUint8(p + 1) << 8) | (dd.getInt8(p + 2) << 16)) / 8388608);
      else v = dd.getInt32(p, true) / 2147483648;
      out[c]![i] = v;
    }
  }
  return { sampleRate: rate, channels: out };
}

/**
 * Encode channels (equal lengths) as WAV bytes. Both formats write non-finite samples (NaN, ±Inf)
 * as 0 and clip the rest to [-1, 1]; pcm16 also rounds. Throws WavError when a header field
 * (channel count, sample rate, byte rate, block align, chunk size) would not fit its 16/32-bit field.
 */
export function encodeWav(w: Wav, format: WavFormat = 'pcm16'): Uint8Array {
  const ch = w.channels.length;
  if (ch < 1) throw new WavError('encodeWav: no channels');
  const frames = w.channels[0]!.length;
  for (const c of w.channels) if (c.length !== frames) throw new WavError(`encodeWav: channels have different lengths (${frames} vs ${c.length})`);
  if (!(Number.isInteger(w.sampleRate) && w.sampleRate > 0)) throw new WavError(`encodeWav: sample rate ${w.sampleRate} is not a positive integer`);
  if (format !== 'pcm16' && format !== 'float32') throw new WavError(`encodeWav: format "${String(format)}" is not "pcm16" or "float32"`);
  const bytesPer = format === 'pcm16' ? 2 : 4;
  const dataBytes = frames * ch * bytesPer;
  // Every header field is a fixed-width unsigned integer: a value that does not fit would be
  // written modulo 2^16 / 2^32 and read back as something else, so refuse it instead.
  const fits = (field: string, value: number, bits: 16 | 32, why?: string) => {
    const max = bits === 16 ? 0xffff : 0xffffffff;
    if (value > max) throw new WavError(`encodeWav: ${field} ${value}${why ? ` (${why})` : ''} does not fit the ${bits}-bit WAV header field (at most ${max})`);
  };
  fits('channel count', ch, 16);
  fits('sample rate', w.sampleRate, 32);
  fits('byte rate', w.sampleRate * ch * bytesPer, 32, `sample rate ${w.sampleRate} × ${ch} channels × ${bytesPer} bytes`);
  fits('block align', ch * bytesPer, 16, `${ch} channels × ${bytesPer} bytes`);
  fits('RIFF chunk size', 36 + dataBytes, 32, `36 + ${dataBytes} data bytes`);
  const buf = new Uint8Array(44 + dataBytes);
  const dv = new DataView(buf.buffer);
  const put = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) buf[at + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  dv.setUint32(4, 36 + dataBytes, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  dv.setUint32(16, 16, true);
  dv.setUint16(20, format === 'pcm16' ? 1 : 3, true);
  dv.setUint16(22, ch, true);
  dv.setUint32(24, w.sampleRate, true);
  dv.setUint32(28, w.sampleRate * ch * bytesPer, true);
  dv.setUint16(32, ch * bytesPer, true);
  dv.setUint16(34, bytesPer * 8, true);
  put(36, 'data');
  dv.setUint32(40, dataBytes, true);
  let p = 44;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < ch; c++) {
      const v = w.channels[c]![i]!;
      if (format === 'pcm16') {
        const x = Math.max(-1, Math.min(1, Number.isFinite(v) ? v : 0));
        dv.setInt16(p, Math.min(32767, Math.round(x * 32768)), true);
      } else {
        // Same sanitising as pcm16: a float WAV holding NaN, ±Inf or values past full scale
        // plays as loud clicks or silence in most players, and [-1, 1] is this module's range.
        dv.setFloat32(p, Math.max(-1, Math.min(1, Number.isFinite(v) ? v : 0)), true);
      }
      p += bytesPer;
    }
  }
  return buf;
}

export function readWav(path: string): Wav {
  return decodeWav(readFileSync(path), path);
}

export function writeWav(path: string, w: Wav, format: WavFormat = 'pcm16'): void {
  writeFileSync(path, encodeWav(w, format));
}
