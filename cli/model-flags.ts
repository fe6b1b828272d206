/** Flags that pick a model configuration: --preset NAME and --set key=value overrides. */
import { checkConfig, PRESETS, type AVDiTConfig } from '../model/config.ts';
import { checkFusion, FUSION_MODES, type FusionMode } from '../model/avdit.ts';
import { UsageError, type Flags } from './args.ts';

export const MODEL_FLAGS = {
  preset: { type: 'string' },
  set: { type: 'string', multiple: true },
} as const;

/** Help lines of --preset / --set; `dflt` says where the config comes from without them. */
export const modelHelp = (dflt: string): string => `  --preset P          model preset: ${Object.keys(PRESETS).join(', ')} (default: ${dflt})
  --set key=value     override a config field (repeatable), e.g. --set depth=2 --set frames=8`;

/**
 * The model config the flags ask for: --preset (else `stored`, a file's own config, else the
 * `fallback` preset) with the --set overrides on top.
 */
export function configFromFlags(flags: Flags, fallback = 'tiny', stored: AVDiTConfig | null = null): AVDiTConfig {
  const preset = (flags.preset as string | undefined) ?? fallback;
  if (!PRESETS[preset]) throw new UsageError(`unknown preset "${preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const base = flags.preset === undefined && stored ? stored : PRESETS[preset]!;
  const overrides: Record<string, number> = {};
  for (const kv of (flags.set as string[] | undefined) ?? []) {
    const m = /^(\w+)=(.+)$/.exec(kv);
    if (!m) throw new UsageError(`--set wants key=value, got "${kv}"`);
    const [, key, value] = m as unknown as [string, string, string];
    if (!(key in base)) throw new UsageError(`--set: unknown config field "${key}" (fields: ${Object.keys(base).join(', ')})`);
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--set ${key}: "${value}" is not a positive number`);
    overrides[key] = n;
  }
  try {
    const c = { ...base, ...overrides } as AVDiTConfig;
    checkConfig(c);
    return c;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export const FUSION_FLAGS = {
  fusion: { type: 'string' },
  'no-fusion': { type: 'boolean' },
} as const;

export const FUSION_HELP = `  --fusion MODE       what the fusion block attends over: pooled (the paper: the video averaged
                      over frames, with the audio), frames (per frame: its tokens with the audio
                      tokens sounding during it, so sound can follow the picture in time), none
                      (the paper's "w/o Fusion" ablation)
  --no-fusion         the same as --fusion none`;

/**
 * --fusion / --no-fusion, else what a checkpoint's training args say, else `pooled`; with a
 * config, also checked against it (a usage error before any work).
 */
export function fusionFromFlags(flags: Flags, stored: { fusion?: string; noFusion?: boolean } = {}, config?: AVDiTConfig): FusionMode {
  if (flags['no-fusion'] === true) {
    if (flags.fusion !== undefined && flags.fusion !== 'none') throw new UsageError(`--no-fusion and --fusion ${String(flags.fusion)} contradict each other`);
    return 'none';
  }
  const mode = (flags.fusion as string | undefined) ?? stored.fusion ?? (stored.noFusion ? 'none' : 'pooled');
  if (!(FUSION_MODES as readonly string[]).includes(mode)) throw new UsageError(`--fusion must be one of ${FUSION_MODES.join(', ')}, got "${mode}"`);
  if (config) {
    try {
      checkFusion(config, mode as FusionMode);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return mode as FusionMode;
}
