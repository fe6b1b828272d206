import assert from 'node:assert/strict';
import { test } from 'node:test';
import { audioConfig, PAPER_AUDIO } from '../../data/audio/config.ts';
import { applyFilterbank, hzToMel, logMel, melFilterbank, melToHz, melToLinear } from '../../data/audio/mel.ts';
import { Prng } from '../../data/prng.ts';

test('HTK mel scale: 1000 Hz ≈ 1000 mel, and melToHz inverts hzToMel', () => {
  assert.ok(Math.abs(hzToMel(1000) - 1000) < 0.1);
  for (const f of [0, 50, 440, 4000, 8000]) assert.ok(Math.abs(melToHz(hzToMel(f)) - f) < 1e-6);
});

for (const cfg of [PAPER_AUDIO, audioConfig({ nMels: 16, nFft: 512 }), audioConfig({ nMels: 128, nFft: 512 })]) {
  test(`filterbank ${cfg.nMels} mels, nFft ${cfg.nFft}: non-empty triangles peaking near their centres, summing to 1 inside`, () => {
    const fb = melFilterbank(cfg);
    const binHz = cfg.sampleRate / cfg.nFft;
    assert.equal(fb.weights.length, cfg.nMels * (cfg.nFft / 2 + 1));
    for (let m = 0; m < fb.nMels; m++) {
      const row = fb.weights.subarray(m * fb.bins, (m + 1) * fb.bins);
      let arg = 0;
      for (let k = 0; k < fb.bins; k++) {
        assert.ok(row[k]! >= 0 && row[k]! <= 1);
        if (row[k]! > row[arg]!) arg = k;
      }
      assert.ok(row[arg]! > 0, `band ${m} is empty`);
      assert.ok(Math.abs(arg * binHz - fb.centers[m]!) <= binHz, `band ${m} peaks at ${arg * binHz} Hz, centre ${fb.centers[m]} Hz`);
      if (m > 0) assert.ok(fb.centers[m]! > fb.centers[m - 1]!);
    }
    // Partition of unity between the first and last centres (where filters are resolved by bins).
    const firstOk = Math.ceil(fb.centers[Math.min(fb.nMels - 1, 8)]! / binHz);
    for (let k = firstOk; k * binHz < fb.centers[fb.nMels - 1]!; k++) {
      let s = 0;
      for (let m = 0; m < fb.nMels; m++) s += fb.weights[m * fb.bins + k]!;
      assert.ok(Math.abs(s - 1) < 1e-5, `bin ${k}: column sum ${s}`);
    }
  });
}

test('log-mel of 1.6 s at the paper settings is 160 × 64, floored', () => {
  const x = new Float32Array(25600);
  const lm = logMel(x, PAPER_AUDIO);
  assert.equal(lm.length, 160 * 64);
  for (const v of lm) assert.equal(v, Math.fround(Math.log(PAPER_AUDIO.logFloor)));
});

test('melToLinear gives a non-negative spectrum whose mel matches the input', () => {
  const cfg = audioConfig({ nMels: 32, nFft: 512 });
  const fb = melFilterbank(cfg);
  const rng = new Prng(4);
  const T = 5;
  const spec = Float32Array.from({ length: T * fb.bins }, () => Math.abs(rng.normal()));
  const mel = applyFilterbank(spec, T, fb);
  const lin = melToLinear(mel, T, fb, 200);
  for (const v of lin) assert.ok(v >= 0);
  const back = applyFilterbank(lin, T, fb);
  let rel = 0;
  for (let i = 0; i < mel.length; i++) rel = Math.max(rel, Math.abs(back[i]! - mel[i]!) / mel[i]!);
  assert.ok(rel < 0.05, `relative mel error ${rel}`);
});

test('audioConfig checks fMax against Nyquist', () => {
  assert.throws(() => audioConfig({ sampleRate: 8000, fMax: 6000 }), /Nyquist/);
  assert.equal(audioConfig({ sampleRate: 8000 }).hop, 80);
});

test('filterbank edges: the nMels + 2 corners are equally spaced in mel from fMin to fMax, nothing outside [fMin, fMax]', () => {
  const cfg = audioConfig({ nMels: 16, nFft: 512, fMin: 300, fMax: 5000 });
  const fb = melFilterbank(cfg);
  const binHz = cfg.sampleRate / cfg.nFft;
  const m0 = hzToMel(cfg.fMin), step = (hzToMel(cfg.fMax) - m0) / (cfg.nMels + 1);
  fb.centers.forEach((c, m) => assert.ok(Math.abs(hzToMel(c) - (m0 + (m + 1) * step)) < 1e-6, `centre ${m}: ${hzToMel(c)} mel`));
  for (let k = 0; k < fb.bins; k++) {
    if (k * binHz > cfg.fMin && k * binHz < cfg.fMax) continue;
    for (let m = 0; m < fb.nMels; m++) assert.ok(fb.weights[m * fb.bins + k]! < 1e-9, `band ${m} has weight ${fb.weights[m * fb.bins + k]} at ${k * binHz} Hz, outside ${cfg.fMin}..${cfg.fMax}`); // (≈1e-15 at fMax itself: melToHz(hzToMel(f)) ≠ f in the last bit)
  }
});
