// The training loop's own duties (train/loop.ts) on a one-tensor model, so each test takes
// milliseconds: global-norm gradient clipping (the norm logged before clipping, gradients scaled
// only when above the clip), a checkpoint of the last step whatever --ckpt-every, --resume
// refusing another seed, and the finiteness check run before every checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import { tensor } from '../../engine/creation.ts';
import type { Generator } from '../../engine/rng.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { makeConfig } from '../../model/config.ts';
import { Module } from '../../model/module.ts';
import { AdamW } from '../../train/adamw.ts';
import { finiteGroups, trainLoop } from '../../train/loop.ts';
import { prepareRunDir } from '../../train/run-dir.ts';
import { readRunMeta } from '../../train/train-state.ts';

class Two extends Module {
  readonly a = this.param('a', tensor([3, -4], [2], { dtype: 'f64' }));
  readonly b = this.param('b', tensor([12], [1], { dtype: 'f64' }));
}

/** AdamW that records the gradients it is given. */
class SeeingAdamW extends AdamW {
  seen: number[][] = [];
  override step(): void {
    this.seen.push(this.params.flatMap((p) => Array.from(p.grad!.dataSync())));
    super.step();
  }
}

function setup(opts: { gradClip?: number; steps?: number; ckptEvery?: number; seed?: number; resume?: boolean; dir?: string } = {}) {
  const model = new Two();
  const optimizer = new SeeingAdamW(model.parameters(), { lr: 0 }); // lr 0: the same gradients every step
  // loss = ½‖θ‖²: the gradient is θ itself, ‖g‖ = ‖(3, −4, 12)‖ = 13.
  const lossFn = (_s: number, _g: Generator) => {
    const loss = A.mul(A.add(A.sum(A.square(model.a)), A.sum(A.square(model.b))), 0.5);
    return { loss, parts: {} as Record<string, Tensor> };
  };
  const dir = opts.dir ?? prepareRunDir(mkdtempSync(join(tmpdir(), 'avdit-loop-')));
  return trainLoop({
    dir, model, optimizer, ema: null, steps: opts.steps ?? 2, ckptEvery: opts.ckptEvery ?? 1, lossFn, resume: opts.resume,
    meta: { kind: 'dit', seed: opts.seed ?? 1, config: makeConfig('tiny'), args: {} },
    ...(opts.gradClip !== undefined ? { gradClip: opts.gradClip } : {}),
  }).then((r) => ({ ...r, dir, seen: optimizer.seen }));
}

test('gradient clipping: the logged norm is the global one before clipping; gradients are scaled to the clip only when above it', async () => {
  const close = (a: number[], b: number[]) => a.every((x, i) => Math.abs(x - b[i]!) < 1e-6); // (clip / (‖g‖ + 1e-6))
  const free = await setup();
  assert.ok(Math.abs(free.records[0]!.gradNorm - 13) < 1e-9);
  assert.deepEqual(free.seen[0], [3, -4, 12]);
  const above = await setup({ gradClip: 100 }); // a clip above the norm changes nothing
  assert.ok(close(above.seen[0]!, [3, -4, 12]), `clip 100: ${above.seen[0]}`);
  const clipped = await setup({ gradClip: 6.5 });
  assert.ok(Math.abs(clipped.records[0]!.gradNorm - 13) < 1e-9, 'the norm before clipping is logged');
  assert.ok(close(clipped.seen[0]!, [1.5, -2, 6]), `clip 6.5: ${clipped.seen[0]}`);
});

test('the last step is checkpointed even when it is not a multiple of ckptEvery; --resume refuses another seed', async () => {
  const r = await setup({ steps: 3, ckptEvery: 2 });
  assert.equal(r.lastStep, 3);
  assert.equal(readRunMeta(join(r.dir, 'checkpoint.safetensors')).step, 3);
  await assert.rejects(setup({ dir: r.dir, steps: 5, seed: 2, resume: true }), /--resume: the run used seed 1, not 2/);
  const more = await setup({ dir: r.dir, steps: 5, resume: true });
  assert.deepEqual(more.records.map((x) => x.step), [4, 5]);
});

test('finiteGroups: per group, false for any NaN or ±Inf; f32 values near the largest finite one (3.4e38) are finite', async () => {
  const f32 = (xs: number[]) => tensor(xs, [xs.length]);
  const huge = f32(new Array<number>(1000).fill(3.4e38)); // Σ x overflows f32
  assert.deepEqual(await finiteGroups([[f32([1, 2]), huge], [f32([1, NaN])], [f32([0, Infinity])], [huge, f32([-Infinity])], []]), [true, false, false, false, true]);
  assert.deepEqual(await finiteGroups([[tensor([1e300, -1e300], [2], { dtype: 'f64' })], [tensor([1, NaN], [2], { dtype: 'f64' })]]), [true, false]);
  assert.deepEqual(await finiteGroups([]), []);
});
