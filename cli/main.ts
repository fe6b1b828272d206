/** The `avdit` command line: dispatches to one file per subcommand. */
import { closeBackends } from '../engine/registry.ts';
import { nearest, UsageError } from './args.ts';

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number>; help: string }>> = {
  gradcheck: () => import('./commands/gradcheck.ts'),
  demo: () => import('./commands/demo.ts'),
  info: () => import('./commands/info.ts'),
  forward: () => import('./commands/forward.ts'),
  pretrain: () => import('./commands/pretrain.ts'),
  train: () => import('./commands/train.ts'),
  sample: () => import('./commands/sample.ts'),
  eval: () => import('./commands/eval.ts'),
  device: () => import('./commands/device.ts'),
};

/** What each command does, one line (the usage lists them in COMMANDS' order). */
const SUMMARY: Record<keyof typeof COMMANDS, string> = {
  gradcheck: "every op's gradient against f64 finite differences (cpu) or the CPU backend (webgpu)",
  demo: 'the embedded default: synthetic clips → frozen DiT → AV-DiT adapters → samples and eval',
  info: 'parameter counts of a preset or checkpoint, total / trainable / frozen, per group',
  forward: 'one forward pass of a checkpoint on inputs from a safetensors file',
  pretrain: 'train the image DiT backbone on single frames',
  train: "train AV-DiT's new parts on a frozen backbone (checkpoints, --resume)",
  sample: 'generate sounding videos from a checkpoint (DDPM / DDIM, guidance)',
  eval: 'sync, colour/pitch agreement and Fréchet distances of samples against real clips',
  device: 'the WebGPU adapter, its features and limits, and which kernels run there',
};

const USAGE = `usage: avdit <command> [flags]   (avdit <command> --help for its flags)

commands:
${Object.keys(COMMANDS).map((c) => `  ${c.padEnd(10)} ${SUMMARY[c as keyof typeof COMMANDS]}`).join('\n')}`;

// Output piped into a reader that stops early (`avdit info --preset XL | head`): stop quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    const near = nearest(cmd, Object.keys(COMMANDS));
    console.error(`avdit: unknown command "${cmd}"${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`avdit ${cmd}: ${e.message}`);
      return 2;
    }
    const err = e as Error;
    console.error(`avdit ${cmd}: ${err.name}: ${err.message}`);
    if (process.env.AVDIT_DEBUG) console.error(err.stack);
    return 1;
  } finally {
    await closeBackends();
  }
}

process.exitCode = await main();
