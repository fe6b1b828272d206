// makeDirs: a folder and its missing parents, or a clear error; never the endless loop Node 20's
// recursive mkdirSync falls into under /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeDirs } from '../../data/make-dirs.ts';

test('makeDirs creates every missing level, accepts an existing folder, refuses a file in the way', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-dirs-'));
  const deep = join(root, 'a', 'b', 'c');
  makeDirs(deep);
  assert.ok(statSync(deep).isDirectory());
  makeDirs(deep);
  makeDirs(root);
  writeFileSync(join(root, 'f'), 'x');
  assert.throws(() => makeDirs(join(root, 'f', 'g')), /f is a file, not a folder/);
  assert.throws(() => makeDirs(join(root, 'f')), /f is a file, not a folder/);
  assert.ok(!existsSync(join(root, 'f', 'g')));
});

test('makeDirs under /proc fails at once (Node 20 recursive mkdirSync spins there)', () => {
  assert.ok(existsSync('/proc/self'), 'these tests run on Linux');
  // In a child with a time limit: a regression would hang, not fail.
  const code = `import { makeDirs } from ${JSON.stringify(join(import.meta.dirname, '../../data/make-dirs.ts'))};
try { makeDirs('/proc/avdit-no/such'); console.log('made'); } catch (e) { console.log('refused', e.code); }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.signal, null, 'finished in time');
  assert.match(r.stdout, /^refused ENOENT/, r.stderr);
});
