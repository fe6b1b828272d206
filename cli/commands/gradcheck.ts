/** `avdit gradcheck`: the whole gradient-check suite, one row per op. */
import { runSuite, TOL_F32, TOL_F64, type SuiteRow } from '../../autograd/gradcheck-suite.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { OP_CASES } from '../../autograd/op-cases.ts';
import { backendFlag, intFlag, parse, UsageError } from '../args.ts';

export const help = `avdit gradcheck [--backend cpu|webgpu|auto] [--cases N] [--seed S] [--op NAME ...] [--json]

Checks every differentiable op. On cpu: analytic gradients against central finite differences
in f64 (pass below ${TOL_F64} relative). On webgpu: its f32 outputs and gradients against the
cpu backend's on the same random cases (pass below ${TOL_F32}). Exit code 1 if any op fails.`;

export async function run(argv: string[]): Promise<number> {
  const flags = parse(argv, {
    backend: { type: 'string' },
    cases: { type: 'string' },
    seed: { type: 'string' },
    op: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if (flags.help) {
    console.log(help);
    return 0;
  }
  const known = OP_CASES.map((c) => c.op);
  const unknown = ((flags.op as string[] | undefined) ?? []).filter((o) => !known.includes(o));
  if (unknown.length) throw new UsageError(`unknown op ${unknown.join(', ')}; ops: ${known.join(' ')}`);
  const casesPerOp = intFlag(flags, 'cases', 20), seed = intFlag(flags, 'seed', 42, 0);
  const backend = await backendFlag(flags, 'cpu');
  const json = flags.json === true;
  if (!json) {
    console.log(`gradcheck on ${backend.name} (${backend.device}): ${backend === cpuBackend ? 'f64 finite differences' : 'f32 vs cpu'}`);
    console.log(`${'op'.padEnd(15)} ${'cases'.padStart(5)}  ${'max rel err'.padStart(11)}  result`);
  }
  const started = performance.now();
  const rows: SuiteRow[] = await runSuite({
    backend,
    casesPerOp,
    seed,
    ...(flags.op ? { only: flags.op as string[] } : {}),
    onRow: (r) => {
      if (!json) console.log(`${r.op.padEnd(15)} ${String(r.cases).padStart(5)}  ${r.maxRelError.toExponential(2).padStart(11)}  ${r.pass ? 'pass' : `FAIL (worst: ${r.worst})`}`);
    },
  });
  const failed = rows.filter((r) => !r.pass);
  const seconds = (performance.now() - started) / 1000;
  if (json) console.log(JSON.stringify({ backend: backend.name, device: backend.device, seconds, rows }, null, 2));
  else console.log(`${rows.length} ops, ${failed.length} failed, ${seconds.toFixed(1)} s`);
  return failed.length ? 1 : 0;
}
