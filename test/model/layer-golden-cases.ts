// Every layer and fused op of model/layers, each tied to its case of layer_goldens.safetensors
// (test/fixtures/model/make_layer_goldens.py says what each case holds).
import * as A from '../../autograd/index.ts';
import type { InitContext } from '../../model/init.ts';
import { modulate, norm, normModulate } from '../../model/layers/adaln.ts';
import { Attention, TemporalAttention } from '../../model/layers/attention.ts';
import { LabelEmbedder, PatchEmbed, TimestepEmbedder } from '../../model/layers/embed.ts';
import { LayerNorm } from '../../model/layers/layer-norm.ts';
import { Linear, LoRA } from '../../model/layers/linear.ts';
import { LoRALinear } from '../../model/layers/lora-linear.ts';
import { Adapter, Mlp } from '../../model/layers/mlp.ts';
import { Module } from '../../model/module.ts';
import { golden, layerCase, type LayerCase } from './layer-golden-check.ts';

/** A frozen Linear `base` with a LoRA `lora` beside it (keys as the fixture's). */
class FrozenWithLoRA extends Module {
  readonly base: Linear;
  readonly lora: LoRA;
  constructor(ctx: InitContext, inF: number, outF: number, rank: number) {
    super();
    this.base = this.child('base', new Linear(ctx, inF, outF));
    this.lora = this.child('lora', new LoRA(ctx, inF, outF, rank));
  }
}

/** DiT's attention under `attn`, with an AV-DiT LoRA pair (qkv, proj) under `lora` when rank > 0. */
class AttentionWithLoRA extends Module {
  readonly attn: Attention;
  readonly lora: (Module & { qkv: LoRA; proj: LoRA }) | undefined;
  constructor(ctx: InitContext, dim: number, heads: number, rank = 0) {
    super();
    this.attn = this.child('attn', new Attention(ctx, dim, heads));
    this.lora = rank > 0 ? this.child('lora', new (class extends Module {
      readonly qkv = this.child('qkv', new LoRA(ctx, dim, 3 * dim, rank));
      readonly proj = this.child('proj', new LoRA(ctx, dim, dim, rank));
    })()) : undefined;
  }
}

const none = (): null => null;

export const ATTENTION_CASES: LayerCase[] = [
  layerCase('temporal_9x72', 'TemporalAttention (1 head, q/k 9, v 72)', (ctx) => new TemporalAttention(ctx, 72, 1, 8), (m, i) => m.forward(i.x!)),
  layerCase('temporal_2h', 'TemporalAttention (2 heads, q/k 9, v 18)', (ctx) => new TemporalAttention(ctx, 36, 2, 2), (m, i) => m.forward(i.x!)),
  layerCase('attn_64', 'Attention (head dim 64)', (ctx) => new AttentionWithLoRA(ctx, 64, 1), (m, i) => m.attn.forward(i.x!)),
  layerCase('attn_72_lora', 'Attention with LoRA (head dim 72)', (ctx) => new AttentionWithLoRA(ctx, 72, 1, 4), (m, i) => m.attn.forward(i.x!, m.lora)),
];

export const LAYER_CASES: LayerCase[] = [
  layerCase('linear', 'Linear', (ctx) => new Linear(ctx, 12, 10), (m, i) => m.forward(i.x!)),
  layerCase('lora', 'LoRA.apply on a frozen Linear', (ctx) => new FrozenWithLoRA(ctx, 12, 10, 4), (m, i) => m.lora.apply(m.base, i.x!)),
  layerCase('lora_linear', 'LoRALinear', (ctx) => new LoRALinear(ctx, 12, 10, 4), (m, i) => m.forward(i.x!)),
  layerCase('layer_norm', 'norm', none, (_, i) => norm(i.x!)),
  layerCase('layer_norm', 'LayerNorm', () => new LayerNorm(), (m, i) => m.forward(i.x!)),
  layerCase('modulate', 'modulate', none, (_, i) => modulate(i.x!, i.shift!, i.scale!)),
  layerCase('norm_modulate', 'normModulate (fused)', none, (_, i) => normModulate(i.x!, i.shift!, i.scale!)),
  layerCase('norm_modulate', 'modulate(norm(x))', none, (_, i) => modulate(norm(i.x!), i.shift!, i.scale!)),
  layerCase('add_gated', 'addGated', none, (_, i) => A.addGated(i.x!, i.gate!, i.y!)),
  layerCase('mlp', 'Mlp', (ctx) => new Mlp(ctx, 16, 64), (m, i) => m.forward(i.x!)),
  layerCase('adapter', 'Adapter', (ctx) => new Adapter(ctx, 16, 8), (m, i) => m.forward(i.x!)),
  ...ATTENTION_CASES,
  // t stays plain numbers, as the model takes it
  layerCase('timestep', 'TimestepEmbedder', (ctx) => new TimestepEmbedder(ctx, 8), (m) => m.forward(golden('timestep.in.t').data)),
  layerCase('label', 'LabelEmbedder', (ctx) => new LabelEmbedder(ctx, 10, 16), (m, i) => m.forward(i.y!)),
  layerCase('patch', 'PatchEmbed', (ctx) => new PatchEmbed(ctx, 3, 5, 2), (m, i) => m.forward(i.x!)),
];
