/** Model configurations and the presets of DESIGN.md (every field overridable). */

export interface AVDiTConfig {
  /** Hidden size D, depth, heads H, patch size p. */
  hidden: number;
  depth: number;
  heads: number;
  patch: number;
  /** Frames M per clip. */
  frames: number;
  /** Video latent channels × height × width (per frame). */
  videoChannels: number;
  videoHeight: number;
  videoWidth: number;
  /** Audio latent channels × time × frequency. */
  audioChannels: number;
  audioTime: number;
  audioFreq: number;
  /** LoRA rank r (D/12 by default). */
  loraRank: number;
  /** Class count (the embedding table has one more row, the null class). */
  classes: number;
  mlpRatio: number;
  /** q/k of the temporal adapter are D/temporalRatio wide. */
  temporalRatio: number;
  /** The audio FFN adapter is D·adapterRatio wide. */
  adapterRatio: number;
}

const COMMON = { mlpRatio: 4, temporalRatio: 8, adapterRatio: 0.5 };

export const PRESETS: Record<string, AVDiTConfig> = {
  XL: { hidden: 1152, depth: 28, heads: 16, patch: 2, frames: 16, videoChannels: 4, videoHeight: 32, videoWidth: 32, audioChannels: 8, audioTime: 40, audioFreq: 16, loraRank: 96, classes: 1000, ...COMMON },
  S: { hidden: 384, depth: 12, heads: 6, patch: 2, frames: 16, videoChannels: 4, videoHeight: 32, videoWidth: 32, audioChannels: 8, audioTime: 40, audioFreq: 16, loraRank: 32, classes: 1000, ...COMMON },
  tiny: { hidden: 64, depth: 4, heads: 4, patch: 2, frames: 4, videoChannels: 4, videoHeight: 8, videoWidth: 8, audioChannels: 8, audioTime: 8, audioFreq: 8, loraRank: 8, classes: 10, ...COMMON },
  /** The embedded default: RGB pixels and a 1-channel log-mel, no VAE; sized for a 2-core CPU. */
  demo: { hidden: 64, depth: 4, heads: 4, patch: 4, frames: 8, videoChannels: 3, videoHeight: 16, videoWidth: 16, audioChannels: 1, audioTime: 32, audioFreq: 16, loraRank: 8, classes: 8, ...COMMON },
};

/** A preset with overrides, checked for consistency (clear errors for impossible shapes). */
export function makeConfig(preset: string, overrides: Partial<AVDiTConfig> = {}): AVDiTConfig {
  const base = PRESETS[preset];
  if (!base) throw new Error(`unknown preset "${preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const c = { ...base, ...overrides };
  checkConfig(c);
  return c;
}

export function checkConfig(c: AVDiTConfig): void {
  const problems: string[] = [];
  if (c.hidden % c.heads !== 0) problems.push(`hidden ${c.hidden} is not divisible by heads ${c.heads}`);
  if (c.hidden % 4 !== 0) problems.push(`hidden ${c.hidden} must be divisible by 4 (2-D sincos positions)`);
  if ((c.hidden / c.temporalRatio) % c.heads !== 0) problems.push(`temporal q/k width ${c.hidden / c.temporalRatio} is not divisible by heads ${c.heads}`);
  for (const [name, v] of [['videoHeight', c.videoHeight], ['videoWidth', c.videoWidth], ['audioTime', c.audioTime], ['audioFreq', c.audioFreq]] as const) {
    if (v % c.patch !== 0) problems.push(`${name} ${v} is not divisible by patch ${c.patch}`);
  }
  if (problems.length) throw new Error(`invalid model config: ${problems.join('; ')}`);
}

/** Tokens per video frame and per audio clip. */
export const videoTokens = (c: AVDiTConfig): number => (c.videoHeight / c.patch) * (c.videoWidth / c.patch);
export const audioTokens = (c: AVDiTConfig): number => (c.audioTime / c.patch) * (c.audioFreq / c.patch);
