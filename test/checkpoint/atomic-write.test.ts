// Atomic writes: the temp file is gone afterwards, and a failed write leaves the target as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import { ckptError, inTempDir } from './helpers.ts';

const one = (v: number) => ({ x: { dtype: 'f32' as const, shape: [1], data: new Float32Array([v]) } });

test('write then overwrite: only the target remains, with the new contents', () => {
  inTempDir((dir) => {
    const p = join(dir, 'ckpt.safetensors');
    writeSafetensors(p, one(1));
    writeSafetensors(p, one(2));
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);
    assert.deepEqual(Array.from(readSafetensors(p).tensors.get('x')!.data), [2]);
  });
});

test('a write that throws leaves the target untouched and no temp file', () => {
  inTempDir((dir) => {
    const p = join(dir, 'ckpt.safetensors');
    writeFileSync(p, 'old contents');
    assert.throws(() => writeSafetensors(p, { x: { dtype: 'f32', shape: [3], data: new Float32Array(2) } }), ckptError(/ckpt\.safetensors: tensor "x"/));
    assert.equal(readFileSync(p, 'utf8'), 'old contents');
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);
    // The rename itself fails (the target is a non-empty folder): the temp file is removed.
    const folder = join(dir, 'taken');
    mkdirSync(folder);
    writeFileSync(join(folder, 'keep'), 'k');
    assert.throws(() => writeSafetensors(folder, one(1)), /EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    assert.deepEqual(readdirSync(dir).sort(), ['ckpt.safetensors', 'taken']);
    assert.deepEqual(readdirSync(folder), ['keep']);
  });
});
