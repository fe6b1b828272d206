/**
 * Multi-head self-attention. `Attention` is DiT's (packed qkv, D → 3D, then proj D → D) and may
 * carry LoRA updates on qkv and proj. `TemporalAttention` is AV-DiT's adapter with separate q,
 * k (D → D/8, narrow heads) and v (D → D) projections.
 *
 *   softmax(q kᵀ / √d_qk) v per head, d_qk the q/k head width.
 */
import * as A from '../../autograd/index.ts';
import type { Backend } from '../../engine/backend.ts';
import { scope } from '../../engine/scope.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { InitContext } from '../init.ts';
import { Module } from '../module.ts';
import { Linear, type LoRA } from './linear.ts';

/** [B, L, H·d] → [B, H, L, d]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, l, hd] = x.shape as [number, number, number];
  return A.permute(A.reshape(x, [b, l, heads, hd / heads]), [0, 2, 1, 3]);
}

/** [B, H, L, d] → [B, L, H·d]. */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, l, d] = x.shape as [number, number, number, number];
  return A.reshape(A.permute(x, [0, 2, 1, 3]), [b, l, h * d]);
}

/**
 * Scaled dot-product attention on [B, H, L, d] tensors (q, k of one width, v of another), through
 * the fused flash-style op (no L×L matrix in memory) or, where attentionPath says so (long
 * sequences on hardware GPUs, or AVDIT_ATTENTION), `sdpaComposed`: the same maths from matmul +
 * softmax + matmul, which stores the L×L probabilities for the backward (more memory) and is also
 * the reference the fused op is tested against.
 */
export function sdpa(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const scores = (q.size / q.shape.at(-1)!) * k.shape.at(-2)!; // (B·H·L queries × S keys)
  if (attentionPath(undefined, q.shape.at(-2)!, q.backend, scores) === 'composed') return sdpaComposed(q, k, v);
  return A.attention(q, k, v, 1 / Math.sqrt(q.shape.at(-1)!));
}

/**
 * Where the model's attention runs as matmul + softmax + matmul by default: on a hardware GPU
 * (`Backend.hardwareGpu`), for sequences of `composedFromOnGpus` queries or more; null: fused
 * everywhere. The fused kernels never store the L×L probabilities, but on the H200 the composed
 * form (on the engine's matmul kernels) ran the forward and backward faster at XL's spatial and
 * fusion lengths (bench/gpu-fused.ts, ms, fused against composed: run 10 with IEEE f32 products
 * 31.1 / 24.1 at 256 tokens and 7.24 / 4.15 at 416; run 11 with the f32 products on the tensor
 * cores 33.0 / 13.0 and 5.46 / 2.56; the tensor-core fused kernels in mixed precision 13.5 at 256,
 * slower than the composed f32 form already), and about 8× slower at the temporal adapter's 16
 * frames. The CPU backend and software adapters (lavapipe) keep the fused kernels. Nor does the
 * default compose a call whose scores (f32) would not stay under `composedMaxScoreBytes`: the
 * scores, the probabilities and their gradients are each that big, where the fused kernels hold
 * none of them, and a WebGPU binding on NVIDIA holds 2 GiB − 4 bytes (XL's spatial attention at
 * batch 16: 1 GiB, composed up to batch 31; its per-frame fusion at batch 16 1.1 GiB); nor one
 * whose scores the backend could not bind (`Backend.maxTensorBytes`, smaller on some GPUs).
 */
export const ATTENTION_DEFAULTS: { composedFromOnGpus: number | null; composedMaxScoreBytes: number } = { composedFromOnGpus: 64, composedMaxScoreBytes: 2 ** 31 };

/**
 * How an attention over sequences of `len` queries on `backend` runs, `scores` the number of
 * query-key scores of the whole call (sequences × heads × len × keys). AVDIT_ATTENTION: 'fused'
 * (the fused kernels everywhere), 'composed' (matmul + softmax + matmul everywhere), 'composed:N'
 * (composed from N queries on, fused below); unset, ATTENTION_DEFAULTS decides (composed from 64
 * queries on hardware GPUs, under 2 GiB of scores); anything else is an error naming them.
 */
export function attentionPath(
  env: string | undefined = process.env.AVDIT_ATTENTION, len = Infinity, backend?: Pick<Backend, 'hardwareGpu' | 'maxTensorBytes'>, scores = 0,
): 'fused' | 'composed' {
  if (env === undefined || env === '') {
    const { composedFromOnGpus: from, composedMaxScoreBytes } = ATTENTION_DEFAULTS;
    const fits = 4 * scores < composedMaxScoreBytes && 4 * scores <= (backend?.maxTensorBytes ?? Infinity);
    return backend?.hardwareGpu && from !== null && len >= from && fits ? 'composed' : 'fused';
  }
  if (env === 'fused') return 'fused';
  if (env === 'composed') return 'composed';
  const from = /^composed:(\d+)$/.exec(env);
  if (from) return len >= Number(from[1]) ? 'composed' : 'fused';
  throw new Error(`AVDIT_ATTENTION must be fused, composed or composed:N (composed from N queries on), got "${env}"`);
}

/**
 * The same maths as `sdpa` from matmul + softmax + matmul (stores the L×L scores); the reference
 * for tests.
 */
export function sdpaComposed(q: Tensor, k: Tensor, v: Tensor): Tensor {
  // The scale inside the softmax (which reads the scores anyway): no pass of its own, forward or
  // backward, over q or the scores.
  const scale = 1 / Math.sqrt(q.shape.at(-1)!);
  const p = A.softmax(A.matmul(q, k, false, true), scale);
  return A.matmul(p, v);
}

export interface AttentionLoRA {
  qkv: LoRA;
  proj: LoRA;
}

/**
 * DiT's multi-head self-attention: packed qkv Linear(D, 3D), H heads, softmax(q·kᵀ/√(D/H))·v,
 * proj Linear(D, D); optional LoRA on qkv and proj.
 */
export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(ctx: InitContext, readonly dim: number, readonly heads: number) {
    super();
    this.qkv = this.child('qkv', new Linear(ctx, dim, 3 * dim));
    this.proj = this.child('proj', new Linear(ctx, dim, dim));
  }

  /** x [B, L, D] → [B, L, D]; with `lora`, the frozen projections get its low-rank updates. */
  forward(x: Tensor, lora?: AttentionLoRA): Tensor {
    const qkv = lora ? lora.qkv.apply(this.qkv, x) : this.qkv.forward(x); // [B, L, 3D]
    // The fused path reads the heads where qkv holds them and writes o merged (no permutes); the
    // composed one splits them into copies and merges them back.
    const L = qkv.shape.at(-2)!;
    const o = attentionPath(undefined, L, qkv.backend, (qkv.size / qkv.shape.at(-1)!) * this.heads * L) === 'fused' ? A.attentionPacked(qkv, this.heads) : mergeHeads(sdpa(...A.unpackHeads(qkv, this.heads)));
    return lora ? lora.proj.apply(this.proj, o) : this.proj.forward(o);
  }
}

/**
 * AV-DiT's temporal adapter attention over frames: q, k: D → D/ratio (narrow heads, width
 * D/(ratio·H)), v, proj: D → D. `proj` starts at zero so the adapter starts as the identity.
 *
 * The fused path runs the three projections as one product with their weights stacked (the
 * parameters stay q, k, v): narrow products waste most of a GPU's output tile (q and k are 144
 * wide at XL, a 256-wide tile's columns for each) and their weight gradients run a split-K over
 * 144 rows; stacked, one product 2·H·dp + D wide (1536 at XL: six such tiles) and one weight
 * gradient, and the input gradient needs no sums of three. Each head's q/k rows are padded with
 * zero rows to dp, a multiple of 4 (9 → 12 at XL), so every operand of the attention is read as
 * vec4; the zero columns add nothing to the scores (scale stays 1/√dqk).
 */
export class TemporalAttention extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;
  constructor(ctx: InitContext, dim: number, readonly heads: number, ratio = 8) {
    super();
    this.q = this.child('q', new Linear(ctx, dim, dim / ratio));
    this.k = this.child('k', new Linear(ctx, dim, dim / ratio));
    this.v = this.child('v', new Linear(ctx, dim, dim));
    this.proj = this.child('proj', new Linear(ctx, dim, dim, { zeroWeight: true }));
  }
  /**
   * x [N, M, D] (N sequences of M frames) → [N, M, D]; or x [B, M, Lv, D] (the video stream in frame
   * order: B·Lv sequences, each token's M frames along the second axis) → [B, M, Lv, D].
   */
  forward(x: Tensor): Tensor {
    const M = x.shape[1]!; // (the frames: x's second axis either way)
    if (attentionPath(undefined, M, x.backend, (x.size / x.shape.at(-1)!) * this.heads * M) !== 'fused') {
      // The composed path wants the sequences in front: [B, M, Lv, D] → [B·Lv, M, D] and back.
      if (x.rank === 4) {
        const [B, M, Lv, D] = x.shape as [number, number, number, number];
        const y = this.forward(A.reshape(A.permute(x, [0, 2, 1, 3]), [B * Lv, M, D]));
        return A.permute(A.reshape(y, [B, Lv, M, D]), [0, 2, 1, 3]);
      }
      const [q, k, v] = [this.q.forward(x), this.k.forward(x), this.v.forward(x)];
      return this.proj.forward(mergeHeads(sdpa(splitHeads(q, this.heads), splitHeads(k, this.heads), splitHeads(v, this.heads))));
    }
    const H = this.heads, dqk = this.q.outFeatures / H, dp = stackedHeadWidth(dqk);
    // Stacked anew each training forward (the weights move); while cached (sampling), once.
    const [w, b] = this.#stacked && !A.isRecording() ? this.#stacked : this.stackQKV();
    const qkv = A.linear(x, w, b); // [N, M, 2·H·dp + D] (or [B, M, Lv, …]: read in place)
    return this.proj.forward(A.attentionPacked(qkv, H, { dqk: dp, scale: 1 / Math.sqrt(dqk) }));
  }

  /**
   * The q, k, v weights and biases stacked into one projection, [2·H·dp + D, D] and [2·H·dp + D]:
   * per head, dqk rows of the q/k weight (or bias) then dp − dqk zero rows.
   */
  private stackQKV(): [Tensor, Tensor] {
    const H = this.heads, dqk = this.q.outFeatures / H, dp = stackedHeadWidth(dqk);
    // Each head's dqk rows placed in a dp-row block of zeros (one padSlice; its gradient is the slice back).
    const padHeads = (t: Tensor): Tensor => {
      if (dp === dqk) return t;
      const rest = t.shape.slice(1);
      return A.reshape(A.padSlice(A.reshape(t, [H, dqk, ...rest]), [H, dp, ...rest], [0, 0, ...rest.map(() => 0)]), [H * dp, ...rest]);
    };
    const stack = (f: (l: Linear) => Tensor): Tensor => A.concat([padHeads(f(this.q)), padHeads(f(this.k)), f(this.v)], 0);
    return [stack((l) => l.weight), stack((l) => l.bias!)];
  }

  /** The stacked weight and bias kept between forwards (cacheStack), or null. */
  #stacked: [Tensor, Tensor] | null = null;

  /**
   * Keep the stacked q/k/v weight and bias for the forwards to come, while the weights stay put
   * (AVDiT.mergeLoRA does it for sampling: ten small copies a block fewer per denoising step);
   * returns the undo, which frees them. Recording forwards (training) always stack anew.
   */
  cacheStack(): () => void {
    const kept = A.noGrad(() => scope(() => this.stackQKV())).map((t) => t.keep()) as [Tensor, Tensor];
    this.#stacked = kept;
    return () => {
      kept.forEach((t) => t.dispose());
      if (this.#stacked === kept) this.#stacked = null;
    };
  }
}

/** The q/k head width of the stacked projection: dqk rounded up to a multiple of 4 (vec4 rows; XL: 9 → 12). */
const stackedHeadWidth = (dqk: number): number => Math.ceil(dqk / 4) * 4;
