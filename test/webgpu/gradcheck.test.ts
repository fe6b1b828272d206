// `avdit gradcheck --backend webgpu` in CI, with fewer cases per op (the command's default is 20):
// every op's f32 output and gradients on WebGPU (lavapipe here; buffers poisoned) against the CPU
// backend's on the same random cases. It also guards the CPU side, the oracle: a CPU path that
// loses precision fails it (seen when narrow-head attention first took heads with one key, session
// 9). An array that is zero in exact arithmetic is measured against the case's largest value
// (gradcheck-suite.ts ZERO_FLOOR): f32 kernels leave rounding residue there, as the H200 does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OP_CASES } from '../../autograd/op-cases.ts';
import { runSuite } from '../../autograd/gradcheck-suite.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();

test('every op: WebGPU outputs and gradients match the CPU backend (6 cases an op, the CLI\'s seed and some other)', async () => {
  for (const seed of [42, 7]) {
    const rows = await runSuite({ backend: gpu(), casesPerOp: 6, seed });
    assert.equal(rows.length, OP_CASES.length, 'every op ran');
    const failed = rows.filter((r) => !r.pass);
    assert.deepEqual(failed.map((r) => `${r.op}: ${r.maxRelError.toExponential(2)} (${r.worst})`), [], `seed ${seed}`);
  }
});
