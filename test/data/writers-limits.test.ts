import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { audioConfig } from '../../data/audio/config.ts';
import { decodeWav, encodeWav, WavError } from '../../data/audio/wav.ts';
import { encodeGif } from '../../data/image/gif.ts';
import { blankImage, clipToImages, frameToImage, upscale } from '../../data/image/rgba.ts';
import { writeSamples } from '../../data/samples.ts';

const wavErr = (re: RegExp) => (e: Error) => e instanceof WavError && re.test(e.message);

test('encodeWav refuses header fields that would wrap instead of writing them modulo 2^n', () => {
  const one = [new Float32Array(1)];
  assert.throws(() => encodeWav({ sampleRate: 5e9, channels: one }), wavErr(/sample rate 5000000000 .*32-bit.*4294967295/));
  // Byte rate = rate × channels × 2 = 2^32 for pcm16: wrote 0.
  assert.throws(() => encodeWav({ sampleRate: 2 ** 31, channels: one }), wavErr(/byte rate 4294967296/));
  assert.throws(() => encodeWav({ sampleRate: 2 ** 30, channels: one }, 'float32'), wavErr(/byte rate/));
  const many = (n: number) => Array.from({ length: n }, () => new Float32Array(1));
  assert.throws(() => encodeWav({ sampleRate: 8000, channels: many(70000) }), wavErr(/channel count 70000 .*16-bit.*65535/));
  // 40000 channels fit the channel field but not block align (40000 × 2 bytes).
  assert.throws(() => encodeWav({ sampleRate: 8000, channels: many(40000) }), wavErr(/block align 80000/));
  for (const r of [0, -1, 1.5, NaN]) assert.throws(() => encodeWav({ sampleRate: r, channels: one }), wavErr(/sample rate .* not a positive integer/));
  // The largest values that fit still round-trip.
  assert.equal(decodeWav(encodeWav({ sampleRate: 2 ** 31 - 1, channels: one })).sampleRate, 2 ** 31 - 1);
  assert.equal(decodeWav(encodeWav({ sampleRate: 8000, channels: many(300) })).channels.length, 300);
});

test('encodeWav float32 sanitises NaN/±Inf to 0 and clamps to [-1, 1] like pcm16', () => {
  const x = new Float32Array([NaN, Infinity, -Infinity, 2, -3, 0.25]);
  const f = decodeWav(encodeWav({ sampleRate: 16000, channels: [x] }, 'float32')).channels[0]!;
  assert.deepEqual(Array.from(f), [0, 0, 0, 1, -1, 0.25]);
  const p = decodeWav(encodeWav({ sampleRate: 16000, channels: [x] }, 'pcm16')).channels[0]!;
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(p[i]! - f[i]!) <= 1 / 32768, `sample ${i}`);
});

test('encodeGif refuses sizes that do not fit the 16-bit GIF fields, and empty frames', () => {
  const gifErr = (re: RegExp) => (e: Error) => e instanceof RangeError && /^encodeGif: /.test(e.message) && re.test(e.message);
  assert.throws(() => encodeGif([blankImage(70000, 1)]), gifErr(/frame width 70000 .*65535/));
  assert.throws(() => encodeGif([blankImage(1, 70000)]), gifErr(/frame height 70000/));
  assert.throws(() => encodeGif([blankImage(0, 0)]), gifErr(/frame width 0/));
  assert.throws(() => encodeGif([blankImage(3, 0)]), gifErr(/frame height 0/));
  assert.throws(() => encodeGif([blankImage(1, 1)], { delayMs: -100 }), gifErr(/delayMs -100/));
  assert.throws(() => encodeGif([blankImage(1, 1)], { delayMs: 1e7 }), gifErr(/frame delay/));
  assert.throws(() => encodeGif([blankImage(1, 1)], { repeat: 1e6 }), gifErr(/repeat count/));
  const b = encodeGif([blankImage(65535, 1)]);
  assert.equal(b[6]! | (b[7]! << 8), 65535);
  assert.ok(encodeGif([blankImage(1, 1)], { repeat: -1, delayMs: 0 }).length > 0);
});

test('image helpers validate sizes up front with errors naming the function and the value', () => {
  const named = (re: RegExp) => (e: Error) => e instanceof RangeError && re.test(e.message);
  assert.throws(() => frameToImage(new Float32Array(3), 3, -1, 1), named(/^frameToImage: height H -1/));
  assert.throws(() => frameToImage(new Float32Array(30), 3, 2, 1.5), named(/^frameToImage: width W 1\.5/));
  assert.throws(() => frameToImage(new Float32Array(3), 3, 1, 1, NaN), named(/^frameToImage: scale NaN/));
  assert.throws(() => clipToImages(new Float32Array(0), 0, 3, 2, 2), named(/^clipToImages: frame count M 0/));
  assert.throws(() => blankImage(-2, 2), named(/^blankImage: width -2/));
  assert.throws(() => upscale(blankImage(1, 1), 0), named(/^upscale: factor k 0/));
  assert.equal(frameToImage(new Float32Array(3), 3, 1, 1, 2).width, 2);
});

test('writeSamples checks its options and samples before creating anything', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-writers-'));
  try {
    const ac = audioConfig({ sampleRate: 8000 });
    const base = { frames: 1, height: 2, width: 2, fps: 4, audio: ac };
    const sample = { video: new Float32Array(12), audio: new Float32Array(2000) };
    const bad: [string, Partial<typeof base> & { scale?: number }, RegExp][] = [
      ['zf', { frames: 0 }, /writeSamples: frames 0 is not a whole number/],
      ['h', { height: -1 }, /writeSamples: height -1/],
      ['w', { width: 1.5 }, /writeSamples: width 1\.5/],
      ['fps', { fps: 0 }, /writeSamples: fps 0/],
      ['sc', { scale: 0 }, /writeSamples: scale 0/],
    ];
    for (const [d, over, re] of bad) {
      assert.throws(() => writeSamples(join(root, d), [{ video: new Float32Array(0), audio: new Float32Array(10) }], { ...base, ...over }), re, d);
      assert.equal(existsSync(join(root, d)), false, `${d}: nothing is created`);
    }
    // A bad second sample is caught before the first is written.
    assert.throws(() => writeSamples(join(root, 'second'), [sample, { video: new Float32Array(5), audio: new Float32Array(10) }], base), /sample 1 video has 5 values/);
    assert.equal(existsSync(join(root, 'second')), false);
    assert.throws(() => writeSamples(join(root, 'none'), [{ video: new Float32Array(12) }], base), /sample 0 has neither audio nor logmel/);
    assert.equal(existsSync(join(root, 'none')), false);
    // Good options still write everything.
    writeSamples(join(root, 'ok'), [sample], base);
    assert.deepEqual(readdirSync(join(root, 'ok')).sort(), ['index.html', 'sample_000', 'sample_000.gif', 'sample_000.wav', 'sample_000_spec.png']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
