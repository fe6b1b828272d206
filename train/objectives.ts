/**
 * The training objectives. Per modality: ADM's hybrid loss (MSE on ε + the VLB term for the
 * learned variance, mean detached); AV-DiT sums video and audio (the paper's eq. 3).
 * Video latents are [B, M, C, H, W] for the model and [B, C, M, H, W] for the diffusion maths,
 * which splits the model output along axis 1.
 */
import * as A from '../autograd/index.ts';
import { randn, tensor } from '../engine/creation.ts';
import type { Generator } from '../engine/rng.ts';
import type { Tensor } from '../engine/tensor.ts';
import { sampleTimesteps, type GaussianDiffusion } from '../diffusion/index.ts';
import type { AVDiT, AVDiTOptions } from '../model/avdit.ts';
import type { DiT } from '../model/dit.ts';
import { LABEL_DROP } from './data-source.ts';
import type { Checkpointing } from '../model/checkpointing.ts';

/** [B, M, C, H, W] ↔ [B, C, M, H, W]. */
export const framesToChannels = (x: Tensor): Tensor => A.permute(x, [0, 2, 1, 3, 4]);
export const channelsToFrames = framesToChannels;

export interface AVBatch {
  /** [B, M, Cv, H, W] in the model's value range. */
  video: Tensor;
  /** [B, Ca, T, F]. */
  audio: Tensor;
  /** i32 [B] class ids (the null class for unconditional training). */
  labels: Tensor;
}

export interface LossOut {
  loss: Tensor;
  /** Named scalar parts for the log. */
  parts: Record<string, Tensor>;
}

const batchMean = (x: Tensor): Tensor => A.mean(x);

/**
 * AV-DiT: L = L_video + L_audio, one t per clip shared by both modalities. `minSnrGamma` weights
 * each ε-MSE by min-SNR-γ (GaussianDiffusion.minSnrWeights); unset, the loss is ADM's hybrid loss.
 */
export function avditLoss(model: AVDiT, diffusion: GaussianDiffusion, batch: AVBatch, gen: Generator, opts: AVDiTOptions & { minSnrGamma?: number } = {}): LossOut {
  const B = batch.video.shape[0]!;
  const backend = batch.video.backend;
  const t = sampleTimesteps(B, diffusion.numTimesteps, gen);
  const x0v = framesToChannels(batch.video); // [B, C, M, H, W]
  const nv = randn([...x0v.shape], { generator: gen, backend });
  const na = randn([...batch.audio.shape], { generator: gen, backend });
  const xtv = diffusion.qSample(x0v, t, nv);
  const xta = diffusion.qSample(batch.audio, t, na);
  const out = model.forwardAV(channelsToFrames(xtv), xta, t, batch.labels, opts);
  const lv = diffusion.lossesFromOutput(framesToChannels(out.video), x0v, xtv, t, nv, opts);
  const la = diffusion.lossesFromOutput(out.audio, batch.audio, xta, t, na, opts);
  const video = batchMean(lv.loss), audio = batchMean(la.loss);
  return { loss: A.add(video, audio), parts: { video, audio, mse_v: batchMean(lv.mse), mse_a: batchMean(la.mse) } };
}

/**
 * DiT pretraining on single frames, class-conditional with 10% of labels dropped to the null
 * class (DiT's LabelEmbedder token_drop), so the backbone also learns the unconditional model.
 */
export function ditLoss(model: DiT, diffusion: GaussianDiffusion, images: Tensor, labels: ArrayLike<number>, gen: Generator, dropProb = LABEL_DROP, opts: { checkpoint?: Checkpointing } = {}): LossOut {
  const B = images.shape[0]!;
  const backend = images.backend;
  const t = sampleTimesteps(B, diffusion.numTimesteps, gen);
  const u = sampleTimesteps(B, 1_000_000, gen).map((v) => v / 1_000_000);
  const y = tensor(Array.from(labels, (l, i) => (u[i]! < dropProb ? model.yEmbedder.nullClass : l)), [B], { dtype: 'i32', backend });
  const noise = randn([...images.shape], { generator: gen, backend });
  const xt = diffusion.qSample(images, t, noise);
  const out = model.forward(xt, t, y, opts);
  const l = diffusion.lossesFromOutput(out, images, xt, t, noise);
  return { loss: batchMean(l.loss), parts: { mse: batchMean(l.mse), vb: batchMean(l.vb) } };
}
