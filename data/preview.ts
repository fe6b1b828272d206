/**
 * Preview of the synthetic set: writes N clips (GIF, PNG frames, WAV, spectrogram, index.html)
 * into a folder. `node --import tsx data/preview.ts OUT_DIR [N] [seed]`
 */
import { pathToFileURL } from 'node:url';
import { writeSamples } from './samples.ts';
import { clipAudio, clipMel, clipVideo, syntheticDataset, type SyntheticOptions } from './synthetic.ts';

export function previewSynthetic(dir: string, opts: Partial<SyntheticOptions> = {}): string {
  const ds = syntheticDataset(opts);
  const [N, M, , H, W] = ds.videoShape;
  const samples = Array.from({ length: N }, (_, i) => ({
    title: `clip ${i}: ${ds.clips[i]!.className} (label ${ds.labels[i]})`,
    caption: ds.clips[i]!.objects.map((o) => `${o.motion} at frames ${o.events.join(', ')}`).join('; '),
    video: clipVideo(ds, i),
    audio: clipAudio(ds, i),
    logmel: clipMel(ds, i),
  }));
  return writeSamples(dir, samples, { frames: M, height: H, width: W, fps: ds.fps, audio: ds.audioConfig, title: 'avdit synthetic audio-visual set', note: 'Each sound starts exactly at the frame of a visual event (bounce, flash or appearance). Press play.' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, n, seed] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node --import tsx data/preview.ts OUT_DIR [N] [seed]');
    process.exit(2);
  }
  console.log(previewSynthetic(dir, { n: Number(n ?? 8), seed: Number(seed ?? 0) }));
}
