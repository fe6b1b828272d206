// writeSafetensors failures: CheckpointErrors naming the target (not the temp file) and the cause.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { AtomicWriteError, writeFileAtomic } from '../../engine/io/atomic-write.ts';
import { encodeSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
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

test('overwriting: a producer that throws midway leaves the old file whole (the new bytes only ever go to a temp file)', () => {
  inTempDir((dir) => {
    const p = join(dir, 'ckpt.bin');
    writeFileSync(p, 'old contents');
    function* chunks() {
      yield new Uint8Array(64).fill(0x41);
      throw new TypeError('producer failed');
    }
    assert.throws(() => writeFileAtomic(p, chunks()), /producer failed/);
    assert.equal(readFileSync(p, 'utf8'), 'old contents');
    assert.deepEqual(readdirSync(dir), ['ckpt.bin']);
  });
});

test('the data reach the disk before the rename: temp file written, fsynced and closed, renamed over the target, folder fsynced', () => {
  inTempDir((dir) => {
    const p = join(dir, 'ckpt.bin');
    const log: string[] = [];
    const name = (f: unknown) => (String(f) === p ? 'target' : String(f) === dir ? 'dir' : String(f).startsWith(join(dir, '.ckpt.bin.')) ? 'tmp' : String(f));
    const fds = new Map<number, string>();
    const orig = { openSync: fs.openSync, writeSync: fs.writeSync, fsyncSync: fs.fsyncSync, closeSync: fs.closeSync, renameSync: fs.renameSync };
    mock.method(fs, 'openSync', (f: fs.PathLike, ...r: never[]) => {
      const fd = (orig.openSync as (...a: unknown[]) => number)(f, ...r);
      fds.set(fd, name(f));
      log.push(`open ${name(f)}`);
      return fd;
    });
    mock.method(fs, 'writeSync', (fd: number, ...r: never[]) => (log.push(`write ${fds.get(fd)}`), (orig.writeSync as (...a: unknown[]) => number)(fd, ...r)));
    mock.method(fs, 'fsyncSync', (fd: number) => (log.push(`fsync ${fds.get(fd)}`), orig.fsyncSync(fd)));
    mock.method(fs, 'closeSync', (fd: number) => (log.push(`close ${fds.get(fd)}`), orig.closeSync(fd)));
    mock.method(fs, 'renameSync', (a: fs.PathLike, b: fs.PathLike) => (log.push(`rename ${name(a)} ${name(b)}`), orig.renameSync(a, b)));
    syncBuiltinESMExports();
    try {
      writeFileAtomic(p, [new Uint8Array(5), new Uint8Array(3)]);
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.deepEqual(log.filter((l, i) => l !== log[i - 1]), [ // (one 'write tmp' per run of writes)
      'open tmp', 'write tmp', 'fsync tmp', 'close tmp', 'rename tmp target', 'open dir', 'fsync dir', 'close dir',
    ]);
    assert.equal(readFileSync(p).length, 8);
  });
});
