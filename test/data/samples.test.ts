import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readWav } from '../../data/audio/wav.ts';
import { decodePng } from '../../data/image/png.ts';
import { writeSamples } from '../../data/samples.ts';
import { clipAudio, clipMel, clipVideo, syntheticDataset } from '../../data/synthetic.ts';

test('writeSamples: GIF, PNG frames, WAV, spectrogram, loss curve and index.html', () => {
  const ds = syntheticDataset({ n: 2, height: 16, width: 16, frames: 4, audio: { nMels: 16, nFft: 512 } });
  const [, M, , H, W] = ds.videoShape;
  const dir = mkdtempSync(join(tmpdir(), 'avdit-samples-'));
  try {
    const html = writeSamples(dir, [
      { video: clipVideo(ds, 0), audio: clipAudio(ds, 0), title: 'with audio' },
      { video: clipVideo(ds, 1), logmel: clipMel(ds, 1), title: 'from log-mel' }, // Griffin–Lim path
    ], { frames: M, height: H, width: W, fps: ds.fps, audio: ds.audioConfig, loss: [1, 0.5, 0.3, 0.2], griffinLim: { iters: 4 } });
    const page = readFileSync(html, 'utf8');
    for (const name of ['sample_000', 'sample_001']) {
      assert.equal(readFileSync(join(dir, `${name}.gif`)).subarray(0, 6).toString(), 'GIF89a');
      const frame = decodePng(readFileSync(join(dir, name, 'frame_003.png')));
      assert.equal(frame.width, 128); // 16 px upscaled ×8
      const wav = readWav(join(dir, `${name}.wav`));
      assert.equal(wav.sampleRate, 16000);
      assert.equal(wav.channels[0]!.length, 6400);
      const spec = decodePng(readFileSync(join(dir, `${name}_spec.png`)));
      assert.deepEqual([spec.width, spec.height], [80, 128]);
      assert.match(page, new RegExp(`${name}\\.wav`));
    }
    assert.ok(existsSync(join(dir, 'loss.png')));
    assert.match(page, /loss\.png/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
