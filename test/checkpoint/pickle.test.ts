// The restricted unpickler on plain Python values (protocols 2 and 4, written by CPython) and hand-made edge cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../../engine/io/checkpoint-errors.ts';
import { PyDict, unpickle } from '../../model/pickle.ts';
import { ckptError, fixture } from './helpers.ts';

const refuseAll = (module: string, name: string): never => {
  throw new CheckpointError('t', undefined, `refusing to load global ${module}.${name}`);
};
const load = (b: Uint8Array) => unpickle(b, { file: 't.pkl', findGlobal: refuseAll });

/** PyDicts → plain objects, tuples → {tuple: [...]}, for deepEqual. */
function plain(v: unknown): unknown {
  if (v instanceof PyDict) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]));
  if (Array.isArray(v)) return Object.isFrozen(v) ? { tuple: v.map(plain) } : v.map(plain);
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  return v;
}

for (const proto of [2, 4]) {
  test(`CPython pickle protocol ${proto}: ints, longs, floats, str, bytes, tuples, nesting, shared objects`, () => {
    const v = load(readFileSync(fixture(`plain_p${proto}.pkl`)));
    assert.deepEqual(plain(v), {
      ints: [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2 ** 40, -(2n ** 62n)],
      big: 2n ** 70n,
      float: [1.5, -0.1, 1e300],
      flags: [true, false, null],
      str: 'héllo 世界',
      ...(proto === 4 ? { bytes: { bytes: [120, 121, 0] } } : {}),
      tuples: [{ tuple: [] }, { tuple: [1] }, { tuple: [1, 2] }, { tuple: [1, 2, 3] }, { tuple: [1, 2, 3, 4] }],
      nested: { a: { b: [1, [2, [3]]] } },
      shared: [[1, 2], [1, 2]],
    });
    const shared = (v as PyDict).get('shared') as unknown[][];
    assert.equal(shared[0], shared[1], 'memo keeps identity');
  });
}

test('malformed pickles are CheckpointErrors with the byte offset', () => {
  const b = (...xs: number[]) => new Uint8Array(xs);
  assert.throws(() => load(b(0x80, 0x02, 0x4a, 1, 2)), ckptError(/^t\.pkl: pickle: truncated/));
  assert.throws(() => load(b(0x80, 0x02, 0x30, 0x2e)), ckptError(/stack underflow \(opcode at byte 2\)/));
  assert.throws(() => load(b(0x80, 0x02, 0x68, 7, 0x2e)), ckptError(/memo entry 7 is not set/));
  assert.throws(() => load(b(0x80, 0x02, 0xff)), ckptError(/unsupported opcode 0xff/));
  assert.throws(() => load(b(0x80, 0x09)), ckptError(/unsupported pickle protocol 9/));
  assert.throws(() => load(b(0x80, 0x02, 0x4e, 0x4e, 0x2e)), ckptError(/STOP with 2 values/));
  assert.throws(() => load(b(0x80, 0x02, 0x4e, 0x29, 0x52, 0x2e)), ckptError(/cannot call None/));
  assert.throws(() => load(b(0x80, 0x02, 0x4e, 0x4b, 1, 0x51, 0x2e)), ckptError(/persistent ids are not allowed/));
  assert.throws(() => load(b(0x63, ...new TextEncoder().encode('os\nsystem\n'), 0x2e)), ckptError(/refusing to load global os\.system/));
  assert.throws(() => load(b(0x8c, 1, 0x6f, 0x8c, 1, 0x73, 0x93, 0x2e)), ckptError(/refusing to load global o\.s/));
  assert.throws(() => load(b(0x7d, 0x5d, 0x4e, 0x73, 0x2e)), ckptError(/unhashable dict key/));
});
