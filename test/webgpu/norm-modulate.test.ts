// LayerNorm + adaLN modulate kernels against the CPU oracle (f32): forward, dx, and the
// per-sample column sums dshift / dscale, incl. one token, one sample, long rows.
import { test } from 'node:test';
import fc from 'fast-check';
import { both, cpu, expectSame, normConditioning, perRowAtol, randomData, RUNS, useGpu } from './helpers.ts';

const gpu = useGpu();

test('normModulate forward and backward match the CPU', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }), fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 })),
      fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 250, max: 600 }), fc.constantFrom(4096, 4100, 4501)), fc.integer(),
      async (N, L, D, seed) => {
        const d = { N, L, D };
        const [cx, gx] = both(gpu(), randomData(N * L * D, seed, -3, 5));
        const [csh, gsh] = both(gpu(), randomData(N * D, seed + 1));
        const [csc, gsc] = both(gpu(), randomData(N * D, seed + 2, -1, 1));
        const c = cpu.normModulate(cx, csh, csc, d, 1e-6), g = gpu().normModulate(gx, gsh, gsc, d, 1e-6);
        // Rows whose values nearly agree are ill-conditioned in f32 (helpers.normConditioning).
        const rs = cpu.readSync!(c.rstd), kappa = normConditioning(cpu.readSync!(cx), rs, D);
        await expectSame(gpu(), g.y, c.y, 1e-4, perRowAtol(kappa, D, 1e-5, 16), 'y');
        await expectSame(gpu(), g.mean, c.mean, 1e-5, 1e-6, 'mean');
        await expectSame(gpu(), g.rstd, c.rstd, 1e-4, kappa.map((k, r) => 1e-5 + 8 * k * rs[r]!), 'rstd');
        const [cdy, gdy] = both(gpu(), randomData(N * L * D, seed + 3));
        const cb = cpu.normModulateBwd(cdy, cx, c.mean, c.rstd, csc, d);
        const gb = gpu().normModulateBwd(gdy, gx, g.mean, g.rstd, gsc, d);
        await expectSame(gpu(), gb.dx, cb.dx, 1e-3, perRowAtol(kappa.map((k, r) => k * rs[r]!), D, 1e-4, 64), 'dx');
        await expectSame(gpu(), gb.dshift, cb.dshift, 1e-4, 1e-4, 'dshift');
        const sampleKappa = Float64Array.from({ length: N }, (_, b) => kappa.slice(b * L, (b + 1) * L).reduce((s, k) => s + k, 0));
        await expectSame(gpu(), gb.dscale, cb.dscale, 1e-4, perRowAtol(sampleKappa, D, 1e-4, 16), 'dscale');
      },
    ),
    // Rows kept in registers (4096, as vec4) and read again in each pass (4100 as vec4, 4501 scalar): kernels/row.ts.
    { ...RUNS, examples: [[1, 2, 4096, 1], [1, 1, 4100, 3], [2, 1, 4501, 2]] },
  );
});
