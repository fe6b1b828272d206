// Training batches (train/data-source.ts drawBatch): the clips drawn and, in conditional training,
// a tenth of the labels replaced by the null class so that guidance has an unconditional model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { Generator } from '../../engine/rng.ts';
import { makeConfig } from '../../model/config.ts';
import { drawBatch, LABEL_DROP, syntheticData } from '../../train/data-source.ts';

const c = makeConfig('demo');
const data = syntheticData(c, 32, 0);

test('conditional batches keep the clip label except for about a tenth dropped to the null class', () => {
  const gen = new Generator(7);
  let nulls = 0, total = 0;
  for (let k = 0; k < 100; k++) {
    const b = drawBatch(data, c, 8, gen, cpuBackend, true);
    const labels = b.labels.dataSync();
    b.indices.forEach((i, j) => {
      total++;
      if (labels[j] === c.classes) nulls++;
      else assert.equal(labels[j], data.labels![i], 'a kept label is the clip\'s own');
    });
  }
  // 800 draws at p = 0.1: mean 80, sd 8.5; [40, 120] is over 4.7 sd either side.
  assert.ok(nulls > 40 && nulls < 120, `${nulls} of ${total} labels dropped, expected about ${LABEL_DROP * total}`);
});

test('unconditional batches are all the null class', () => {
  const b = drawBatch(data, c, 16, new Generator(1), cpuBackend, false);
  assert.deepEqual([...b.labels.dataSync()], Array(16).fill(c.classes));
});

test('a batch is the drawn clips, video and audio together', () => {
  const b = drawBatch(data, c, 4, new Generator(3), cpuBackend, true);
  const v = b.video.dataSync(), a = b.audio.dataSync();
  b.indices.forEach((i, j) => {
    assert.deepEqual(v.subarray(j * data.clipVideo, (j + 1) * data.clipVideo), data.video.subarray(i * data.clipVideo, (i + 1) * data.clipVideo));
    assert.deepEqual(a.subarray(j * data.clipAudio, (j + 1) * data.clipAudio), data.audio.subarray(i * data.clipAudio, (i + 1) * data.clipAudio));
  });
});
