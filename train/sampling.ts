/**
 * Generating audio-video clips with a trained AV-DiT: the joint reverse process over video and
 * audio with one model call per step (shared t), optional classifier-free guidance, in batches.
 * Each clip draws its noise from its own random stream (seed, clip index), so the same seed gives
 * the same clips whatever the batch size.
 */
import * as A from '../autograd/index.ts';
import { randn, tensor } from '../engine/creation.ts';
import type { Backend } from '../engine/backend.ts';
import { scope } from '../engine/scope.ts';
import { Generator } from '../engine/rng.ts';
import type { Tensor } from '../engine/tensor.ts';
import { guideDoubled, sampleLoopJoint, type GaussianDiffusion, type JointModel } from '../diffusion/index.ts';
import type { AVDiT, FusionMode } from '../model/avdit.ts';
import { channelsToFrames, framesToChannels } from './objectives.ts';

export interface SampleOptions {
  n: number;
  batch: number;
  seed: number;
  method: 'ddpm' | 'ddim';
  eta?: number;
  /** Class id of each sample, or null: all unconditional (the null class). */
  labels: number[] | null;
  /** Guidance scale; 1 = none. */
  cfg: number;
  /** The audio's own guidance scale (default: cfg). */
  cfgAudio?: number;
  clipDenoised: boolean;
  fusion?: FusionMode;
  onStep?: (done: number, total: number) => void;
  /** Checked after each batch: true stops there (Ctrl-C), returning the clips made so far. */
  stop?: () => boolean;
  /**
   * Fold the LoRA updates into copies of the frozen weights while sampling (AVDiT.mergeLoRA: the
   * same maths in fewer ops; default true). False runs the three-op form training uses.
   */
  mergeLoRA?: boolean;
}

/** Counters reserved per clip: its x_T and every step's noise (XL: ~7·10⁷ values over 1000 steps). */
const PER_CLIP = 2 ** 36;

/**
 * The noise of clips first … first + B − 1, each from its own stream (Generator(seed, index ·
 * PER_CLIP)): x_T per tensor of `shapes` ([B, …] each), and `step(k)`, the next step's noise for
 * tensor k. Each clip's stream is drawn in the same order (x_T video, x_T audio, then each step's
 * video and audio) whatever batch it is in.
 */
export function clipNoise(seed: number, first: number, shapes: readonly (readonly number[])[], backend: Backend): { xT: Tensor[]; step: (k: number) => Tensor } {
  const B = shapes[0]![0]!;
  if ((first + B) * PER_CLIP > Number.MAX_SAFE_INTEGER) throw new Error(`sampling: at most ${Math.floor(Number.MAX_SAFE_INTEGER / PER_CLIP)} clips per seed (clip number ${first + B} asked)`);
  const gens = Array.from({ length: B }, (_, j) => new Generator(seed, (first + j) * PER_CLIP));
  const draw = (k: number): Tensor => scope(() => A.concat(gens.map((generator) => randn([1, ...shapes[k]!.slice(1)], { backend, generator })), 0));
  return { xT: shapes.map((_, k) => draw(k)), step: draw };
}

/** Samples as [video [B, M, C, H, W], audio [B, Ca, T, F]] batches, concatenated on the host. */
export async function sampleClips(model: AVDiT, diffusion: GaussianDiffusion, o: SampleOptions): Promise<{ video: Float32Array; audio: Float32Array; n: number }> {
  const c = model.avConfig;
  const backend = model.posEmbed.backend;
  const perVideo = c.frames * c.videoChannels * c.videoHeight * c.videoWidth, perAudio = c.audioChannels * c.audioTime * c.audioFreq;
  const video = new Float32Array(o.n * perVideo), audio = new Float32Array(o.n * perAudio);
  const scales = [o.cfg, o.cfgAudio ?? o.cfg];
  const guided = scales.some((w) => w !== 1) && o.labels !== null;
  let done = 0;
  const unmerge = o.mergeLoRA === false ? () => {} : model.mergeLoRA();
  try {
    for (let start = 0; start < o.n; start += o.batch) {
      const B = Math.min(o.batch, o.n - start);
      const cond = o.labels ? o.labels.slice(start, start + B) : Array<number>(B).fill(c.classes);
      const labels = guided ? [...cond, ...Array<number>(B).fill(c.classes)] : cond;
      const shapes = [[B, c.videoChannels, c.frames, c.videoHeight, c.videoWidth], [B, c.audioChannels, c.audioTime, c.audioFreq]];
      const stochastic = o.method === 'ddpm' || (o.eta ?? 0) !== 0; // DDIM with η = 0 draws nothing after x_T
      // One synchronous scope: whatever the loop makes is freed at its end, or when it throws.
      const [xv, xa] = scope(() => {
        const y = tensor(labels, [labels.length], { dtype: 'i32', backend });
        const joint: JointModel = (xs, t) => {
          const [xv, xa] = guided ? xs.map((x) => A.concat([x, x], 0)) as [Tensor, Tensor] : (xs as [Tensor, Tensor]);
          const tt = guided ? [...t, ...t] : t;
          const out = model.forwardAV(channelsToFrames(xv), xa, tt, y, { fusion: o.fusion });
          const outs = [framesToChannels(out.video), out.audio];
          return guided ? outs.map((out, k) => guideDoubled(out, scales[k]!)) : outs; // each modality its own scale
        };
        const noise = clipNoise(o.seed, start, shapes, backend);
        return sampleLoopJoint(diffusion, joint, shapes, {
          method: o.method, eta: o.eta ?? 0, backend, clipDenoised: o.clipDenoised, noise: noise.xT,
          ...(stochastic ? { stepNoise: (_step: number, k: number) => noise.step(k) } : {}),
          onStep: ({ step, total }) => o.onStep?.(done * total + step * B, o.n * total),
        }) as [Tensor, Tensor];
      });
      const v = A.noGrad(() => channelsToFrames(xv));
      try {
        video.set(await v.toArray(), start * perVideo);
        audio.set(await xa.toArray(), start * perAudio);
      } finally {
        for (const t of [xv, xa, v]) t.dispose();
      }
      done += B;
      // A turn of the event loop (on the CPU backend nothing above waits), so a SIGINT handler can run.
      await new Promise((resolve) => setImmediate(resolve));
      if (done < o.n && o.stop?.()) break;
    }
  } finally {
    unmerge();
  }
  return { video: video.subarray(0, done * perVideo), audio: audio.subarray(0, done * perAudio), n: done };
}
