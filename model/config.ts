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

/**
 * Sanity bounds of the integer fields: far above any real model (XL: hidden 1152, depth 28,
 * frames 16, 1000 classes), low enough that sizes stay exact and allocations fail with a clear error.
 */
export const CONFIG_LIMITS: Readonly<Record<Exclude<keyof AVDiTConfig, RatioField>, number>> = {
  hidden: 65536, depth: 1024, heads: 1024, patch: 256, frames: 4096,
  videoChannels: 4096, videoHeight: 16384, videoWidth: 16384,
  audioChannels: 4096, audioTime: 65536, audioFreq: 16384,
  loraRank: 65536, classes: 1_000_000,
};
type RatioField = 'mlpRatio' | 'temporalRatio' | 'adapterRatio';
const RATIO_FIELDS: readonly RatioField[] = ['mlpRatio', 'temporalRatio', 'adapterRatio'];

/** Throws one error listing every problem: missing or non-numeric fields, bounds, and shapes that cannot be built. */
export function checkConfig(c: AVDiTConfig): void {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new Error(`invalid model config: not an object (${JSON.stringify(c)})`);
  const problems: string[] = [];
  const fields = [...Object.keys(CONFIG_LIMITS), ...RATIO_FIELDS] as (keyof AVDiTConfig)[];
  const missing = fields.filter((k) => typeof (c as Partial<AVDiTConfig>)[k] !== 'number');
  if (missing.length) throw new Error(`invalid model config: missing or non-numeric field${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  const bad = new Set<keyof AVDiTConfig>();
  for (const [k, max] of Object.entries(CONFIG_LIMITS) as [keyof AVDiTConfig, number][]) {
    if (Number.isInteger(c[k]) && c[k] >= 1 && c[k] <= max) continue;
    problems.push(`${k} must be an integer in 1..${max}, got ${c[k]}`);
    bad.add(k);
  }
  for (const k of RATIO_FIELDS) {
    if (Number.isFinite(c[k]) && c[k] > 0) continue;
    problems.push(`${k} must be a positive number, got ${c[k]}`);
    bad.add(k);
  }
  // The shape checks below run only on fields that passed the ones above (no noise from a bad value).
  const ok = (...ks: (keyof AVDiTConfig)[]) => ks.every((k) => !bad.has(k));
  // The widths the ratios make (model/dit.ts, layers/attention.ts, avdit.ts's Math.round for the adapter).
  const mlp = c.hidden * c.mlpRatio, temporal = c.hidden / c.temporalRatio, adapter = Math.round(c.hidden * c.adapterRatio);
  if (ok('hidden', 'mlpRatio') && !(Number.isInteger(mlp) && mlp >= 1)) problems.push(`MLP width hidden·mlpRatio = ${mlp} must be a whole number ≥ 1`);
  if (ok('hidden', 'temporalRatio', 'heads')) {
    if (!(Number.isInteger(temporal) && temporal >= 1)) problems.push(`temporal q/k width hidden/temporalRatio = ${temporal} must be a whole number ≥ 1`);
    else if (temporal % c.heads !== 0) problems.push(`temporal q/k width ${temporal} is not divisible by heads ${c.heads}`);
  }
  if (ok('hidden', 'adapterRatio') && adapter < 1) problems.push(`audio adapter width hidden·adapterRatio = ${c.hidden * c.adapterRatio} rounds to ${adapter}, need ≥ 1`);
  if (ok('hidden', 'heads') && c.hidden % c.heads !== 0) problems.push(`hidden ${c.hidden} is not divisible by heads ${c.heads}`);
  if (ok('hidden') && c.hidden % 4 !== 0) problems.push(`hidden ${c.hidden} must be divisible by 4 (2-D sincos positions)`);
  if (ok('hidden', 'loraRank') && c.loraRank > c.hidden) problems.push(`loraRank ${c.loraRank} must be at most hidden ${c.hidden}`);
  for (const k of ['videoHeight', 'videoWidth', 'audioTime', 'audioFreq'] as const) {
    if (ok(k, 'patch') && c[k] % c.patch !== 0) problems.push(`${k} ${c[k]} is not divisible by patch ${c.patch}`);
  }
  if (problems.length) throw new Error(`invalid model config: ${problems.join('; ')}`);
}

/** Tokens per video frame and per audio clip. */
export const videoTokens = (c: AVDiTConfig): number => (c.videoHeight / c.patch) * (c.videoWidth / c.patch);
export const audioTokens = (c: AVDiTConfig): number => (c.audioTime / c.patch) * (c.audioFreq / c.patch);
