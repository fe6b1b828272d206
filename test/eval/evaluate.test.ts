import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyseSet, clipSetOf, evaluate, summarise, type EvalSettings } from '../../data/eval/evaluate.ts';
import { syntheticDataset } from '../../data/synthetic.ts';
import { DEMO, DEMO_AUDIO, demoData, noiseClips, shiftAudio, shuffleAudio } from './fixture.ts';

// The demo setting: 8 frames at 10 fps, 16×16, log-mel 32×16. Real sets as `avdit eval` makes them.
const O: EvalSettings = { fps: DEMO.fps, audio: DEMO_AUDIO, classes: DEMO.classes };
const A = clipSetOf(demoData(64, 1000));
const B = clipSetOf(demoData(64, 2000));
const G = clipSetOf(demoData(48, 3000)); // real clips posing as samples

const real = evaluate(G, A, B, O);
const shifted = evaluate(shiftAudio(G, 3, O.audio, O.fps), A, B, O);
const shuffled = evaluate(shuffleAudio(G, 5), A, B, O);
const noise = evaluate(noiseClips(G, 6), A, B, O);
const ratio = (x: number, y: number) => x / Math.max(y, 1e-9);

test('sync: real clips as samples score high; audio 3 frames late or shuffled between clips score low', () => {
  assert.ok(real.generated.syncFraction >= 0.9, `real ${real.generated.syncFraction}`);
  assert.ok(real.real.syncFraction >= 0.9, `real set A ${real.real.syncFraction}`);
  assert.ok(shifted.generated.syncFraction <= 0.2, `shifted ${shifted.generated.syncFraction}`);
  assert.ok(shuffled.generated.syncFraction <= 0.3, `shuffled ${shuffled.generated.syncFraction}`);
  assert.ok(noise.generated.syncFraction <= 0.1, `noise ${noise.generated.syncFraction}`);
  assert.ok(real.generated.meanSyncF1 > shuffled.generated.meanSyncF1 + 0.3);
});

test('agreement: colour seen = pitch heard for real clips, about chance for shuffled audio; labels checked when given', () => {
  assert.ok(real.generated.agreement >= 0.9, `real ${real.generated.agreement}`);
  assert.ok(real.generated.videoLabelAgreement! >= 0.9 && real.generated.audioLabelAgreement! >= 0.9);
  assert.ok(shuffled.generated.agreement <= 0.45, `shuffled ${shuffled.generated.agreement} (4 colours: chance ≈ 0.25–0.3)`);
  assert.ok(shuffled.generated.videoLabelAgreement! >= 0.9, 'the picture still shows the requested class');
  assert.ok(shuffled.generated.audioLabelAgreement! <= 0.45);
  const unlabelled = summarise({ ...G, labels: undefined }, analyseSet(G, O));
  assert.equal(unlabelled.videoLabelAgreement, null);
  assert.equal(unlabelled.audioLabelAgreement, null);
});

test('Fréchet distances: real vs real is small; noise is far; shuffled audio moves only the joint FD', () => {
  const floor = real.fd.realVsReal;
  for (const k of ['video', 'audio', 'joint'] as const) {
    assert.ok(real.fd.generated[k] <= 2 * floor[k] + 1, `${k}: real ${real.fd.generated[k]} vs floor ${floor[k]}`);
    assert.ok(ratio(noise.fd.generated[k], floor[k]) >= 10, `${k}: noise ${noise.fd.generated[k]} vs floor ${floor[k]}`);
  }
  // Same audio clips, other pictures: the audio and video marginals are unchanged …
  // (equal up to rounding: the sums run in another order)
  assert.ok(Math.abs(shuffled.fd.generated.audio - real.fd.generated.audio) < 1e-3 * (1 + real.fd.generated.audio));
  assert.ok(Math.abs(shuffled.fd.generated.video - real.fd.generated.video) < 1e-3 * (1 + real.fd.generated.video));
  // … but colour no longer goes with pitch.
  assert.ok(ratio(shuffled.fd.generated.joint, Math.max(floor.joint, real.fd.generated.joint)) >= 1.8, `joint: shuffled ${shuffled.fd.generated.joint} vs real ${real.fd.generated.joint}, floor ${floor.joint}`);
  // Audio 3 frames late changes the audio's onset statistics.
  assert.ok(shifted.fd.generated.audio > 3 * floor.audio, `shifted audio FD ${shifted.fd.generated.audio} vs floor ${floor.audio}`);
});

test("the paper's audio (64 mels, 10 ms hop) at 32×32, and all 10 classes: real clips in sync and in agreement", () => {
  const mk = (seed: number, n: number) => clipSetOf(syntheticDataset({ n, frames: 8, height: 32, width: 32, classes: 10, seed }));
  const ds = syntheticDataset({ n: 1, classes: 10 });
  const o: EvalSettings = { fps: ds.fps, audio: ds.audioConfig, classes: 10 };
  const r = evaluate(mk(3000, 24), mk(1000, 24), mk(2000, 24), o);
  assert.ok(r.generated.syncFraction >= 0.9, `sync ${r.generated.syncFraction}`);
  assert.ok(r.generated.agreement >= 0.9, `agreement ${r.generated.agreement}`);
  assert.ok(r.generated.videoLabelAgreement! >= 0.9 && r.generated.audioLabelAgreement! >= 0.9);
  assert.equal(r.features.video.length, 5 + 8);
  assert.equal(r.features.audio.length, 8 + 5 + 4);
});

test('inconsistent clip sets are refused with a clear message', () => {
  assert.throws(() => evaluate({ ...G, logmel: G.logmel.subarray(1) }, A, B, O), /generated: logmel has/);
  assert.throws(() => evaluate(G, { ...A, labels: new Int32Array(3) }, B, O), /real set A: 3 labels for 64 clips/);
});
