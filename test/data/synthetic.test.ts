import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logMelToAudio } from '../../data/audio/griffinlim.ts';
import { logMel } from '../../data/audio/mel.ts';
import { detectOnsets, onsetsInVideoFrames, syncScore } from '../../data/audio/onset.ts';
import { clipAudio, clipMel, clipVideo, syntheticDataset, type SyntheticOptions } from '../../data/synthetic.ts';

const SMALL: Partial<SyntheticOptions> = { n: 24, height: 16, width: 16, audio: { nMels: 16, nFft: 512, winLength: 400 } };

test('synthetic data: shapes, ranges and labels', () => {
  const ds = syntheticDataset({ ...SMALL, n: 6 });
  assert.deepEqual(ds.videoShape, [6, 8, 3, 16, 16]);
  assert.deepEqual(ds.audioShape, [6, 12800]);
  assert.deepEqual(ds.melShape, [6, 1, 80, 16]);
  assert.equal(ds.video.length, 6 * 8 * 3 * 16 * 16);
  for (const v of ds.video) assert.ok(v >= -1 && v <= 1);
  for (const v of ds.audio) assert.ok(Math.abs(v) <= 1);
  for (const l of ds.labels) assert.ok(l >= 0 && l < 8);
  for (const e of ds.events) {
    assert.ok(e.length >= 1);
    for (let k = 0; k < e.length; k++) {
      assert.ok(e[k]! >= 1 && e[k]! < 8);
      if (k > 0) assert.ok(e[k]! - e[k - 1]! >= 2);
    }
  }
  assert.equal(ds.classNames[3], 'green square');
  assert.equal(clipVideo(ds, 2).length, 8 * 3 * 16 * 16);
  assert.equal(clipAudio(ds, 2).length, 12800);
  assert.equal(clipMel(ds, 2).length, 80 * 16);
});

test('paper-sized defaults: 16 frames at 10 fps = 1.6 s → 160 × 64 log-mel', () => {
  const ds = syntheticDataset({ n: 1, frames: 16, height: 8, width: 8 });
  assert.deepEqual(ds.melShape, [1, 1, 160, 64]);
  assert.deepEqual(ds.audioShape, [1, 25600]);
});

test('synthetic data is deterministic by seed, and clip i does not depend on N', () => {
  const a = syntheticDataset({ ...SMALL, n: 4, seed: 7 });
  const b = syntheticDataset({ ...SMALL, n: 4, seed: 7 });
  const c = syntheticDataset({ ...SMALL, n: 4, seed: 8 });
  const d = syntheticDataset({ ...SMALL, n: 2, seed: 7 });
  assert.deepEqual(a.video, b.video);
  assert.deepEqual(a.audio, b.audio);
  assert.deepEqual(a.mel, b.mel);
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(a.events, b.events);
  assert.notDeepEqual(a.video, c.video);
  assert.notDeepEqual(a.audio, c.audio);
  assert.deepEqual(clipVideo(a, 1), clipVideo(d, 1));
  assert.deepEqual(clipAudio(a, 1), clipAudio(d, 1));
});

for (const [name, opts] of [['16 mels, nFft 512', SMALL], ['paper audio (64 mels, nFft 1024), 32×32', { n: 16, seed: 3 }]] as const) test(`every clip (${name}): audio onsets (spectral flux) fall within one video frame of its visual events, one to one`, () => {
  const ds = syntheticDataset(opts);
  const [, , T, F] = ds.melShape;
  const { hop, sampleRate } = ds.audioConfig;
  const seen = new Set<string>();
  for (let i = 0; i < ds.labels.length; i++) {
    const onsets = detectOnsets(clipMel(ds, i), T, F).frames.map((t) => (t * hop * ds.fps) / sampleRate);
    const events = ds.events[i]!;
    const info = JSON.stringify(ds.clips[i]);
    assert.equal(onsets.length, events.length, `clip ${i} ${info}: onsets at video frames ${onsets} vs events ${events}`);
    onsets.forEach((o, k) => assert.ok(Math.abs(o - events[k]!) <= 1, `clip ${i} ${info}: onset ${o} vs event ${events[k]}`));
    for (const ob of ds.clips[i]!.objects) seen.add(ob.motion);
  }
  assert.deepEqual([...seen].sort(), ['appear', 'bounce', 'flash']);
});

test('the picture changes at events: a bouncing object touches the floor exactly at its event frames', () => {
  const ds = syntheticDataset({ ...SMALL, n: 40, maxObjects: 1 });
  const [, M, , H, W] = ds.videoShape;
  let checked = 0;
  for (let i = 0; i < 40; i++) {
    const ob = ds.clips[i]!.objects[0]!;
    if (ob.motion !== 'bounce') continue;
    const v = clipVideo(ds, i);
    // Lowest row above the floor strip (H - 1 - 1): is it covered by the object (differs from background)?
    const row = H - 2;
    for (let m = 0; m < M; m++) {
      let touched = false;
      const bg = [-0.85, -0.85, -0.75];
      for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) if (Math.abs(v[((m * 3 + c) * H + row) * W + x]! - bg[c]!) > 0.2) touched = true;
      assert.equal(touched, ob.events.includes(m), `clip ${i} frame ${m}: events ${ob.events}`);
    }
    checked++;
  }
  assert.ok(checked >= 5);
});

test('synthetic options are checked', () => {
  assert.throws(() => syntheticDataset({ classes: 11 }), /classes 11/);
  assert.throws(() => syntheticDataset({ height: 4 }), /too small/);
});

test('syncScore: greedy one-to-one matching within a tolerance', () => {
  assert.deepEqual(syncScore([], []), { hits: 0, precision: 1, recall: 1, f1: 1, meanOffset: 0 });
  const s = syncScore([0.8, 3.1, 6.0], [1, 3, 5]);
  assert.equal(s.hits, 3);
  assert.equal(s.f1, 1);
  assert.ok(Math.abs(s.meanOffset - (-0.2 + 0.1 + 1) / 3) < 1e-12);
  const t = syncScore([2.9, 3.1], [3]);
  assert.equal(t.hits, 1);
  assert.equal(t.precision, 0.5);
  assert.equal(t.recall, 1);
  assert.equal(syncScore([7], [1]).f1, 0);
});

test('synchrony survives log-mel → Griffin–Lim → log-mel (the path generated samples take)', () => {
  const ds = syntheticDataset({ ...SMALL, n: 4, seed: 11 });
  const [, , T] = ds.melShape;
  const c = ds.audioConfig;
  for (let i = 0; i < 4; i++) {
    const wave = logMelToAudio(clipMel(ds, i), T, c, { iters: 8 });
    const again = logMel(wave, c, T);
    const s = syncScore(onsetsInVideoFrames(again, T, c, ds.fps), ds.events[i]!);
    assert.equal(s.f1, 1, `clip ${i}: ${JSON.stringify(s)} events ${ds.events[i]}`);
  }
});

test('eval sync: a blank, silent clip (no events, no onsets) scores F1 0, real clips still score 1', async () => {
  const { analyseSet, clipSetOf, summarise } = await import('../../data/eval/evaluate.ts');
  const ds = syntheticDataset({ ...SMALL, n: 4, seed: 5 });
  const real = clipSetOf(ds);
  const o = { fps: ds.fps, audio: ds.audioConfig, classes: 8 };
  const r = summarise(real, analyseSet(real, o));
  assert.equal(r.meanSyncF1, 1);
  assert.equal(r.syncFraction, 1);
  // Black frames and the log floor everywhere: nothing seen, nothing heard.
  const blank = { ...real, video: new Float32Array(real.video.length).fill(-1), logmel: new Float32Array(real.logmel.length).fill(Math.log(ds.audioConfig.logFloor)) };
  const a = analyseSet(blank, o);
  for (const c of a) {
    assert.deepEqual([c.visualEvents, c.onsets], [[], []]);
    assert.equal(c.sync.f1, 0);
    assert.equal(c.inSync, false);
  }
  const b = summarise(blank, a);
  assert.equal(b.meanSyncF1, 0);
  assert.equal(b.syncFraction, 0);
  // The matcher itself still calls two empty lists a perfect match (used to score event detectors).
  assert.equal(syncScore([], []).f1, 1);
});
