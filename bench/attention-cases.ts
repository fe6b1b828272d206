/**
 * The attention shapes of AV-DiT-XL in a training step at batch 16 (16 frames), which the attention
 * benchmarks time (issue 4): n sequences × 16 heads of l queries and s keys, q/k head dim dqk,
 * v head dim dv.
 */
export interface AttentionCase {
  name: string;
  n: number;
  l: number;
  s: number;
  dqk: number;
  dv: number;
}

export const XL_ATTENTION: Record<'spatial' | 'audio' | 'temporal' | 'fusion', AttentionCase> = {
  /** Video spatial attention: 16 clips × 16 frames, 16×16 patches per frame. */
  spatial: { name: 'spatial', n: 256 * 16, l: 256, s: 256, dqk: 72, dv: 72 },
  /** Audio spatial attention (the shared blocks): 16 clips, 20×8 patches of the audio latent. */
  audio: { name: 'audio', n: 16 * 16, l: 160, s: 160, dqk: 72, dv: 72 },
  /** The temporal adapter: 16 clips × 256 patch positions over 16 frames, narrow q/k. */
  temporal: { name: 'temporal', n: 4096 * 16, l: 16, s: 16, dqk: 9, dv: 72 },
  /** Fusion: 16 clips over 256 frame-pooled video + 160 audio tokens. */
  fusion: { name: 'fusion', n: 16 * 16, l: 416, s: 416, dqk: 72, dv: 72 },
};
