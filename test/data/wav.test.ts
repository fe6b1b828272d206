import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeWav, encodeWav, readWav, WavError, writeWav } from '../../data/audio/wav.ts';

const ramp = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => k * Math.sin(i / 7) * 0.9);

test('WAV round trip: 16-bit PCM mono within one quantisation step', () => {
  const x = ramp(1000);
  const w = decodeWav(encodeWav({ sampleRate: 16000, channels: [x] }, 'pcm16'));
  assert.equal(w.sampleRate, 16000);
  assert.equal(w.channels.length, 1);
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(w.channels[0]![i]! - x[i]!) <= 0.5 / 32768);
});

test('WAV round trip: 32-bit float stereo is exact, through a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-wav-'));
  try {
    const l = ramp(777);
    const r = ramp(777, -0.5);
    const p = join(dir, 'a.wav');
    writeWav(p, { sampleRate: 22050, channels: [l, r] }, 'float32');
    const w = readWav(p);
    assert.equal(w.sampleRate, 22050);
    assert.deepEqual(w.channels[0], l);
    assert.deepEqual(w.channels[1], r);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('16-bit PCM clips out-of-range samples', () => {
  const w = decodeWav(encodeWav({ sampleRate: 8000, channels: [Float32Array.of(2, -2, NaN)] }));
  assert.deepEqual([...w.channels[0]!], [32767 / 32768, -1, 0]);
});

test('WAV reader skips unknown chunks and reads WAVE_FORMAT_EXTENSIBLE', () => {
  const base = encodeWav({ sampleRate: 16000, channels: [Float32Array.of(0.5, -0.25)] }, 'pcm16');
  // Rebuild: RIFF, WAVE, a LIST chunk of 5 bytes (+1 pad), an extensible fmt (40 bytes), then data.
  const list = [...'LIST'].map((c) => c.charCodeAt(0)).concat([5, 0, 0, 0, 1, 2, 3, 4, 5, 0]);
  const fmt = new Uint8Array(48);
  const dv = new DataView(fmt.buffer);
  fmt.set([...'fmt '].map((c) => c.charCodeAt(0)));
  dv.setUint32(4, 40, true);
  dv.setUint16(8, 0xfffe, true);
  dv.setUint16(10, 1, true);
  dv.setUint32(12, 16000, true);
  dv.setUint32(16, 32000, true);
  dv.setUint16(20, 2, true);
  dv.setUint16(22, 16, true);
  dv.setUint16(24, 22, true);
  dv.setUint16(26, 16, true);
  dv.setUint16(32, 1, true); // sub-format GUID starts with the format code (PCM)
  const data = base.subarray(36);
  const body = new Uint8Array([...base.subarray(0, 12), ...list, ...fmt, ...data]);
  new DataView(body.buffer).setUint32(4, body.length - 8, true);
  const w = decodeWav(body);
  assert.deepEqual([...w.channels[0]!], [0.5, -0.25]);
});

test('corrupt WAV headers give clear errors', () => {
  const good = encodeWav({ sampleRate: 16000, channels: [ramp(10)] });
  const bad = (edit: (b: Uint8Array) => Uint8Array) => () => decodeWav(edit(good.slice()), 'x.wav');
  assert.throws(bad((b) => b.subarray(0, 6)), (e: Error) => e instanceof WavError && /x\.wav: only 6 bytes/.test(e.message));
  assert.throws(bad((b) => (b.set([0x52, 0x49, 0x46, 0x58]), b)), /not "RIFF"/);
  assert.throws(bad((b) => (b.set([0x41, 0x56, 0x49, 0x20], 8), b)), /not "WAVE"/);
  assert.throws(bad((b) => b.subarray(0, 50)), /says 20 bytes but only 6 remain/);
  assert.throws(bad((b) => (b.set([0x66, 0x6d, 0x74, 0x21], 12), b)), /no "fmt " chunk/);
  assert.throws(bad((b) => (new DataView(b.buffer).setUint16(20, 2, true), b)), /unsupported encoding: format code 2/);
  assert.throws(bad((b) => (new DataView(b.buffer).setUint16(32, 3, true), b)), /block align 3/);
  assert.throws(() => encodeWav({ sampleRate: 16000, channels: [ramp(3), ramp(4)] }), /different lengths/);
});

test('WAV header fields as the RIFF/WAVE spec defines them (players trust them; our reader does not need most)', () => {
  const frames = 5;
  for (const [format, code, bytes] of [['pcm16', 1, 2], ['float32', 3, 4]] as const) {
    const b = encodeWav({ sampleRate: 22050, channels: [ramp(frames), ramp(frames, -1)] }, format);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const str = (at: number) => String.fromCharCode(...b.subarray(at, at + 4));
    assert.equal(b.length, 44 + frames * 2 * bytes);
    assert.deepEqual([str(0), dv.getUint32(4, true), str(8), str(12), dv.getUint32(16, true)], ['RIFF', b.length - 8, 'WAVE', 'fmt ', 16], format);
    assert.deepEqual([dv.getUint16(20, true), dv.getUint16(22, true), dv.getUint32(24, true)], [code, 2, 22050], `${format}: format code, channels, rate`);
    assert.deepEqual([dv.getUint32(28, true), dv.getUint16(32, true), dv.getUint16(34, true)], [22050 * 2 * bytes, 2 * bytes, 8 * bytes], `${format}: byte rate, block align, bits`);
    assert.deepEqual([str(36), dv.getUint32(40, true)], ['data', frames * 2 * bytes], format);
  }
});
