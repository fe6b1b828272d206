/** Random inputs of one AV-DiT step at batch B (video, audio, the null-class labels), for the step benchmarks. */
import type { Backend } from '../engine/backend.ts';
import { randn, tensor } from '../engine/creation.ts';
import type { Generator } from '../engine/rng.ts';
import type { AVDiTConfig } from '../model/config.ts';

export function stepInputs(c: AVDiTConfig, backend: Backend, generator: Generator, B: number) {
  return {
    video: randn([B, c.frames, c.videoChannels, c.videoHeight, c.videoWidth], { backend, generator }),
    audio: randn([B, c.audioChannels, c.audioTime, c.audioFreq], { backend, generator }),
    labels: tensor(Array<number>(B).fill(c.classes), [B], { dtype: 'i32', backend }),
  };
}
