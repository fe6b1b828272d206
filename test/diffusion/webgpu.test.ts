// The diffusion maths on the WebGPU backend (lavapipe in CI) in f32: the loss and its gradient,
// one DDPM and one DDIM step, against the float64 goldens and the CPU backend.
import { test } from 'node:test';
import * as A from '../../autograd/index.ts';
import type { Backend } from '../../engine/backend.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { tensor } from '../../engine/creation.ts';
import { createDiffusion, ddimSampleFromOutput, pSampleFromOutput } from '../../diffusion/index.ts';
import { useGpu } from '../webgpu/helpers.ts';
import { assertClose, golden, OUT_SHAPE, SHAPE } from './golden.ts';

const gpu = useGpu();

async function run(b: Backend): Promise<number[][]> {
  const mk = (d: number[], s: number[]) => tensor(Float32Array.from(d), s, { backend: b });
  const c = golden.loss[0]!;
  const out = mk(golden.modelOutput, OUT_SHAPE);
  out.requiresGrad = true;
  const l = createDiffusion('').trainingLosses(() => out, mk(golden.x0, SHAPE), c.t, mk(golden.noise, SHAPE));
  A.backward(A.sum(l.loss));
  const p = golden.pSample[1]!;
  const s = pSampleFromOutput(createDiffusion(p.respacing), out, mk(golden.stepX, SHAPE), p.t, { noise: mk(golden.stepNoise, SHAPE) });
  const q = golden.ddim[1]!;
  const dd = ddimSampleFromOutput(createDiffusion('ddim50'), out, mk(golden.stepX, SHAPE), q.t, { eta: q.eta, noise: mk(golden.stepNoise, SHAPE) });
  const read = async (t: { toArray(): Promise<ArrayLike<number>> }) => Array.from(await t.toArray());
  return [await read(l.loss), await read(out.grad!), await read(s.sample), await read(dd.sample)];
}

test('loss, gradient, DDPM and DDIM steps on webgpu (f32) match the goldens and the CPU', async () => {
  const [loss, grad, sample, ddim] = await run(gpu());
  assertClose(loss!, golden.loss[0]!.loss, 'loss', 1e-5, 1e-6);
  assertClose(sample!, golden.pSample[1]!.sample, 'p_sample', 1e-5, 1e-6);
  assertClose(ddim!, golden.ddim[1]!.sample, 'ddim', 1e-5, 1e-6);
  const [, cpuGrad] = await run(cpuBackend);
  assertClose(grad!, cpuGrad!, 'gradient vs cpu f32', 1e-4, 1e-7);
});
