// A freshly built AV-DiT is initialised as DESIGN.md and DiT's initialize_weights say: every part
// that must start at zero is exactly zero (so the adapters start as the identity and the audio
// branch starts from the frozen DiT), the rest drawn at the stated scale; and the fixed audio
// position table is laid out with F on the first half of the channels, T on the second.
// (The golden tests overwrite every parameter, so they cannot see any of this.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig } from '../../model/config.ts';
import { sincos1d } from '../../model/layers/posembed.ts';

const ZERO = [
  /\.(audio_lora|fusion_lora)\.(qkv|proj)\.up\.weight$/, // LoRA B
  /\.temporal\.proj\.weight$/, /\.audio_adapter\.fc2\.weight$/, /\.fusion_gate_(video|audio)$/,
  /adaLN_modulation\.1\.weight$/, /^final_layer\.linear\.weight$/, /^audio_final_layer\.linear\.weight$/, // adaLN-Zero, zero heads
  /\.bias$/,
];

test('a fresh AV-DiT: the zero-initialised parts are exactly zero, the others drawn at DiT\'s scales', () => {
  const c = makeConfig('tiny');
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, c);
  const stats = (x: Float32Array) => {
    let max = 0, ss = 0;
    for (const v of x) (max = Math.max(max, Math.abs(v))), (ss += v * v);
    return { max, std: Math.sqrt(ss / x.length) };
  };
  for (const [k, p] of model.namedParameters()) {
    if (k.endsWith('pos_embed')) continue;
    const { max, std } = stats(p.dataSync() as Float32Array);
    if (ZERO.some((re) => re.test(k))) {
      assert.equal(max, 0, `${k} starts at zero`);
      continue;
    }
    assert.ok(max > 0, `${k} is drawn, not zero`);
    const [out, ...rest] = p.shape;
    const fanIn = rest.reduce((a, b) => a * b, 1);
    if (/^t_embedder\.mlp\.[02]\.weight$|^y_embedder\.embedding_table\.weight$/.test(k)) {
      assert.ok(Math.abs(std - 0.02) < 0.004, `${k}: std ${std}, DiT draws N(0, 0.02²)`);
    } else {
      // Xavier uniform (DiT's Linear and patch embedding) or Kaiming uniform (LoRA A): U(−b, b).
      const b = /\.down\.weight$/.test(k) ? 1 / Math.sqrt(fanIn) : Math.sqrt(6 / (fanIn + out!));
      assert.ok(max <= b && max > 0.9 * b, `${k}: max |w| ${max}, bound ${b}`);
    }
  }
  model.dispose();
});

test('audio_pos_embed: token (t, f) of the (T/p)×(F/p) grid is [sincos(f), sincos(t)] (checked on a grid that is not square)', () => {
  const c = makeConfig('tiny', { audioTime: 16 }); // 8 × 4 patches
  const model = new AVDiT({ backend: cpuBackend, gen: new Generator(0) }, c);
  const D = c.hidden, gt = c.audioTime / c.patch, gf = c.audioFreq / c.patch;
  assert.deepEqual(model.audioPosEmbed.shape, [1, gt * gf, D]);
  const got = model.audioPosEmbed.dataSync();
  for (let t = 0; t < gt; t++) {
    for (let f = 0; f < gf; f++) {
      const want = [...sincos1d(D / 2, [f]), ...sincos1d(D / 2, [t])].map(Math.fround);
      assert.deepEqual(Array.from(got.subarray((t * gf + f) * D, (t * gf + f + 1) * D)), want, `token (${t}, ${f})`);
    }
  }
  model.dispose();
});
