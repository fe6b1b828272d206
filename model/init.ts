/**
 * Parameter initialisers (as DiT's `initialize_weights` and loralib), drawing from a Philox
 * generator so a model is reproducible from its seed on every backend.
 */
import * as A from '../autograd/index.ts';
import type { Backend } from '../engine/backend.ts';
import { rand, randn, zeros as zerosOn } from '../engine/creation.ts';
import { scope } from '../engine/scope.ts';
import type { Generator } from '../engine/rng.ts';
import type { Tensor } from '../engine/tensor.ts';

export interface InitContext {
  backend: Backend;
  gen: Generator;
}

/** U(−b, b). */
export function uniform(ctx: InitContext, shape: number[], bound: number): Tensor {
  return scaled(() => rand(shape, { backend: ctx.backend, generator: ctx.gen }), 2 * bound, -bound);
}

/**
 * a·x + b of fresh draws `draw()`, in a scope so the draws are freed at once (a model is usually
 * built outside any scope, where they would live on).
 */
function scaled(draw: () => Tensor, a: number, b: number): Tensor {
  return scope(() => A.noGrad(() => A.affine(draw(), a, b)));
}

/** Xavier/Glorot uniform for a [out, in, ...] weight: b = √(6 / (fan_in + fan_out)). */
export function xavierUniform(ctx: InitContext, shape: number[]): Tensor {
  const fanOut = shape[0]!;
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return uniform(ctx, shape, Math.sqrt(6 / (fanIn + fanOut)));
}

/** Kaiming uniform with a = √5 (PyTorch's Linear default, loralib's LoRA A): b = 1/√fan_in. */
export function kaimingUniform(ctx: InitContext, shape: number[]): Tensor {
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return uniform(ctx, shape, 1 / Math.sqrt(fanIn));
}

/** N(0, std²) draws of `shape` from the context generator. */
export function normal(ctx: InitContext, shape: number[], std: number): Tensor {
  return scaled(() => randn(shape, { backend: ctx.backend, generator: ctx.gen }), std, 0);
}

/** Zeros of `shape` on the context backend. */
export function zeros(ctx: InitContext, shape: number[]): Tensor {
  return zerosOn(shape, { backend: ctx.backend });
}
