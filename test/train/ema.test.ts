// EMA with warm-up: the first updates follow the parameters closely, later ones use the decay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../../engine/creation.ts';
import { EMA } from '../../train/ema.ts';

test('EMA warm-up: decay min(d, (1+n)/(10+n)), then swap in and out', () => {
  const p = tensor([0], [1], { dtype: 'f64' });
  const ema = new EMA([p], 0.9);
  let expect = 0;
  for (let n = 0; n < 30; n++) {
    p.assign(tensor([1], [1], { dtype: 'f64' }));
    ema.update();
    const d = Math.min(0.9, (1 + n) / (10 + n));
    expect = d * expect + (1 - d) * 1;
    assert.ok(Math.abs(ema.shadow[0]!.dataSync()[0]! - expect) < 1e-12);
  }
  // after 30 updates the initial 0 has nearly no weight left (without warm-up: 0.9^30 = 4%)
  assert.ok(1 - expect < 0.01);
  ema.swap();
  assert.equal(p.dataSync()[0], expect);
  ema.swap();
  assert.equal(p.dataSync()[0], 1);
});
