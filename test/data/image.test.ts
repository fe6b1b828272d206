import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { viewerHtml } from '../../data/html.ts';
import { colormap, spectrogramImage } from '../../data/image/colormap.ts';
import { encodeGif, writeGif } from '../../data/image/gif.ts';
import { niceTicks, plotLines, tickLabel } from '../../data/image/plot.ts';
import { decodePng, encodePng, writePng } from '../../data/image/png.ts';
import { clipToImages, frameToImage, upscale } from '../../data/image/rgba.ts';

/** A [3, 2, 3] frame: red top-left, green top-right corner, blue bottom row, -1 elsewhere. */
function frame(): Float32Array {
  const f = new Float32Array(18).fill(-1);
  f[0] = 1; // R at (0,0)
  f[6 + 2] = 1; // G at (0,2)
  f[12 + 3] = f[12 + 4] = f[12 + 5] = 1; // B on row 1
  return f;
}

test('frame [3,H,W] in [-1,1] → RGBA with nearest-neighbour upscaling → PNG decodes back', () => {
  const img = frameToImage(frame(), 3, 2, 3, 4);
  assert.equal(img.width, 12);
  assert.equal(img.height, 8);
  const back = decodePng(encodePng(img));
  assert.equal(back.width, 12);
  assert.deepEqual(back.data, img.data);
  const px = (x: number, y: number) => [...back.data.subarray((y * 12 + x) * 4, (y * 12 + x) * 4 + 4)];
  assert.deepEqual(px(3, 3), [255, 0, 0, 255]);
  assert.deepEqual(px(11, 0), [0, 255, 0, 255]);
  assert.deepEqual(px(5, 7), [0, 0, 255, 255]);
  assert.deepEqual(px(5, 0), [0, 0, 0, 255]);
  assert.deepEqual(upscale(frameToImage(frame(), 3, 2, 3), 4).data, img.data);
});

test('GIF of several frames has a GIF89a header, the right size and a trailer', () => {
  const video = new Float32Array(4 * 18);
  for (let m = 0; m < 4; m++) video.set(frame().map((v) => (m % 2 ? -v : v)), m * 18);
  const bytes = encodeGif(clipToImages(video, 4, 3, 2, 3, 5), { delayMs: 100 });
  assert.equal(String.fromCharCode(...bytes.subarray(0, 6)), 'GIF89a');
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(dv.getUint16(6, true), 15);
  assert.equal(dv.getUint16(8, true), 10);
  assert.equal(bytes[bytes.length - 1], 0x3b);
  // Four image descriptors (0x2C) after graphic control extensions (0x21 0xF9).
  let gce = 0;
  for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x21 && bytes[i + 1] === 0xf9) gce++;
  assert.ok(gce >= 4);
  // Each graphic control extension (21 F9 04 packed delay-lo delay-hi index 00) holds the delay in 1/100 s.
  const delays: number[] = [];
  for (let i = 0; i + 7 < bytes.length; i++) if (bytes[i] === 0x21 && bytes[i + 1] === 0xf9 && bytes[i + 2] === 4 && bytes[i + 7] === 0) delays.push(dv.getUint16(i + 4, true));
  assert.deepEqual(delays, [10, 10, 10, 10], '100 ms a frame');
  const dir = mkdtempSync(join(tmpdir(), 'avdit-img-'));
  try {
    writeGif(join(dir, 'a.gif'), clipToImages(video, 4, 3, 2, 3));
    assert.equal(readFileSync(join(dir, 'a.gif')).subarray(0, 3).toString(), 'GIF');
    writePng(join(dir, 'a.png'), frameToImage(frame(), 3, 2, 3));
    assert.equal(decodePng(readFileSync(join(dir, 'a.png'))).height, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spectrogram image: time on x, low frequencies at the bottom, colormap ends', () => {
  const T = 3;
  const F = 4;
  const spec = new Float32Array(T * F);
  spec[1 * F + 0] = 1; // t = 1, lowest band loud
  const img = spectrogramImage(spec, T, F, { xScale: 1, yScale: 1, colormap: 'viridis' });
  const px = (x: number, y: number) => [...img.data.subarray((y * T + x) * 4, (y * T + x) * 4 + 3)];
  assert.deepEqual(px(1, 3), colormap('viridis', 1));
  assert.deepEqual(px(1, 0), colormap('viridis', 0));
  assert.deepEqual(colormap('viridis', 0), [68, 1, 84]);
  assert.deepEqual(colormap('magma', 1), [252, 253, 191]);
  assert.throws(() => spectrogramImage(spec, 5, 4), /12 values is not 5×4/);
});

test('loss-curve plot: nice ticks, labels, a decodable PNG with the curve drawn', () => {
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0.13, 0.61, 5), [0.2, 0.3, 0.4, 0.5, 0.6]);
  assert.equal(tickLabel(0.30000000000000004), '0.3');
  assert.equal(tickLabel(1e-4), '1e-4');
  assert.equal(tickLabel(250000), '3e5');
  const loss = Array.from({ length: 200 }, (_, i) => 1 / (1 + i / 20) + 0.01);
  for (const logY of [false, true]) {
    const img = decodePng(encodePng(plotLines(loss, { width: 320, height: 200, logY })));
    assert.equal(img.width, 320);
    let blue = 0;
    let black = 0;
    for (let i = 0; i < img.data.length; i += 4) {
      if (img.data[i] === 31 && img.data[i + 1] === 119) blue++;
      if (img.data[i] === 0 && img.data[i + 1] === 0 && img.data[i + 2] === 0) black++;
    }
    assert.ok(blue > 200, `curve pixels ${blue}`);
    assert.ok(black > 300, `axis and label pixels ${black}`);
  }
  plotLines([{ y: [1, 2, 3] }, { y: [3, 2, 1], x: [0, 5, 10] }]);
  plotLines([]);
});

test('viewer HTML: audio, canvas player, GIF, spectrogram, escaped titles, no external resources', () => {
  const html = viewerHtml([{ title: 'a <b> & c', fps: 10, gif: 's.gif', frames: ['s/0.png', 's/1.png'], wav: 's.wav', spectrogram: 's_spec.png' }], { lossCurve: 'loss.png' });
  assert.match(html, /<audio controls preload="auto" src="s.wav">/);
  assert.match(html, /<canvas/);
  assert.match(html, /class="gif" src="s.gif"/);
  assert.match(html, /src="s_spec.png"/);
  assert.match(html, /src="loss.png"/);
  assert.match(html, /a &lt;b&gt; &amp; c/);
  assert.match(html, /audio\.currentTime/);
  assert.doesNotMatch(html, /https?:\/\//);
});
