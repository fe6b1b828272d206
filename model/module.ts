/**
 * Modules: named parameters and sub-modules, PyTorch-style dotted state-dict keys,
 * freeze/unfreeze, and parameter counts. A parameter is a Tensor whose `requiresGrad` says
 * whether it trains; fixed tensors that belong in the state dict (DiT's `pos_embed`) are
 * parameters that stay frozen.
 */
import { fmt, sameShape } from '../engine/shape.ts';
import type { Tensor } from '../engine/tensor.ts';

export class StateDictError extends Error {
  override name = 'StateDictError';
}

/**
 * A tree of named parameters and child modules, as torch.nn.Module: dotted state-dict keys
 * (`blocks.0.attn.qkv.weight`), freeze/unfreeze by key, state dicts to and from safetensors,
 * dispose.
 */
export class Module {
  readonly #params = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Register a parameter (kept past scopes; named by its key). */
  protected param(name: string, t: Tensor, trainable = true): Tensor {
    t.keep();
    t.requiresGrad = trainable;
    this.#params.set(name, t);
    return t;
  }

  /** Register a sub-module under `name` (a dotted key segment). */
  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.#children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  /** Parameters, optionally only the trainable (or only the frozen) ones. */
  parameters(opts: { trainable?: boolean } = {}): Tensor[] {
    return this.namedParameters()
      .map(([, t]) => t)
      .filter((t) => opts.trainable === undefined || t.requiresGrad === opts.trainable);
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copy values from `sd` into this module's parameters. Missing, unexpected and mis-shaped keys
   * are one error listing them all (unless `strict` is false, which ignores missing and unexpected).
   */
  loadStateDict(sd: Map<string, Tensor>, strict = true): void {
    const own = new Map(this.namedParameters());
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const misshaped = [...own].filter(([k, t]) => sd.has(k) && !sameShape(sd.get(k)!.shape, t.shape)).map(([k, t]) => `${k}: checkpoint ${fmt(sd.get(k)!.shape)}, model ${fmt(t.shape)}`);
    // Dtypes and backends too, all before anything is copied: a bad key never leaves the module half loaded.
    const unfit = [...own].flatMap(([k, t]) => {
      const src = sd.get(k);
      if (!src) return [];
      if (src.dtype !== t.dtype) return [`${k} is ${src.dtype}, the model wants ${t.dtype}`];
      return src.backend !== t.backend ? [`${k} lives on ${src.backend.name}, the model on ${t.backend.name}`] : [];
    });
    const problems: string[] = [];
    if (misshaped.length) problems.push(`mis-shaped keys:\n  ${misshaped.join('\n  ')}`);
    if (unfit.length) problems.push(unfit.join('\n'));
    if (strict && missing.length) problems.push(`missing keys (${missing.length}):\n  ${missing.join('\n  ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys (${unexpected.length}):\n  ${unexpected.join('\n  ')}`);
    if (problems.length) throw new StateDictError(`loadStateDict: ${problems.join('\n')}`);
    for (const [k, t] of own) {
      const src = sd.get(k);
      if (src) t.assign(src);
    }
  }

  /** requiresGrad = false on every parameter (or those whose key matches). */
  freeze(match?: (key: string) => boolean): this {
    for (const [k, t] of this.namedParameters()) if (!match || match(k)) t.requiresGrad = false;
    return this;
  }

  unfreeze(match?: (key: string) => boolean): this {
    for (const [k, t] of this.namedParameters()) if (!match || match(k)) t.requiresGrad = true;
    return this;
  }

  /** Element counts: total, trainable, frozen. */
  count(): { total: number; trainable: number; frozen: number } {
    let total = 0, trainable = 0;
    for (const t of this.parameters()) {
      total += t.size;
      if (t.requiresGrad) trainable += t.size;
    }
    return { total, trainable, frozen: total - trainable };
  }

  /** count() of each direct sub-module by its name, and under '' the parameters held here directly. */
  countByChild(): Map<string, { total: number; trainable: number; frozen: number }> {
    const out = new Map<string, { total: number; trainable: number; frozen: number }>();
    if (this.#params.size) {
      const own = { total: 0, trainable: 0, frozen: 0 };
      for (const t of this.#params.values()) {
        own.total += t.size;
        own[t.requiresGrad ? 'trainable' : 'frozen'] += t.size;
      }
      out.set('', own);
    }
    for (const [n, c] of this.#children) out.set(n, c.count());
    return out;
  }

  /** Free every parameter's storage. */
  dispose(): void {
    for (const t of this.parameters()) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}
