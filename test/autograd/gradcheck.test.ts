// Every op's analytic gradient against central finite differences in f64 (relative error < 1e-6),
// on random shapes drawn by fast-check, plus hand-computed cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as A from '../../autograd/index.ts';
import { gradcheck } from '../../autograd/gradcheck.ts';
import { input, OP_CASES, type OpInstance } from '../../autograd/op-cases.ts';
import { scaledError, TOL_F32, TOL_F64, ZERO_FLOOR } from '../../autograd/gradcheck-suite.ts';
import { tensor } from '../../engine/creation.ts';
import { cpuBackend } from '../../engine/cpu/backend.ts';
import { philoxFill } from '../../engine/rng.ts';
import { scope } from '../../engine/scope.ts';
import * as O from '../oracle.ts';

for (const c of OP_CASES) {
  test(`gradcheck ${c.op}`, () => {
    fc.assert(
      fc.property(c.arb, (inst) => {
        const { maxRelError } = gradcheck(inst.fn, inst.inputs);
        if (!(maxRelError < TOL_F64)) throw new Error(`${c.op} ${inst.note}: relative error ${maxRelError}`);
      }),
      { numRuns: 25, seed: 3 },
    );
  });
}

test('gradcheck catches a wrong rule', () => {
  // d/dx of x·x claimed as x (missing the 2): the check must fail loudly.
  const wrong = (x: import('../../engine/tensor.ts').Tensor) =>
    A.record('bad', [x], A.noGrad(() => A.mul(x, x)), (g) => [A.mul(g, x)]);
  const { maxRelError } = gradcheck(wrong, [{ shape: [3], data: [0.5, -1, 2], grad: true }]);
  assert.ok(maxRelError > 0.1, `error ${maxRelError} should be large`);
});

test('broadcast add sums the gradient back (hand-computed)', () => {
  const a = tensor([[1], [2], [3]], undefined, { dtype: 'f64', requiresGrad: true });
  const b = tensor([[10, 20, 30, 40]], undefined, { dtype: 'f64', requiresGrad: true });
  A.backward(A.sum(A.add(a, b)));
  assert.deepEqual([...a.grad!.dataSync()], [4, 4, 4]);
  assert.deepEqual([...b.grad!.dataSync()], [3, 3, 3, 3]);
});

test('matmul gradient by hand: d(sum(AB))/dA = 1·Bᵀ', () => {
  const a = tensor([[1, 2], [3, 4]], undefined, { dtype: 'f64', requiresGrad: true });
  const b = tensor([[5, 6], [7, 8]], undefined, { dtype: 'f64', requiresGrad: true });
  A.backward(A.sum(A.matmul(a, b)));
  assert.deepEqual([...a.grad!.dataSync()], [11, 15, 11, 15]);
  assert.deepEqual([...b.grad!.dataSync()], [4, 4, 6, 6]);
});

// The suite's max / maximum / minimum cases draw distinct values (finite differences are
// meaningless at a tie), so what happens at ties is pinned down by hand here.
test('max shares the gradient equally between tied maxima (as torch.amax), over one axis and over all', () => {
  const x = tensor([[1, 3, 3], [2, 0, -1]], undefined, { dtype: 'f64', requiresGrad: true });
  A.backward(A.sum(A.mul(A.max(x, 1), tensor([2, 5], undefined, { dtype: 'f64' }))));
  assert.deepEqual([...x.grad!.dataSync()], [0, 1, 1, 5, 0, 0]);
  const y = tensor([4, -1, 4, 4], undefined, { dtype: 'f64', requiresGrad: true });
  A.backward(A.max(y));
  assert.deepEqual([...y.grad!.dataSync()], [1 / 3, 0, 1 / 3, 1 / 3]);
});

test('maximum and minimum send the whole gradient to the first input on ties', () => {
  for (const op of [A.maximum, A.minimum]) {
    const a = tensor([1, 2, -3], undefined, { dtype: 'f64', requiresGrad: true });
    const b = tensor([1, 2, -3], undefined, { dtype: 'f64', requiresGrad: true });
    A.backward(A.sum(op(a, b)));
    assert.deepEqual([...a.grad!.dataSync()], [1, 1, 1], op.name);
    assert.deepEqual([...b.grad!.dataSync()], [0, 0, 0], op.name);
  }
});

// The suite's matmul cases are all rank >= 2: vectors ([K] as [1, K] on the left, [K, 1] on the
// right, that dim squeezed from the result; transpose flags apply to matrices only) are checked here.
test('gradcheck matmul with vector operands, batched and with transpose flags on the matrix side', () => {
  const K = 3, M = 2, N = 4;
  const cases: [number[], number[], boolean, boolean][] = [
    [[K], [K, N], false, false], [[M, K], [K], false, false], [[K], [K], false, false],
    [[2, M, K], [K], false, false], [[K], [2, K, N], false, false],
    [[K, M], [K], true, true], [[K], [N, K], true, true],
  ];
  cases.forEach(([sa, sb, ta, tb], i) => {
    const inputs = [input(sa, 'any', 10 + i), input(sb, 'any', 20 + i)];
    const { maxRelError } = gradcheck((a, b) => A.matmul(a, b, ta, tb), inputs);
    assert.ok(maxRelError < TOL_F64, `[${sa}] @ [${sb}] ${ta} ${tb}: relative error ${maxRelError}`);
    // Against the same product with the vector made a matrix explicitly.
    const a = tensor(inputs[0]!.data as number[], sa, { dtype: 'f64' }), b = tensor(inputs[1]!.data as number[], sb, { dtype: 'f64' });
    const a2 = sa.length === 1 ? A.reshape(a, [1, K]) : a, b2 = sb.length === 1 ? A.reshape(b, [K, 1]) : b;
    const want = A.matmul(a2, b2, sa.length === 1 ? false : ta, sb.length === 1 ? false : tb);
    const got = A.matmul(a, b, ta, tb);
    const shape = want.shape.filter((_, d) => !((sa.length === 1 && d === want.rank - 2) || (sb.length === 1 && d === want.rank - 1)));
    assert.deepEqual(got.shape, shape, `[${sa}] @ [${sb}] shape`);
    assert.deepEqual([...got.dataSync()], [...want.dataSync()], `[${sa}] @ [${sb}] values`);
  });
});

// The suite's slice cases draw begin >= 0; negative begins (counted from the end) and size -1 here.
test('gradcheck slice with negative begin and size -1 (to the end), and narrow from the end', () => {
  const x = input([3, 4, 2], 'any', 5);
  for (const [begin, size] of [[[-2, 1, 0], [2, -1, 1]], [[0, -3, -1], [-1, 2, 1]], [[-1], [1]]] as [number[], number[]][]) {
    const { maxRelError } = gradcheck((t) => A.slice(t, begin, size), [x]);
    assert.ok(maxRelError < TOL_F64, `slice begin [${begin}] size [${size}]: relative error ${maxRelError}`);
  }
  assert.ok(gradcheck((t) => A.narrow(t, 1, -3, 2), [x]).maxRelError < TOL_F64, 'narrow from the end');
});

/** Input gradients (f64, CPU) of L = Σ fn(xs) ⊙ r with input `frozen` not requiring grad (null: a leaf with no gradient). */
function gradsWithFrozen(inst: OpInstance, frozen: number): (number[] | null)[] {
  return scope(() => {
    const xs = inst.inputs.map((inp, i) => {
      const t = tensor(Array.from(inp.data), inp.shape, { dtype: inp.dtype ?? 'f64', backend: cpuBackend });
      t.requiresGrad = inp.grad && i !== frozen;
      return t;
    });
    const out = inst.fn(...xs);
    const r = new Float64Array(out.size);
    philoxFill(r, 'normal', 1234, 0);
    A.backward(A.sum(A.mul(out, tensor(r, out.shape, { dtype: 'f64', backend: cpuBackend }))));
    return xs.map((x) => (x.grad ? [...x.grad.dataSync()] : null));
  });
}

// gradcheck sets requiresGrad on every checked input; rules that skip work for frozen inputs
// (linear, matmul, mul, div, pow, addGated, …) must still give the others the same gradients.
test('every op with several differentiable inputs: freezing one leaves the others\' gradients unchanged', () => {
  for (const c of OP_CASES) {
    for (const inst of fc.sample(c.arb, { numRuns: 6, seed: 11 })) {
      const diff = inst.inputs.flatMap((inp, i) => (inp.grad ? [i] : []));
      if (diff.length < 2) continue;
      const all = gradsWithFrozen(inst, -1);
      for (const k of diff) {
        const some = gradsWithFrozen(inst, k);
        assert.equal(some[k], null, `${c.op} ${inst.note}: frozen input ${k} got a gradient`);
        for (const i of diff) {
          if (i === k) continue;
          const [got, want] = [some[i], all[i]!];
          assert.ok(got, `${c.op} ${inst.note}: input ${i} got no gradient with input ${k} frozen`);
          O.assertClose(got, want, 1e-12, 1e-12, `${c.op} ${inst.note}: input ${i} with input ${k} frozen`);
        }
      }
    }
  }
});

test('backend-vs-CPU errors: a zero gradient is measured against the case, not against 1e-6', () => {
  const ref = { out: [1.5, -2, 0.5], dq: [0, 0, 0] };
  const floor = ZERO_FLOOR * 2; // the case's largest value is 2
  // f32 rounding residue where exact arithmetic gives 0 (the H200's one-key attention, run 9): passes.
  assert.ok(scaledError([1.3e-7, -4e-8, 0], ref.dq, floor) < TOL_F32);
  assert.ok(scaledError([1.3e-7, -4e-8, 0], ref.dq) > TOL_F32, 'without the floor it would fail');
  // A real error still fails: a gradient that should be zero but is not, and a wrong output.
  assert.ok(scaledError([1e-3, 0, 0], ref.dq, floor) > TOL_F32);
  assert.ok(scaledError([1.5, -2, 0.501], ref.out, floor) > TOL_F32);
  // An array far above the floor keeps its own scale.
  assert.equal(scaledError([10.001], [10], floor), Math.abs(10.001 - 10) / 10);
});
