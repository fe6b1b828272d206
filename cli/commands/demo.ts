/**
 * `avdit demo` (`npm run demo`): the whole method on a machine with no GPU, no data set and no
 * downloaded weights. Synthetic sounding clips → a frozen image DiT (shipped in assets/, made by
 * `avdit pretrain`, or pretrained here) → AV-DiT's adapters trained for a time budget → sampled
 * clips with their sound → samples/index.html, and the evaluation of them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run as pretrain } from './pretrain.ts';
import { run as train } from './train.ts';
import { run as sample } from './sample.ts';
import { run as evaluate } from './eval.ts';
import { backendFlag, INTERRUPTED, outDirFlag, parse, UsageError } from '../args.ts';
import { FUSION_FLAGS, fusionFromFlags } from '../model-flags.ts';
import { getBackend } from '../../engine/registry.ts';
import { isSoftwareAdapter } from '../../engine/webgpu/software-adapter.ts';

export const DEMO_BACKBONE = join(import.meta.dirname, '../../assets/demo-backbone.safetensors');

export const help = `avdit demo [--minutes M] [--backend cpu|webgpu|auto] [--out DIR] [--runs DIR] [--pretrain] [--fusion pooled|frames|none]

Runs the embedded default end to end (about 13 minutes on 2 CPU cores):
  1. generates the synthetic audio-visual clips (coloured shapes whose bounces, flashes and
     appearances start tones whose pitch follows the colour),
  2. loads the frozen image DiT backbone shipped in assets/ (or, with --pretrain or when it is
     missing, pretrains one here with avdit pretrain),
  3. trains AV-DiT's adapters (temporal, LoRA, fusion, audio) for --minutes (default 12;
     --fusion frames (default) lets the fusion see each frame, pooled is the paper's fusion over
     the video averaged over frames, none (or --no-fusion) the paper's "w/o Fusion" ablation),
  4. samples two clips per class and writes DIR/index.html (default samples/) with video and sound,
  5. scores them (avdit eval): audio-visual sync, colour/pitch agreement, Fréchet distances.
On a GPU the same command takes more training steps in the same time.`;

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, { minutes: { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' }, pretrain: { type: 'boolean' }, runs: { type: 'string' }, ...FUSION_FLAGS });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const minutes = Number(flags.minutes ?? 12);
  if (!(minutes > 0 && Number.isFinite(minutes))) throw new UsageError(`--minutes must be a number > 0, got "${String(flags.minutes)}"`);
  const out = (flags.out as string | undefined) ?? 'samples';
  const runs = (flags.runs as string | undefined) ?? 'runs';
  const backendArg = ['--backend', (flags.backend as string | undefined) ?? 'auto'];
  const started = performance.now();
  const say = (msg: string) => console.log(`[demo ${((performance.now() - started) / 60000).toFixed(1)} min] ${msg}`);
  await backendFlag(flags, 'auto');
  const onGpu = getBackend().name === 'webgpu' && !isSoftwareAdapter(getBackend().device);
  outDirFlag('runs', runs);
  outDirFlag('out', out);

  let backbone = DEMO_BACKBONE;
  if (flags.pretrain || !existsSync(DEMO_BACKBONE)) {
    say(existsSync(DEMO_BACKBONE) ? 'pretraining the image DiT backbone (--pretrain)' : `no ${DEMO_BACKBONE}: pretraining the image DiT backbone here`);
    const code = await pretrain(['--preset', 'demo', '--out', join(runs, 'demo-pretrain'), '--steps', onGpu ? '4000' : '600', '--batch', '32', '--data-n', '2048', '--ckpt-every', '200', '--overwrite', ...backendArg]);
    if (code !== 0 && code !== INTERRUPTED) return code;
    backbone = join(runs, 'demo-pretrain', 'backbone.safetensors');
  } else {
    say(`using the shipped backbone ${backbone}`);
  }

  say(`training AV-DiT's adapters for ${minutes} minute${minutes === 1 ? '' : 's'} (class-conditional; Ctrl-C stops early and keeps what was learnt)`);
  const trainDir = join(runs, 'demo-avdit');
  const deadline = String(Math.max(1, Math.round(minutes * 60)));
  const code = await train([
    '--backbone', backbone, '--out', trainDir, '--conditional', '--steps', '100000', '--batch', '8', '--lr', '3e-3', '--min-snr', '5',
    '--data-n', '1024', '--ckpt-every', '100', '--ema', '0.99', '--time-budget', deadline, '--overwrite', ...backendArg, '--fusion', fusionFromFlags(flags, { fusion: 'frames' }),
  ]);
  // Ctrl-C during training saved what was learnt: go on to sample it (as the message above says).
  if (code !== 0 && code !== INTERRUPTED) return code;

  // DDPM rather than DDIM: after minutes of training the deterministic sampler draws the average of
  // what the model is unsure of (faint tones everywhere, blurred motion); the stochastic one commits.
  // Guidance: gentle on the pictures (the frozen backbone already draws the class), stronger on the
  // sound, whose class signal is still weak. Both chosen by measurement (bench/RESULTS.md).
  say('sampling two clips per class (DDPM, 50 steps, guidance 1.5 on video and 3 on audio)');
  const s = await sample(['--ckpt', join(trainDir, 'checkpoint.safetensors'), '--out', out, '--per-class', '--n', '16', '--steps', '50', '--sampler', 'ddpm', '--cfg', '1.5', '--cfg-audio', '3', ...backendArg]);
  if (s !== 0) return s;
  say('evaluating the samples against held-out real clips (avdit eval)');
  const e = await evaluate(['--samples', out, '--real', '64']);
  if (e !== 0) return e;
  say(`done in ${((performance.now() - started) / 60000).toFixed(1)} minutes`);
  console.log(`open ${join(out, 'index.html')} (loss curve: ${join(trainDir, 'loss.png')})`);
  return 0;
}
