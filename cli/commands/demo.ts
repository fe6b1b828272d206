/**
 * `avdit demo`: the embedded default. The AV-DiT demo (synthetic sounding videos, pretrain,
 * adapt, sample; issue 7) is not built yet; until then this trains a small MLP with the
 * engine's autograd on the chosen backend and shows the loss falling, so the command is real.
 */
import * as A from '../../autograd/index.ts';
import { randn, tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { scope } from '../../engine/scope.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { backendFlag, intFlag, parse } from '../args.ts';

export const help = `avdit demo [--backend cpu|webgpu|auto] [--steps N]

Fits y = sin(3x) with a 1-64-64-1 GELU MLP by gradient descent and prints the loss.
(The AV-DiT audio-video demo is not built yet.)`;

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, { backend: { type: 'string' }, steps: { type: 'string' } });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const backend = await backendFlag(flags, 'auto');
  const steps = intFlag(flags, 'steps', 300);
  const g = new Generator(0);
  const param = (shape: number[], scale: number): Tensor => {
    const t = A.noGrad(() => A.mul(randn(shape, { generator: g, backend }), scale)).keep();
    t.requiresGrad = true;
    return t;
  };
  const params = [param([64, 1], 1), param([64], 0.1), param([64, 64], 1 / 8), param([64], 0.1), param([1, 64], 1 / 8), param([1], 0.1)];
  const xs = Array.from({ length: 128 }, (_, i) => -1 + (2 * i) / 127);
  const x = tensor(xs, [128, 1], { backend }).keep();
  const y = tensor(xs.map((v) => Math.sin(3 * v)), [128, 1], { backend }).keep();
  const lr = 0.05;
  const started = performance.now();
  for (let step = 1; step <= steps; step++) {
    const loss = scope(() => {
      const [w1, b1, w2, b2, w3, b3] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      const h = A.gelu(A.linear(A.gelu(A.linear(x, w1, b1)), w2, b2));
      const l = A.mean(A.square(A.sub(A.linear(h, w3, b3), y)));
      A.backward(l);
      A.noGrad(() => {
        for (const p of params) p.assign(A.sub(p, A.mul(p.grad!, lr)));
      });
      A.zeroGrad(params);
      return l;
    });
    if (step === 1 || step % 50 === 0 || step === steps) {
      console.log(`step ${String(step).padStart(4)}  loss ${(await loss.item()).toFixed(5)}`);
    }
    loss.dispose();
  }
  console.log(`${steps} steps in ${((performance.now() - started) / 1000).toFixed(2)} s on ${backend.name} (${backend.device})`);
  console.log('The AV-DiT audio-video demo (issue 7) is not built yet: this run exercised the engine and autograd only.');
  return 0;
}
