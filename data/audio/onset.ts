/**
 * Onset detection by spectral flux with peak picking (Bello et al. 2005; peak picking as in
 * Böck, Krebs & Schedl 2012):
 *   flux[t] = Σ_m max(0, L[t, m] − L[t−1, m])   on a log-mel L [T, F] (flux[0] = 0: no onset at t = 0)
 * t is an onset if flux[t] is the maximum of flux[t−preMax .. t+postMax], exceeds the mean of
 * flux[t−preAvg .. t+postAvg] plus delta·max(flux), and lies ≥ wait frames after the last onset.
 */

export interface OnsetOptions {
  preMax?: number;
  postMax?: number;
  preAvg?: number;
  postAvg?: number;
  /** Threshold above the local mean, as a fraction of the largest flux (default 0.1). */
  delta?: number;
  /** Minimum frames between two onsets (default 3). */
  wait?: number;
}

/** Half-wave rectified spectral flux [T] of a log-mel [T, F]. */
export function spectralFlux(logmel: Float32Array, frames: number, nMels: number): Float32Array {
  if (logmel.length !== frames * nMels) throw new Error(`spectralFlux: ${logmel.length} values is not ${frames}×${nMels}`);
  const flux = new Float32Array(frames);
  for (let t = 1; t < frames; t++) {
    let s = 0;
    for (let m = 0; m < nMels; m++) s += Math.max(0, logmel[t * nMels + m]! - logmel[(t - 1) * nMels + m]!);
    flux[t] = s;
  }
  return flux;
}

/** Indices of picked peaks in a novelty curve. */
export function pickPeaks(flux: Float32Array, o: OnsetOptions = {}): number[] {
  const preMax = o.preMax ?? 2;
  const postMax = o.postMax ?? 2;
  const preAvg = o.preAvg ?? 5;
  const postAvg = o.postAvg ?? 5;
  const wait = o.wait ?? 3;
  let top = 0;
  for (const v of flux) top = Math.max(top, v);
  if (top <= 0) return [];
  const delta = (o.delta ?? 0.1) * top;
  const T = flux.length;
  const out: number[] = [];
  for (let t = 0; t < T; t++) {
    const v = flux[t]!;
    let isMax = true;
    for (let u = Math.max(0, t - preMax); u <= Math.min(T - 1, t + postMax); u++) {
      if (flux[u]! > v || (flux[u] === v && u < t)) isMax = false;
    }
    if (!isMax) continue;
    let sum = 0;
    let cnt = 0;
    for (let u = Math.max(0, t - preAvg); u <= Math.min(T - 1, t + postAvg); u++) {
      sum += flux[u]!;
      cnt++;
    }
    if (v < sum / cnt + delta) continue;
    if (out.length > 0 && t - out[out.length - 1]! < wait) continue;
    out.push(t);
  }
  return out;
}

/** Onset frames of a log-mel [T, F] (frame t is centred on t·hop samples). */
export function detectOnsets(logmel: Float32Array, frames: number, nMels: number, o: OnsetOptions = {}): { frames: number[]; flux: Float32Array } {
  const flux = spectralFlux(logmel, frames, nMels);
  return { frames: pickPeaks(flux, o), flux };
}

/** Onset times of a log-mel [T, F] in video-frame units: t · hop · fps / sampleRate. */
export function onsetsInVideoFrames(logmel: Float32Array, frames: number, c: { nMels: number; hop: number; sampleRate: number }, fps: number, o: OnsetOptions = {}): number[] {
  return detectOnsets(logmel, frames, c.nMels, o).frames.map((t) => (t * c.hop * fps) / c.sampleRate);
}

export interface SyncScore {
  /** Onsets matched to an event within `tol` frames (each event used once, greedily by distance). */
  hits: number;
  precision: number;
  recall: number;
  f1: number;
  /** Mean signed offset onset − event of the matches (video frames), 0 if none. */
  meanOffset: number;
}

/**
 * Audio-visual synchrony: how well audio onsets (video-frame units) match visual event frames.
 * With no onsets and no events every score is 1.
 */
export function syncScore(onsets: readonly number[], events: readonly number[], tol = 1): SyncScore {
  const pairs: [number, number, number][] = [];
  onsets.forEach((o, i) => events.forEach((e, j) => Math.abs(o - e) <= tol && pairs.push([Math.abs(o - e), i, j])));
  pairs.sort((a, b) => a[0] - b[0]);
  const usedO = new Set<number>();
  const usedE = new Set<number>();
  let off = 0;
  for (const [, i, j] of pairs) {
    if (usedO.has(i) || usedE.has(j)) continue;
    usedO.add(i);
    usedE.add(j);
    off += onsets[i]! - events[j]!;
  }
  const hits = usedO.size;
  const precision = onsets.length ? hits / onsets.length : events.length ? 0 : 1;
  const recall = events.length ? hits / events.length : onsets.length ? 0 : 1;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { hits, precision, recall, f1, meanOffset: hits ? off / hits : 0 };
}
