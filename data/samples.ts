/**
 * Writes a folder of audio-visual samples as DESIGN.md's "Files on disk" asks: per sample a GIF,
 * PNG frames, a WAV and a spectrogram PNG, plus one index.html that plays video and audio
 * together (and an optional loss-curve PNG).
 */
import { makeDirs } from './make-dirs.ts';
import { join } from 'node:path';
import type { AudioConfig } from './audio/config.ts';
import { logMelToAudio, type GriffinLimOptions } from './audio/griffinlim.ts';
import { logMel } from './audio/mel.ts';
import { writeWav } from './audio/wav.ts';
import { writeViewer, type ViewerClip } from './html.ts';
import { spectrogramImage, type ColormapName } from './image/colormap.ts';
import { writeGif } from './image/gif.ts';
import { plotLines, type Series } from './image/plot.ts';
import { writePng } from './image/png.ts';
import { clipToImages } from './image/rgba.ts';

export interface Sample {
  title?: string;
  caption?: string;
  /** Video [M, 3, H, W] in [-1, 1]. */
  video: Float32Array;
  /** Waveform [L]; if absent it is made from `logmel` by Griffin–Lim. */
  audio?: Float32Array;
  /** Log-mel [T, F] (natural log, as data/audio/mel.ts makes); if absent it is computed from `audio`. */
  logmel?: Float32Array;
}

export interface WriteSamplesOptions {
  frames: number;
  height: number;
  width: number;
  fps: number;
  audio: AudioConfig;
  /** Nearest-neighbour upscaling of frames (default: to at least 128 px wide). */
  scale?: number;
  colormap?: ColormapName;
  title?: string;
  note?: string;
  /** Loss values (or series) to plot as loss.png. */
  loss?: ArrayLike<number> | Series[];
  griffinLim?: GriffinLimOptions;
}

/** Write everything into `dir` (created if needed); returns the path of index.html. */
export function writeSamples(dir: string, samples: Sample[], o: WriteSamplesOptions): string {
  const { frames: M, height: H, width: W, fps, audio: ac } = o;
  // Check everything that can be checked before the first folder or file is made, so a bad
  // call leaves nothing half-written behind and names the option or sample at fault.
  const whole = (what: string, v: number) => {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`writeSamples: ${what} ${v} is not a whole number ≥ 1`);
  };
  whole('frames', M);
  whole('height', H);
  whole('width', W);
  if (!(Number.isFinite(fps) && fps > 0)) throw new RangeError(`writeSamples: fps ${fps} is not a positive number`);
  if (o.scale !== undefined) whole('scale', o.scale);
  whole('audio.sampleRate', ac.sampleRate);
  whole('audio.hop', ac.hop);
  whole('audio.nMels', ac.nMels);
  samples.forEach((s, i) => {
    if (s.video.length !== M * 3 * H * W) throw new Error(`writeSamples: sample ${i} video has ${s.video.length} values, expected ${M}×3×${H}×${W}`);
    if (!s.audio && !s.logmel) throw new Error(`writeSamples: sample ${i} has neither audio nor logmel`);
    if (s.logmel && !Number.isInteger(s.logmel.length / ac.nMels)) throw new Error(`writeSamples: sample ${i} log-mel has ${s.logmel.length} values, not a multiple of ${ac.nMels} mels`);
  });
  makeDirs(dir);
  const scale = o.scale ?? Math.max(1, Math.ceil(128 / W));
  const T = Math.ceil(Math.round((M * ac.sampleRate) / fps) / ac.hop);
  const clips: ViewerClip[] = samples.map((s, i) => {
    const name = `sample_${String(i).padStart(3, '0')}`;
    try {
      return writeOne(s, name);
    } catch (e) {
      throw new Error(`writeSamples: sample ${i} (${join(dir, name)}*): ${(e as Error).message}`, { cause: e });
    }
  });
  function writeOne(s: Sample, name: string): ViewerClip {
    const imgs = clipToImages(s.video, M, 3, H, W, scale);
    makeDirs(join(dir, name));
    const framePaths = imgs.map((img, m) => {
      const p = `${name}/frame_${String(m).padStart(3, '0')}.png`;
      writePng(join(dir, p), img);
      return p;
    });
    writeGif(join(dir, `${name}.gif`), imgs, { delayMs: Math.round(1000 / fps) });
    let mel = s.logmel;
    let frames = mel ? mel.length / ac.nMels : T;
    const wave = s.audio ?? (mel ? logMelToAudio(mel, frames, ac, o.griffinLim) : null);
    if (!wave) throw new Error('neither audio nor logmel'); // checked above; narrows the type
    if (!mel) {
      mel = logMel(wave, ac);
      frames = mel.length / ac.nMels;
    }
    writeWav(join(dir, `${name}.wav`), { sampleRate: ac.sampleRate, channels: [wave] });
    const yScale = Math.max(1, Math.round(128 / ac.nMels));
    writePng(join(dir, `${name}_spec.png`), spectrogramImage(mel, frames, ac.nMels, { colormap: o.colormap, xScale: 2, yScale, vmin: Math.log(ac.logFloor) }));
    return { title: s.title ?? name, caption: s.caption, fps, gif: `${name}.gif`, frames: framePaths, wav: `${name}.wav`, spectrogram: `${name}_spec.png` };
  }
  let lossCurve: string | undefined;
  if (o.loss) {
    writePng(join(dir, 'loss.png'), plotLines(o.loss, { logY: true }));
    lossCurve = 'loss.png';
  }
  return writeViewer(dir, clips, { title: o.title, note: o.note, lossCurve });
}
