// Shared by the CPU and WebGPU golden tests: the fixture of test/fixtures/model/make_avdit_golden.py
// (an independent PyTorch implementation of DESIGN.md) and the check of the tiny AV-DiT against it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import type { Backend } from '../../engine/backend.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { AVDiT } from '../../model/avdit.ts';
import { makeConfig, type AVDiTConfig } from '../../model/config.ts';
import { DiT } from '../../model/dit.ts';
import { readSafetensors, type RawTensor } from '../../engine/io/safetensors.ts';
import { fillModule, hashTensor } from './hashfill.ts';

export const DIR = join(import.meta.dirname, '../fixtures/model');

/** A golden file and the config (the tiny preset with overrides) the reference ran. */
export interface Golden {
  file: string;
  config: Partial<AVDiTConfig>;
  get(name: string): RawTensor;
  names(): string[];
}

function loadGolden(file: string, config: Partial<AVDiTConfig>): Golden {
  const tensors = readSafetensors(join(DIR, file)).tensors;
  return {
    file, config,
    get(name) {
      const t = tensors.get(name);
      assert.ok(t, `${file} lacks ${name}`);
      return t!;
    },
    names: () => [...tensors.keys()],
  };
}

/** The tiny preset (square grids: 4×4 video patches, 4×4 audio patches, depth 4). */
export const TINY = loadGolden('avdit_tiny_golden.safetensors', {});
/** Grids square in neither branch (video 4×6 patches, audio 8×4), depth 1. */
export const NONSQUARE = loadGolden('avdit_nonsquare_golden.safetensors', { depth: 1, videoWidth: 12, audioTime: 16 });
export const get = TINY.get;

/**
 * max |a − b| / max(max |b|, floor): the error relative to the tensor's scale. A gradient that is
 * exactly zero in exact arithmetic (the temporal key bias: it shifts every score of a query
 * equally and softmax ignores that; the reference gives ~1e-15) leaves only f32 rounding noise,
 * so such a tensor is measured against 1e-2 × the model's largest gradient instead: its check
 * is then |a| < 1e-6 of that scale, as strict in absolute terms as the others.
 */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  assert.equal(a.length, b.length);
  let worst = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return worst / Math.max(scale, floor);
}

export function inputs(backend: Backend = cpuBackend, g: Golden = TINY) {
  const get = g.get;
  const xv = get('x_video'), xa = get('x_audio');
  return {
    xv: tensor(xv.data, xv.shape, { backend }),
    xa: tensor(xa.data, xa.shape, { backend }),
    t: Array.from(get('t').data),
    y: tensor(Array.from(get('y').data), [2], { dtype: 'i32', backend }),
  };
}

/**
 * Forward + backward of the filled tiny AV-DiT on `backend`, checked against the fixture: with the
 * paper's pooled fusion every trainable gradient, with the per-frame fusion the fusion parameters' ones
 * (the rest of the model is the same code).
 */
export async function checkAVDiTGolden(backend: Backend, fusion: 'pooled' | 'frames' = 'pooled', g: Golden = TINY): Promise<void> {
  const get = g.get;
  const model = new AVDiT({ backend, gen: new Generator(0) }, makeConfig('tiny', g.config));
  fillModule(model);
  const { xv, xa, t, y } = inputs(backend, g);
  const out = model.forwardAV(xv, xa, t, y, { fusion });
  const suffix = fusion === 'frames' ? '_frames' : '', gradPrefix = fusion === 'frames' ? 'grad_frames.' : 'grad.';
  assert.ok(relErr(await out.video.toArray(), get('out_video' + suffix).data) < 1e-4, 'video output');
  assert.ok(relErr(await out.audio.toArray(), get('out_audio' + suffix).data) < 1e-4, 'audio output');
  const rv = hashTensor('proj.video', [...out.video.shape], 1, backend), ra = hashTensor('proj.audio', [...out.audio.shape], 1, backend);
  A.backward(A.add(A.sum(A.mul(out.video, rv)), A.sum(A.mul(out.audio, ra))));
  const checked = model.namedParameters().filter(([k, p]) => p.requiresGrad && (fusion === 'pooled' || k.includes('.fusion_')));
  const expected = g.names().filter((k) => k.startsWith(gradPrefix)).map((k) => k.slice(gradPrefix.length)).sort();
  assert.deepEqual(checked.map(([k]) => k).sort(), expected, 'the trainable set equals the reference one');
  const gradScale = Math.max(...expected.map((k) => Math.max(...Array.from(get(gradPrefix + k).data, Math.abs))));
  for (const [k, p] of checked) {
    assert.ok(p.grad, `${k} has no gradient`);
    const ref = get(gradPrefix + k).data;
    const zero = Math.max(...Array.from(ref, Math.abs)) < 1e-9 * gradScale;
    const e = relErr(await p.grad!.toArray(), ref, zero ? 1e-2 * gradScale : 1e-30);
    assert.ok(e < 1e-4, `grad ${k}: relative error ${e}`);
  }
  for (const [k, p] of model.namedParameters()) if (!p.requiresGrad) assert.equal(p.grad, null, `frozen ${k} got a gradient`);
  model.dispose();
}

/** The tiny class-conditional DiT's forward on `backend` against PyTorch's (dit_tiny_golden). */
export async function checkDiTGolden(backend: Backend): Promise<void> {
  const g = readSafetensors(join(DIR, 'dit_tiny_golden.safetensors')).tensors;
  const dit = new DiT({ backend, gen: new Generator(0) }, makeConfig('tiny'));
  fillModule(dit);
  const x = g.get('x')!;
  const out = A.noGrad(() => dit.forward(tensor(x.data, x.shape, { backend }), Array.from(g.get('t')!.data), tensor(Array.from(g.get('y')!.data), [2], { dtype: 'i32', backend })));
  const err = relErr(await out.toArray(), g.get('out')!.data);
  assert.ok(err < 1e-4, `DiT forward on ${backend.name}: relative error ${err}`);
  dit.dispose();
}
