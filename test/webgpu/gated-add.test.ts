// The gated-residual kernels against the CPU oracle (f32): out = x + gate ⊙ y, and the backward
// dy = gate ⊙ g with dgate = Σ_t g ⊙ y per sample (or without it, for a frozen gate); vec4 (D a
// multiple of 4) and scalar layouts, one token, one sample, long rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { both, cpu, expectSame, randomData, RUNS, useGpu } from './helpers.ts';

const gpu = useGpu();

test('gatedAdd forward and backward match the CPU', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }), fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 })),
      fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(64, 1152)), fc.boolean(), fc.integer(),
      async (N, L, D, wantDgate, seed) => {
        const d = { N, L, D };
        const [cx, gx] = both(gpu(), randomData(N * L * D, seed));
        const [cgate, ggate] = both(gpu(), randomData(N * D, seed + 1));
        const [cy, gy] = both(gpu(), randomData(N * L * D, seed + 2));
        await expectSame(gpu(), gpu().gatedAdd(gx, ggate, gy, d), cpu.gatedAdd(cx, cgate, cy, d), 1e-6, 1e-6, 'out');
        const [cg, gg] = both(gpu(), randomData(N * L * D, seed + 3));
        const c = cpu.gatedAddBwd(cg, cgate, wantDgate ? cy : null, d), g = gpu().gatedAddBwd(gg, ggate, wantDgate ? gy : null, d);
        await expectSame(gpu(), g.dy, c.dy, 1e-6, 1e-6, 'dy');
        assert.equal(g.dgate === null, !wantDgate, 'dgate exactly when asked for');
        if (wantDgate) await expectSame(gpu(), g.dgate!, c.dgate!, 1e-5, 1e-5, 'dgate');
      },
    ),
    { ...RUNS, examples: [[2, 3, 1152, true, 1], [1, 1, 5, true, 2]] },
  );
});
