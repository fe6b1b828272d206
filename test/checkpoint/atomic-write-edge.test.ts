// writeSafetensors failures: CheckpointErrors naming the target (not the temp file) and the cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AtomicWriteError, writeFileAtomic } from '../../model/atomic-write.ts';
import { encodeSafetensors, writeSafetensors } from '../../model/safetensors.ts';
import { ckptError, inTempDir } from './helpers.ts';

const one = { x: { dtype: 'f32' as const, shape: [1], data: new Float32Array([1]) } };
const noTemp = (e: unknown) => {
  assert.doesNotMatch((e as Error).message, /\.tmp/);
  return true;
};

test('missing folder, folder target and empty path are CheckpointErrors naming the target', () => {
  inTempDir((dir) => {
    const missing = join(dir, 'nope', 'x.safetensors');
    assert.throws(() => writeSafetensors(missing, one), ckptError(new RegExp(`^${missing}: cannot write: folder ".*nope" does not exist \\(ENOENT\\)`)));
    assert.throws(() => writeSafetensors(missing, one), noTemp);
    const folder = join(dir, 'isdir.safetensors');
    mkdirSync(folder);
    assert.throws(() => writeSafetensors(folder, one), ckptError(new RegExp(`^${folder}: cannot write: it is a folder`), /EISDIR/));
    assert.throws(() => writeSafetensors(folder, one), noTemp);
    const file = join(dir, 'plain');
    writeFileSync(file, 'f');
    assert.throws(() => writeSafetensors(join(file, 'x.safetensors'), one), ckptError(/plain" is not a folder/));
    assert.throws(() => writeSafetensors('', one), ckptError(/the output path is empty/));
    // No temp file is left behind by any of these.
    assert.deepEqual(readdirSync(dir).sort(), ['isdir.safetensors', 'plain']);
    assert.deepEqual(readdirSync(folder), []);
  });
});

test('writeFileAtomic removes its temp file when the chunk producer throws, and keeps that error', () => {
  inTempDir((dir) => {
    const p = join(dir, 'a.bin');
    function* chunks() {
      yield new Uint8Array(10);
      throw new TypeError('producer failed');
    }
    assert.throws(() => writeFileAtomic(p, chunks()), /TypeError: producer failed/);
    assert.deepEqual(readdirSync(dir), []);
    assert.throws(() => writeFileAtomic('', []), (e: unknown) => e instanceof AtomicWriteError && /the path is empty/.test((e as Error).message));
    writeFileAtomic(p, [new Uint8Array(3)]);
    assert.deepEqual(readdirSync(dir), ['a.bin']);
  });
});

test('the writer refuses a header over the 100000000-byte limit its reader enforces', () => {
  inTempDir((dir) => {
    const p = join(dir, 'long.safetensors');
    const big = { big: 'x'.repeat(100_000_000) };
    assert.throws(() => writeSafetensors(p, one, big), ckptError(/long\.safetensors: header .* would be 1000000\d\d bytes, over the 100000000-byte limit/));
    assert.equal(existsSync(p), false);
    assert.throws(() => encodeSafetensors(one, big), ckptError(/100000000-byte limit/));
  });
});
