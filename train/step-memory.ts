/**
 * The peak memory of one training step, or of sampling a batch, computed beforehand on the memory-accounting backend
 * (engine/meta/memory-backend.ts: every op makes outputs of the right sizes and no data), so that a
 * batch that cannot fit is refused at once instead of growing until the system kills the process.
 * Sizes are counted exactly by default (the CPU backend's arrays); `gpuPool` counts buffers in the
 * WebGPU pool's size classes, as that pool holds them. Host-side arrays of B numbers (the timesteps)
 * are still made, so callers first rule out absurd B by the inputs' size.
 */
import * as A from '../autograd/index.ts';
import { createDiffusion } from '../diffusion/index.ts';
import { zeros } from '../engine/creation.ts';
import type { Backend, Precision } from '../engine/backend.ts';
import { createMemoryBackend, type MemoryBackend } from '../engine/meta/memory-backend.ts';
import { BATCH, QUARANTINE_FLUSH_BYTES } from '../engine/webgpu/context.ts';
import { sizeClass } from '../engine/webgpu/pool.ts';
import { Generator } from '../engine/rng.ts';
import { scopeAsync } from '../engine/scope.ts';
import { AVDiT, type AVDiTOptions, type FusionMode } from '../model/avdit.ts';
import type { AVDiTConfig } from '../model/config.ts';
import { DiT } from '../model/dit.ts';
import type { Module } from '../model/module.ts';
import { AdamW } from './adamw.ts';
import { avditLoss, ditLoss, type LossOut } from './objectives.ts';
import { sampleClips } from './sampling.ts';

/** What of the real backend decides the model's paths (model/layers/attention.ts attentionPath). */
export type DeviceTraits = Partial<Pick<Backend, 'hardwareGpu' | 'maxTensorBytes'>>;

/**
 * The memory-accounting backend standing for the real one's device: the model then takes the
 * paths it takes there (on a hardware GPU the composed attention, which stores the L×L probabilities).
 */
const asDevice = (b: MemoryBackend, d: DeviceTraits = {}): MemoryBackend => Object.assign(b, { hardwareGpu: d.hardwareGpu ?? false, maxTensorBytes: d.maxTensorBytes });

/** Bytes of one batch's inputs (f32 video and audio of an AV-DiT step; frames only for `dit`). */
export function batchInputBytes(kind: 'avdit' | 'dit', c: AVDiTConfig, B: number): number {
  const frame = c.videoChannels * c.videoHeight * c.videoWidth;
  return 4 * B * (kind === 'dit' ? frame : c.frames * frame + c.audioChannels * c.audioTime * c.audioFreq);
}

/** Peak bytes in use during one training step (loss, backward, AdamW) of `kind` at batch B, after a first step made the optimizer state. */
export async function trainStepPeakBytes(
  kind: 'avdit' | 'dit', c: AVDiTConfig, B: number, opts: AVDiTOptions & { minSnrGamma?: number; precision?: Precision; device?: DeviceTraits } = {}, gpuPool = false,
): Promise<number> {
  const backend = asDevice(gpuPool ? createMemoryBackend() : createMemoryBackend((bytes) => bytes), opts.device); // (the default: the pool's size classes)
  backend.setPrecision(opts.precision ?? 'f32'); // (which copies of the weights the WebGPU backend keeps)
  const gen = new Generator(0);
  const dit = kind === 'dit' ? new DiT({ backend, gen }, c) : null;
  const avdit = dit ? null : new AVDiT({ backend, gen }, c);
  const model: Module = dit ?? avdit!;
  const params = model.parameters({ trainable: true });
  const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0 });
  const diffusion = createDiffusion('');
  const loss = (): LossOut => {
    if (dit) return ditLoss(dit, diffusion, zeros([B, c.videoChannels, c.videoHeight, c.videoWidth], { backend }), new Array<number>(B).fill(c.classes), gen, undefined, { checkpoint: opts.checkpoint });
    const batch = {
      video: zeros([B, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend }),
      audio: zeros([B, c.audioChannels, c.audioTime, c.audioFreq], { backend }),
      labels: zeros([B], { dtype: 'i32', backend }),
    };
    return avditLoss(avdit!, diffusion, batch, gen, opts);
  };
  const step = () =>
    scopeAsync(async () => {
      const l = loss().loss;
      A.backward(l);
      opt.step();
      A.zeroGrad(params);
      await l.item();
    });
  await step();
  backend.resetPeak();
  await step();
  return backend.memory().peakBytes;
}

/** The WebGPU context's quarantine as the memory-accounting backend models it (freed buffers wait for a submit). */
const GPU_QUARANTINE = { batch: BATCH, flushBytes: QUARANTINE_FLUSH_BYTES };

/**
 * Peak bytes in use while sampling at batch B (2B rows through the model when guided): the model,
 * the LoRA copies that sampling merges, x_t and one denoising step's intermediates, found by
 * running sampleClips itself, one DDPM step, on the memory-accounting backend.
 */
export async function samplePeakBytes(
  c: AVDiTConfig, B: number, o: { guided: boolean; fusion?: FusionMode; precision?: Precision; device?: DeviceTraits }, gpuPool: boolean | 'quarantine' = false,
): Promise<number> {
  const backend = asDevice(gpuPool === 'quarantine' ? createMemoryBackend(sizeClass, GPU_QUARANTINE) : gpuPool ? createMemoryBackend() : createMemoryBackend((bytes) => bytes), o.device);
  backend.setPrecision(o.precision ?? 'f32');
  const model = new AVDiT({ backend, gen: new Generator(0) }, c);
  const labels = o.guided ? new Array<number>(B).fill(0) : null;
  await sampleClips(model, createDiffusion('1'), { n: B, batch: B, seed: 0, method: 'ddpm', labels, cfg: o.guided ? 2 : 1, clipDenoised: false, fusion: o.fusion });
  return backend.memory().peakBytes;
}
