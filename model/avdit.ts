/**
 * AV-DiT (Wang et al., NeurIPS 2024) as DESIGN.md fixes it: a frozen image DiT shared by a video
 * and an audio branch. Per block, after the frozen DiT's adaLN factors from c:
 *   1. spatial attention (frozen; audio adds LoRA `audio_lora`),
 *   2. temporal adapter over frames (video; `temporal`, output projection starts at zero),
 *   3. fusion: attention over [mean-over-frames video tokens; audio tokens] (frozen + LoRA
 *      `fusion_lora`), added back through per-channel gates that start at zero (or, beyond the
 *      paper, per frame over [that frame's tokens; its audio tokens]: FusionMode),
 *   4. feed-forward (frozen; audio adds the bottleneck `audio_adapter` in parallel).
 * Shapes: B clips, M frames, Lv tokens per frame, La audio tokens, D hidden.
 */
import * as A from '../autograd/index.ts';
import { tensor } from '../engine/creation.ts';
import { scope } from '../engine/scope.ts';
import type { Tensor } from '../engine/tensor.ts';
import { audioTokens, type AVDiTConfig, videoTokens } from './config.ts';
import { DiT, DiTBlock, type BlockModulation } from './dit.ts';
import { type InitContext, zeros } from './init.ts';
import { modulate, norm, normModulate } from './layers/adaln.ts';
import { TemporalAttention, type AttentionLoRA } from './layers/attention.ts';
import { PatchEmbed } from './layers/embed.ts';
import { Linear, LoRA } from './layers/linear.ts';
import { Adapter } from './layers/mlp.ts';
import { stackedRows } from './layers/rows.ts';
import { sincos1d, sincos2d } from './layers/posembed.ts';
import { type Checkpointing, checkpointsBlock } from './checkpointing.ts';
import { Module } from './module.ts';

function loraPair(ctx: InitContext, dim: number, rank: number): Module & AttentionLoRA {
  const m = new (class extends Module {
    readonly qkv = this.child('qkv', new LoRA(ctx, dim, 3 * dim, rank));
    readonly proj = this.child('proj', new LoRA(ctx, dim, dim, rank));
  })();
  return m;
}

/** A DiT block plus AV-DiT's trainable parts (the DiT keys stay exactly DiT's). */
export class AVDiTBlock extends DiTBlock {
  readonly audioLora: Module & AttentionLoRA;
  readonly temporal: TemporalAttention;
  readonly fusionLora: Module & AttentionLoRA;
  readonly fusionGateVideo: Tensor;
  readonly fusionGateAudio: Tensor;
  readonly audioAdapter: Adapter;
  constructor(ctx: InitContext, c: AVDiTConfig) {
    super(ctx, c.hidden, c.heads, c.mlpRatio);
    const D = c.hidden;
    this.audioLora = this.child('audio_lora', loraPair(ctx, D, c.loraRank));
    this.temporal = this.child('temporal', new TemporalAttention(ctx, D, c.heads, c.temporalRatio));
    this.fusionLora = this.child('fusion_lora', loraPair(ctx, D, c.loraRank));
    this.fusionGateVideo = this.param('fusion_gate_video', zeros(ctx, [D]));
    this.fusionGateAudio = this.param('fusion_gate_audio', zeros(ctx, [D]));
    this.audioAdapter = this.child('audio_adapter', new Adapter(ctx, D, Math.round(D * c.adapterRatio)));
  }
}

/**
 * What the fusion step attends over:
 * - `pooled` (the paper, DESIGN.md): [video averaged over frames; audio], once per clip;
 * - `frames`: per video frame, [that frame's tokens; the audio tokens sounding during it] (the
 *   audio's patch rows split evenly over the frames), so sound and picture meet at the same time
 *   instead of the audio seeing a video with its timing averaged away;
 * - `none`: no fusion (the paper's "w/o Fusion" ablation).
 * All three use the same parameters, so one checkpoint holds any of them.
 */
export type FusionMode = 'pooled' | 'frames' | 'none';
export const FUSION_MODES: readonly FusionMode[] = ['pooled', 'frames', 'none'];

/** Throws unless `mode` can run on config `c` (`frames` splits the audio's patch rows evenly over the frames). */
export function checkFusion(c: AVDiTConfig, mode: FusionMode): void {
  const rows = c.audioTime / c.patch;
  if (mode === 'frames' && rows % c.frames !== 0) {
    throw new Error(`fusion 'frames' splits the audio's ${rows} patch rows evenly over the ${c.frames} frames; that needs a multiple of ${c.frames} (use 'pooled')`);
  }
}

export interface AVDiTOptions {
  /** Default `pooled` (DESIGN.md). */
  fusion?: FusionMode;
  /** Recompute each block's activations in the backward pass instead of keeping them: every block, or the first n (model/checkpointing.ts). */
  checkpoint?: Checkpointing;
}

/** Repeat each row of a [B, D] tensor `times` times → [B·times, D]. */
function repeatRows(x: Tensor, times: number): Tensor {
  const [b, d] = x.shape as [number, number];
  if (times === 1) return x;
  return A.reshape(A.expand(A.reshape(x, [b, 1, d]), [b, times, d]), [b * times, d]);
}

function repeatModulation(m: BlockModulation, times: number): BlockModulation {
  const r = (t: Tensor) => repeatRows(t, times);
  return { shiftMsa: r(m.shiftMsa), scaleMsa: r(m.scaleMsa), gateMsa: r(m.gateMsa), shiftMlp: r(m.shiftMlp), scaleMlp: r(m.scaleMlp), gateMlp: r(m.gateMlp) };
}

/**
 * AV-DiT: the frozen DiT shared by a video and an audio branch plus the trainable adapters;
 * `forwardAV` maps video [B, M, Cv, Hv, Wv] and audio [B, Ca, T, F] latents to outputs with twice
 * the channels. See docs/paper-to-code.md.
 */
export class AVDiT extends DiT {
  declare readonly blocks: AVDiTBlock[];
  readonly audioEmbedder: PatchEmbed;
  readonly audioPosEmbed: Tensor;
  readonly audioFinal: Linear;
  /** temporal_pos, 1-D sincos over the M frames, as [M, 1, D] (added to the video stream [B, M, Lv, D] frame by frame): computed, not stored. */
  readonly temporalPos: Tensor;

  constructor(ctx: InitContext, readonly avConfig: AVDiTConfig) {
    super(ctx, avConfig, () => new AVDiTBlock(ctx, avConfig));
    const c = avConfig;
    const D = c.hidden;
    this.audioEmbedder = this.child('audio_embedder', new PatchEmbed(ctx, c.audioChannels, D, c.patch));
    const gt = c.audioTime / c.patch, gf = c.audioFreq / c.patch;
    this.audioPosEmbed = this.param('audio_pos_embed', tensor(sincos2d(D, gt, gf), [1, gt * gf, D], { backend: ctx.backend }), false);
    const head = this.child('audio_final_layer', new Module());
    this.audioFinal = (head as unknown as { child(n: string, m: Linear): Linear }).child(
      'linear',
      new Linear(ctx, D, c.patch * c.patch * 2 * c.audioChannels, { zeroWeight: true }),
    );
    this.temporalPos = tensor(sincos1d(D, Array.from({ length: c.frames }, (_, m) => m)), [c.frames, 1, D], { backend: ctx.backend }).keep();
    this.setTrainable();
  }

  /** DESIGN.md: LoRA, adapters, temporal, gates, audio embedder and final linear, and every DiT bias. */
  setTrainable(): void {
    this.freeze();
    this.unfreeze((k) => AVDIT_TRAINABLE.some((re) => re.test(k)));
  }

  /**
   * For sampling: fold every block's audio and fusion LoRA into its own copy of the frozen
   * attention weights (LoRA.merge), so each adapted qkv and proj is one product instead of three
   * ops. Costs a copy of qkv and proj per LoRA (XL: 1.2 GB). The temporal adapters' stacked q/k/v
   * projections are kept too (TemporalAttention.cacheStack; XL: 0.2 GB). Forward passes must then
   * run under noGrad. Returns the undo, which frees the copies; call it before the weights change again.
   */
  mergeLoRA(): () => void {
    const merged: LoRA[] = [];
    const stacks: (() => void)[] = [];
    const undo = (): void => {
      for (const l of merged.splice(0)) l.unmerge();
      for (const free of stacks.splice(0)) free();
      this.#unmerge = null;
    };
    this.#unmerge?.();
    try {
      for (const blk of this.blocks) {
        stacks.push(blk.temporal.cacheStack()); // (the temporal adapter's q/k/v, stacked once for all steps)
        for (const pair of [blk.audioLora, blk.fusionLora]) {
          for (const [lora, base] of [[pair.qkv, blk.attn.qkv], [pair.proj, blk.attn.proj]] as const) {
            lora.merge(base);
            merged.push(lora);
          }
        }
      }
    } catch (e) {
      undo();
      throw e;
    }
    this.#unmerge = undo;
    return undo;
  }
  /** The undo of the merge in force (mergeLoRA), run again by a new merge and by dispose. */
  #unmerge: (() => void) | null = null;

  /**
   * xv [B, M, Cv, Hv, Wv], xa [B, Ca, T, F], t (B timesteps), y i32 [B] →
   * { video [B, M, 2Cv, Hv, Wv], audio [B, 2Ca, T, F] }.
   */
  forwardAV(xv: Tensor, xa: Tensor, t: ArrayLike<number>, y: Tensor, opts: AVDiTOptions = {}): { video: Tensor; audio: Tensor } {
    const c = this.avConfig;
    const [B, M] = xv.shape as [number, number];
    checkFusion(c, opts.fusion ?? 'pooled');
    const cond = this.condition(t, y); // [B, D]
    let v = this.embed(A.reshape(xv, [B * M, c.videoChannels, c.videoHeight, c.videoWidth])); // [B·M, Lv, D]
    let a = A.add(this.audioEmbedder.forward(xa), this.audioPosEmbed); // [B, La, D]

    for (const [i, blk] of this.blocks.entries()) {
      if (!A.isRecording()) {
        // Inference: nothing is kept for a backward pass, so each block's intermediates are freed.
        const vIn = v, aIn = a;
        ({ v, a } = scope(() => this.block(blk, vIn, aIn, cond, B, M, opts)));
        vIn.dispose(); // made in this function, so ours to free
        aIn.dispose();
      } else if (checkpointsBlock(opts.checkpoint, i)) {
        // Activation checkpointing: the block's activations are recomputed in the backward pass
        // (its inputs v, a are all that is kept per block); one recomputation serves both outputs.
        const vIn = v, aIn = a;
        [v, a] = A.checkpointMany((vi: Tensor, ai: Tensor, cnd: Tensor) => {
          const r = A.releaseUnsaved(() => this.block(blk, vi, ai, cnd, B, M, opts));
          return [r.v, r.a];
        }, vIn, aIn, cond) as [Tensor, Tensor];
      } else {
        // What no gradient rule reads is freed as soon as the block is done (autograd/release.ts).
        const vIn = v, aIn = a;
        ({ v, a } = A.releaseUnsaved(() => this.block(blk, vIn, aIn, cond, B, M, opts)));
      }
    }

    const video = this.unpatchify(this.finalLayer.forward(v, repeatRows(cond, M))); // [B·M, 2Cv, H, W]
    const audioTok = this.audioFinal.forward(this.finalLayer.normed(a, cond)); // [B, La, p·p·2Ca]
    const audio = A.unpatchify(audioTok, c.patch, 2 * c.audioChannels, c.audioTime / c.patch, c.audioFreq / c.patch);
    return { video: A.reshape(video, [B, M, 2 * c.videoChannels, c.videoHeight, c.videoWidth]), audio };
  }

  /** One AV-DiT block: v [B·M, Lv, D], a [B, La, D], cond [B, D] → new v, a. */
  block(blk: AVDiTBlock, v: Tensor, a: Tensor, cond: Tensor, B: number, M: number, opts: AVDiTOptions): { v: Tensor; a: Tensor } {
    const c = this.avConfig;
    const Lv = videoTokens(c), La = audioTokens(c), D = c.hidden;
    const m = blk.modulation(cond); // each [B, D]
    // The video stream [B·M, Lv, D] (frames of Lv tokens) seen as [B, M·Lv, D]: the norms, the
    // modulation and the gated adds are per row, so they run on it with m as it is (no copy of m
    // per frame), and the attention sees it as frames again.
    const rows = (t: Tensor): Tensor => A.reshape(t, [B, M * Lv, D]);
    const frames = (t: Tensor): Tensor => A.reshape(t, [B * M, Lv, D]);

    // 1. spatial attention (each frame alone)
    let vr = rows(v);
    v = frames(A.addGated(vr, m.gateMsa, rows(blk.attn.forward(frames(normModulate(vr, m.shiftMsa, m.scaleMsa))))));
    a = A.addGated(a, m.gateMsa, blk.attn.forward(normModulate(a, m.shiftMsa, m.scaleMsa), blk.audioLora));

    // 2. temporal adapter: each video token attends over the M frames. The stream stays [B, M, Lv, D]
    // (rows in frame order): the frame position is added along the second axis, and the attention
    // reads each token's frames in place.
    vr = rows(v);
    const h = A.add(A.reshape(normModulate(vr, m.shiftMsa, m.scaleMsa), [B, M, Lv, D]), this.temporalPos);
    v = frames(A.addGated(vr, m.gateMsa, rows(blk.temporal.forward(h))));

    // 3. fusion
    const fusion = opts.fusion ?? 'pooled';
    if (fusion === 'pooled') {
      // over [time-pooled video; audio]
      const v4 = A.reshape(v, [B, M, Lv, D]);
      const z = A.concat([A.mean(v4, 1), a], 1); // [B, Lv + La, D]
      const f = blk.attn.forward(normModulate(z, m.shiftMsa, m.scaleMsa), blk.fusionLora);
      const fv = A.mul(A.narrow(f, 1, 0, Lv), blk.fusionGateVideo); // [B, Lv, D], the same for every frame
      v = A.reshape(A.add(v4, A.reshape(fv, [B, 1, Lv, D])), [B * M, Lv, D]);
      a = A.add(a, A.mul(A.narrow(f, 1, Lv, La), blk.fusionGateAudio));
    } else if (fusion === 'frames') {
      // per frame, over [the frame's tokens; the audio tokens sounding during it]
      const Laf = La / M;
      const z = A.concat([v, A.reshape(a, [B * M, Laf, D])], 1); // [B·M, Lv + La/M, D]
      const mv = repeatModulation(m, M); // each [B·M, D]: rows of a frame's video and audio tokens
      const f = blk.attn.forward(normModulate(z, mv.shiftMsa, mv.scaleMsa), blk.fusionLora);
      v = A.add(v, A.mul(A.narrow(f, 1, 0, Lv), blk.fusionGateVideo));
      a = A.add(a, A.mul(A.reshape(A.narrow(f, 1, Lv, Laf), [B, La, D]), blk.fusionGateAudio));
    }

    // 4. feed-forward (audio: plus the parallel adapter). The MLP is the frozen DiT's, shared: one
    // call over the video and audio rows together (layers/rows.ts: the same numbers). (Stacking the
    // spatial attention's qkv and proj rows too would cost copies of the 3D-wide qkv, about half of
    // what it saves, and 2 GiB more at batch 16: not done.)
    const ha = normModulate(a, m.shiftMlp, m.scaleMlp);
    vr = rows(v);
    const ff = stackedRows(normModulate(vr, m.shiftMlp, m.scaleMlp), ha, (x) => blk.mlp.forward(x));
    v = frames(A.addGated(vr, m.gateMlp, ff.x));
    a = A.addGated(a, m.gateMlp, A.add(ff.y, blk.audioAdapter.forward(ha)));
    return { v, a };
  }

  override dispose(): void {
    this.#unmerge?.();
    super.dispose();
    this.temporalPos.dispose();
  }
}

/** Keys of the trainable parameters (DESIGN.md, "Trainable"). */
export const AVDIT_TRAINABLE: readonly RegExp[] = [
  /\.audio_lora\./, /\.fusion_lora\./, /\.temporal\./, /\.fusion_gate_(video|audio)$/, /\.audio_adapter\./,
  /^audio_embedder\./, /^audio_final_layer\./,
  // every bias of the frozen DiT: blocks, embedders, final layer
  /^blocks\.\d+\.(attn\.(qkv|proj)|mlp\.fc[12]|adaLN_modulation\.1)\.bias$/,
  /^(x_embedder\.proj|t_embedder\.mlp\.[02]|final_layer\.(linear|adaLN_modulation\.1))\.bias$/,
];

/** Parameter groups for `avdit info`. */
export const PARAM_GROUPS: readonly [string, RegExp][] = [
  ['temporal', /\.temporal\./],
  ['audio LoRA', /\.audio_lora\./],
  ['fusion (LoRA + gates)', /\.fusion_(lora\.|gate_)/],
  ['audio adapter', /\.audio_adapter\./],
  ['audio embed/final', /^audio_(embedder|final_layer)\./],
];
