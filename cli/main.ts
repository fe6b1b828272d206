/** The `avdit` command line: dispatches to one file per subcommand. */
import { closeBackends } from '../engine/registry.ts';
import { UsageError } from './args.ts';

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

const USAGE = `usage: avdit <command> [flags]   (avdit <command> --help for its flags)

commands:
  ${Object.keys(COMMANDS).join('\n  ')}`;

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    console.error(`avdit: unknown command "${cmd}"\n${USAGE}`);
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
