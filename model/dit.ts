/**
 * DiT (Peebles & Xie 2023), with the official state-dict keys: the frozen image backbone of
 * AV-DiT, and a class-conditional image model on its own.
 *
 *   x [N, C, H, W] → patch tokens + pos_embed → depth × DiTBlock(c) → FinalLayer(c) → unpatchify
 *   c = t_embedder(t) + y_embedder(y)
 */
import * as A from '../autograd/index.ts';
import { tensor } from '../engine/creation.ts';
import { scope } from '../engine/scope.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { AVDiTConfig } from './config.ts';
import { type InitContext } from './init.ts';
import { norm, normModulate } from './layers/adaln.ts';
import { Attention } from './layers/attention.ts';
import { LabelEmbedder, PatchEmbed, TimestepEmbedder } from './layers/embed.ts';
import { Linear } from './layers/linear.ts';
import { Mlp } from './layers/mlp.ts';
import { sincos2d } from './layers/posembed.ts';
import { Module } from './module.ts';
import { modulate } from './layers/adaln.ts';
import { type Checkpointing, checkpointsBlock } from './checkpointing.ts';

/** SiLU → Linear(D, k·D) (key `adaLN_modulation.1`), zero-initialised (adaLN-Zero), split into k [N, D] parts. */
export class AdaLNModulation extends Module {
  readonly linear: Linear;
  constructor(ctx: InitContext, dim: number, readonly parts: number) {
    super();
    this.linear = this.child('1', new Linear(ctx, dim, parts * dim, { zeroWeight: true }));
  }
  forward(c: Tensor): Tensor[] {
    return A.chunk(this.linear.forward(A.silu(c)), this.parts, 1);
  }
}

/** The six adaLN factors of a block, each [N, D]. */
export interface BlockModulation {
  shiftMsa: Tensor; scaleMsa: Tensor; gateMsa: Tensor;
  shiftMlp: Tensor; scaleMlp: Tensor; gateMlp: Tensor;
}

/**
 * One DiT block (adaLN-Zero): x [N, L, D] + gate_msa·attn(modulate(norm(x))) then +
 * gate_mlp·mlp(modulate(norm(·))), the six factors from c [N, D].
 */
export class DiTBlock extends Module {
  readonly attn: Attention;
  readonly mlp: Mlp;
  readonly adaLN: AdaLNModulation;
  constructor(ctx: InitContext, dim: number, heads: number, mlpRatio: number) {
    super();
    this.attn = this.child('attn', new Attention(ctx, dim, heads));
    this.mlp = this.child('mlp', new Mlp(ctx, dim, dim * mlpRatio));
    this.adaLN = this.child('adaLN_modulation', new AdaLNModulation(ctx, dim, 6));
  }
  modulation(c: Tensor): BlockModulation {
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = this.adaLN.forward(c) as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
    return { shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp };
  }
  /** x [N, L, D], c [N, D]. */
  forward(x: Tensor, c: Tensor): Tensor {
    const m = this.modulation(c);
    const h = A.addGated(x, m.gateMsa, this.attn.forward(normModulate(x, m.shiftMsa, m.scaleMsa)));
    return A.addGated(h, m.gateMlp, this.mlp.forward(normModulate(h, m.shiftMlp, m.scaleMlp)));
  }
}

/** norm → modulate(shift, scale from c) → Linear(D, p·p·outC); all zero-initialised. */
export class FinalLayer extends Module {
  readonly linear: Linear;
  readonly adaLN: AdaLNModulation;
  constructor(ctx: InitContext, dim: number, patch: number, outChannels: number) {
    super();
    this.linear = this.child('linear', new Linear(ctx, dim, patch * patch * outChannels, { zeroWeight: true }));
    this.adaLN = this.child('adaLN_modulation', new AdaLNModulation(ctx, dim, 2));
  }
  /** The modulated, normalised tokens (shared with AV-DiT's audio output head). */
  normed(x: Tensor, c: Tensor): Tensor {
    const [shift, scale] = this.adaLN.forward(c) as [Tensor, Tensor];
    return modulate(norm(x), shift, scale);
  }
  forward(x: Tensor, c: Tensor): Tensor {
    return this.linear.forward(this.normed(x, c));
  }
}

export type DiTConfig = Pick<AVDiTConfig, 'hidden' | 'depth' | 'heads' | 'patch' | 'videoChannels' | 'videoHeight' | 'videoWidth' | 'classes' | 'mlpRatio'>;

/**
 * DiT with the official checkpoint keys: images [N, C, H, W], timesteps and labels → [N, 2C, H,
 * W] (predicted noise, then variance values).
 */
export class DiT extends Module {
  readonly xEmbedder: PatchEmbed;
  readonly tEmbedder: TimestepEmbedder;
  readonly yEmbedder: LabelEmbedder;
  readonly posEmbed: Tensor;
  readonly blocks: DiTBlock[];
  readonly finalLayer: FinalLayer;

  constructor(ctx: InitContext, readonly config: DiTConfig, makeBlock?: (i: number) => DiTBlock) {
    super();
    const c = config;
    const D = c.hidden;
    this.xEmbedder = this.child('x_embedder', new PatchEmbed(ctx, c.videoChannels, D, c.patch));
    this.tEmbedder = this.child('t_embedder', new TimestepEmbedder(ctx, D));
    this.yEmbedder = this.child('y_embedder', new LabelEmbedder(ctx, c.classes, D));
    const gh = c.videoHeight / c.patch, gw = c.videoWidth / c.patch;
    this.posEmbed = this.param('pos_embed', tensor(sincos2d(D, gh, gw), [1, gh * gw, D], { backend: ctx.backend }), false);
    const blocks = this.child('blocks', new Module());
    this.blocks = Array.from({ length: c.depth }, (_, i) => {
      const b = makeBlock ? makeBlock(i) : new DiTBlock(ctx, D, c.heads, c.mlpRatio);
      return (blocks as unknown as { child(n: string, m: Module): DiTBlock }).child(String(i), b);
    });
    this.finalLayer = this.child('final_layer', new FinalLayer(ctx, D, c.patch, 2 * c.videoChannels));
  }

  /** Patch tokens plus positions: x [N, C, H, W] → [N, L, D]. */
  embed(x: Tensor): Tensor {
    return A.add(this.xEmbedder.forward(x), this.posEmbed);
  }

  /** c = t_embedder(t) + y_embedder(y), [N, D]. */
  condition(t: ArrayLike<number>, y: Tensor): Tensor {
    return A.add(this.tEmbedder.forward(t), this.yEmbedder.forward(y));
  }

  /** Tokens [N, L, p·p·2C] → [N, 2C, H, W]. */
  unpatchify(x: Tensor): Tensor {
    const c = this.config;
    return A.unpatchify(x, c.patch, 2 * c.videoChannels, c.videoHeight / c.patch, c.videoWidth / c.patch);
  }

  /**
   * x [N, C, H, W], t (N timesteps), y i32 [N] → [N, 2C, H, W] (noise, then variance values).
   * `checkpoint`: activation checkpointing in training, of every block or the first n (only such a
   * block's input is kept; its activations are recomputed in the backward pass; model/checkpointing.ts).
   */
  forward(x: Tensor, t: ArrayLike<number>, y: Tensor, opts: { checkpoint?: Checkpointing } = {}): Tensor {
    const c = this.condition(t, y);
    let h = this.embed(x);
    for (const [i, b] of this.blocks.entries()) {
      const hIn = h;
      // Training: free what no gradient rule reads as soon as the block is done; inference: all.
      if (A.isRecording() && checkpointsBlock(opts.checkpoint, i)) h = A.checkpoint((hi: Tensor, ci: Tensor) => A.releaseUnsaved(() => b.forward(hi, ci)), hIn, c);
      else if (A.isRecording()) h = A.releaseUnsaved(() => b.forward(hIn, c));
      else {
        h = scope(() => b.forward(hIn, c));
        hIn.dispose(); // made in this function, so ours to free
      }
    }
    return this.unpatchify(this.finalLayer.forward(h, c));
  }
}
