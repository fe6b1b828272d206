/**
 * Audio feature settings. The defaults are the paper's: 16 kHz, 10 ms hop, 64 mel bands, so a
 * 1.6 s clip gives 160 frames × 64 mels. FFT/window 1024 as AudioLDM-style front ends use.
 */
export interface AudioConfig {
  /** Samples per second (Hz). */
  sampleRate: number;
  /** FFT size, a power of two. */
  nFft: number;
  /** Hann window length in samples (≤ nFft). */
  winLength: number;
  /** Hop in samples (sampleRate / 100 = 10 ms). */
  hop: number;
  /** Number of mel bands F. */
  nMels: number;
  /** Lowest and highest filter edge (Hz). */
  fMin: number;
  fMax: number;
  /** Spectrogram power before the mel filters: 1 = magnitude, 2 = power. */
  power: number;
  /** Floor applied before the natural log: logMel = ln(max(mel, floor)). */
  logFloor: number;
}

export const PAPER_AUDIO: Readonly<AudioConfig> = Object.freeze({
  sampleRate: 16000,
  nFft: 1024,
  winLength: 1024,
  hop: 160,
  nMels: 64,
  fMin: 0,
  fMax: 8000,
  power: 2,
  logFloor: 1e-5,
});

/** The paper's settings with some fields replaced (fMax follows sampleRate/2 unless given). */
export function audioConfig(over: Partial<AudioConfig> = {}): AudioConfig {
  const sr = over.sampleRate ?? PAPER_AUDIO.sampleRate;
  const cfg: AudioConfig = { ...PAPER_AUDIO, hop: Math.round(sr / 100), fMax: sr / 2, ...over };
  if (cfg.winLength > cfg.nFft) cfg.winLength = cfg.nFft;
  if (cfg.fMax > cfg.sampleRate / 2) throw new Error(`audioConfig: fMax ${cfg.fMax} Hz is above Nyquist (${cfg.sampleRate / 2} Hz)`);
  if (!(cfg.fMin >= 0 && cfg.fMin < cfg.fMax)) throw new Error(`audioConfig: need 0 ≤ fMin < fMax, got ${cfg.fMin}, ${cfg.fMax}`);
  return cfg;
}

/** STFT options of a config. */
export function stftOptions(c: AudioConfig): { nFft: number; hop: number; winLength: number } {
  return { nFft: c.nFft, hop: c.hop, winLength: c.winLength };
}
