import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syncScore } from '../../data/audio/onset.ts';
import { coloursInUse } from '../../data/eval/evaluate.ts';
import { heardColour } from '../../data/eval/pitch.ts';
import { detectVisualEvents, dominantColour, frameStats } from '../../data/eval/visual.ts';
import { clipMel, clipVideo, syntheticDataset, type SyntheticOptions } from '../../data/synthetic.ts';
import { drawBackground } from '../../data/synthetic-render.ts';
import { DEMO } from './fixture.ts';

const SETTINGS: [string, Partial<SyntheticOptions>][] = [
  ['demo: 8 frames 16×16, hop 400, 16 mels', { ...DEMO, n: 96, seed: 1000 }],
  ['paper audio (64 mels, 10 ms hop), 32×32', { n: 48, frames: 8, height: 32, width: 32, seed: 1000 }],
  ['16 frames 24×24, paper audio', { n: 32, frames: 16, height: 24, width: 24, seed: 1000 }],
];

for (const [name, opts] of SETTINGS) {
  test(`visual events from pixels match the ground-truth events exactly (F1 ≥ 0.9), ${name}`, () => {
    const ds = syntheticDataset(opts);
    const [N, M, , H, W] = ds.videoShape;
    const d = { frames: M, height: H, width: W };
    let hits = 0;
    let found = 0;
    let truth = 0;
    let perfect = 0;
    const motions = new Set<string>();
    for (let i = 0; i < N; i++) {
      const ev = detectVisualEvents(clipVideo(ds, i), d);
      const s = syncScore(ev, ds.events[i]!, 0); // the exact frame, no tolerance
      hits += s.hits;
      found += ev.length;
      truth += ds.events[i]!.length;
      if (s.f1 === 1) perfect++;
      for (const o of ds.clips[i]!.objects) motions.add(o.motion);
    }
    const p = hits / found;
    const r = hits / truth;
    const f1 = (2 * p * r) / (p + r);
    assert.ok(f1 >= 0.9, `F1 ${f1.toFixed(3)} (precision ${p.toFixed(3)}, recall ${r.toFixed(3)})`);
    assert.ok(perfect / N >= 0.9, `${perfect}/${N} clips exactly right`);
    assert.deepEqual([...motions].sort(), ['appear', 'bounce', 'flash']);
  });

  test(`colour seen and pitch heard are the clip's class colour, ${name}`, () => {
    const ds = syntheticDataset({ ...opts, n: 40 });
    const [N, M, , H, W] = ds.videoShape;
    const T = ds.melShape[2];
    const nc = coloursInUse(8);
    let seen = 0;
    let heard = 0;
    for (let i = 0; i < N; i++) {
      if (dominantColour(clipVideo(ds, i), { frames: M, height: H, width: W }, nc) === ds.labels[i]! >> 1) seen++;
      if (heardColour(clipMel(ds, i), T, ds.audioConfig, nc) === ds.labels[i]! >> 1) heard++;
    }
    assert.ok(seen / N >= 0.95, `seen ${seen}/${N}`);
    assert.ok(heard / N >= 0.95, `heard ${heard}/${N}`);
  });
}

test('each motion alone: appearance, flash and bounce are each found', () => {
  const ds = syntheticDataset({ ...DEMO, n: 60, maxObjects: 1, seed: 77 });
  const [N, M, , H, W] = ds.videoShape;
  const byMotion = new Map<string, [number, number]>();
  for (let i = 0; i < N; i++) {
    const mo = ds.clips[i]!.objects[0]!.motion;
    const s = syncScore(detectVisualEvents(clipVideo(ds, i), { frames: M, height: H, width: W }), ds.events[i]!, 0);
    const [a, b] = byMotion.get(mo) ?? [0, 0];
    byMotion.set(mo, [a + s.hits, b + ds.events[i]!.length]);
  }
  for (const [mo, [h, t]] of byMotion) assert.ok(h / t >= 0.9, `${mo}: ${h}/${t}`);
});

test('an empty scene has no events and no colour; frame statistics are zero', () => {
  const [M, H, W] = [6, 16, 16];
  const v = new Float32Array(M * 3 * H * W);
  for (let m = 0; m < M; m++) drawBackground(v, m * 3 * H * W, H, W);
  const d = { frames: M, height: H, width: W };
  assert.deepEqual(detectVisualEvents(v, d), []);
  assert.equal(dominantColour(v, d), -1);
  const s = frameStats(v, d);
  assert.deepEqual([...s.area], new Array(M).fill(0));
  assert.deepEqual([...s.motion], new Array(M).fill(0));
});
