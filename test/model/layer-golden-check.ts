// One layer against its PyTorch golden (layer_goldens.safetensors, written by
// test/fixtures/model/make_layer_goldens.py): load the weights into the module, run it on the fixture's
// inputs, backpropagate sum(out · upstream), and measure the output and every gradient.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as A from '../../autograd/index.ts';
import type { Backend } from '../../engine/backend.ts';
import { tensor } from '../../engine/creation.ts';
import { Generator } from '../../engine/rng.ts';
import { scopeAsync } from '../../engine/scope.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { InitContext } from '../../model/init.ts';
import type { Module } from '../../model/module.ts';
import { readSafetensors, type RawTensor } from '../../engine/io/safetensors.ts';
import { DIR, relErr } from './golden-check.ts';

const FIXTURE = readSafetensors(join(DIR, 'layer_goldens.safetensors')).tensors;

/** A tensor of the fixture (fails the test when it is absent). */
export function golden(name: string): RawTensor {
  const t = FIXTURE.get(name);
  assert.ok(t, `layer_goldens.safetensors lacks ${name}`);
  return t!;
}

/** Names of the fixture under `prefix`, the prefix cut off. */
const under = (prefix: string): string[] => [...FIXTURE.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));

/** A layer check: which fixture case, the module holding its weights, and how to run it. */
export interface LayerCase {
  /** The fixture case (its tensors are named `fixture.*`). */
  fixture: string;
  /** What runs it (a case of the fixture may be checked through more than one code path). */
  label: string;
  /** Builds the module and runs it on the fixture's inputs; null module for plain functions. */
  make(ctx: InitContext): { module: Module | null; run(inputs: Record<string, Tensor>): Tensor };
}

/** Type-checks a case's module and run together. */
export function layerCase<M extends Module | null>(
  fixture: string, label: string, build: (ctx: InitContext) => M, run: (m: M, inputs: Record<string, Tensor>) => Tensor,
): LayerCase {
  return { fixture, label, make: (ctx) => { const module = build(ctx); return { module, run: (inputs) => run(module, inputs) }; } };
}

/** One measured tensor: its name and max |got − want| / max |want|. */
export interface Measure {
  what: string;
  err: number;
}

/**
 * Runs `c` on `backend` and returns the relative error of the output and of every gradient the
 * fixture holds (inputs `din.*`, weights `dparam.*`). Weights without a fixture gradient are
 * frozen (requiresGrad false) and must come out without one. A gradient that is zero in exact
 * arithmetic (the temporal key bias: it moves all of a query's scores alike and softmax ignores
 * that) is measured against 1e-2 of the case's largest gradient instead of its own noise, as
 * golden-check.ts does.
 */
export async function checkLayer(c: LayerCase, backend: Backend): Promise<Measure[]> {
  const f = c.fixture;
  const { module, run } = c.make({ backend, gen: new Generator(0) });
  try {
    return await scopeAsync(async () => {
      if (module) {
        const params = new Map(under(`${f}.param.`).map((k) => [k, load(`${f}.param.${k}`, backend)]));
        module.loadStateDict(params); // strict: the module's keys are exactly PyTorch's
        for (const [k, p] of module.namedParameters()) p.requiresGrad = FIXTURE.has(`${f}.dparam.${k}`);
      } else {
        assert.deepEqual(under(`${f}.param.`), [], `${f}: a plain function has no weights`);
      }
      const inputs = Object.fromEntries(under(`${f}.in.`).map((n) => [n, load(`${f}.in.${n}`, backend, FIXTURE.has(`${f}.din.${n}`))]));
      const out = run(inputs);
      const want = golden(`${f}.out`);
      assert.deepEqual([...out.shape], want.shape, `${c.label}: output shape`);
      const measures: Measure[] = [{ what: 'out', err: relErr(await out.toArray(), want.data) }];
      A.backward(A.sum(A.mul(out, load(`${f}.upstream`, backend))));

      const grads: [string, Tensor | null, RawTensor][] = [
        ...under(`${f}.din.`).map((n): [string, Tensor | null, RawTensor] => [`d ${n}`, inputs[n]!.grad, golden(`${f}.din.${n}`)]),
        ...(module?.namedParameters() ?? []).filter(([, p]) => p.requiresGrad)
          .map(([k, p]): [string, Tensor | null, RawTensor] => [`d ${k}`, p.grad, golden(`${f}.dparam.${k}`)]),
      ];
      const scale = Math.max(...grads.map(([, , w]) => maxAbs(w.data)));
      for (const [what, got, want] of grads) {
        assert.ok(got, `${c.label}: ${what} missing`);
        const zero = maxAbs(want.data) < 1e-9 * scale;
        measures.push({ what: zero ? `${what} (zero in exact arithmetic)` : what, err: relErr(await got!.toArray(), want.data, zero ? 1e-2 * scale : 1e-30) });
      }
      for (const [k, p] of module?.namedParameters() ?? []) if (!p.requiresGrad) assert.equal(p.grad, null, `${c.label}: frozen ${k} got a gradient`);
      return measures;
    });
  } finally {
    module?.dispose();
  }
}

function load(name: string, backend: Backend, requiresGrad = false): Tensor {
  const t = golden(name);
  return tensor(t.data, t.shape, { backend, dtype: t.dtype, requiresGrad });
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
