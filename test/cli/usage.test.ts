// `avdit` with no command or --help: every command with what it does; an unknown command or flag
// is a usage error that suggests the nearest one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const avdit = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args], { encoding: 'utf8' });

test('avdit --help lists every command with a one-line summary; no command exits 2, an unknown one too', () => {
  const r = avdit('--help');
  assert.equal(r.status, 0, r.stderr);
  for (const cmd of ['gradcheck', 'demo', 'info', 'forward', 'pretrain', 'train', 'sample', 'eval', 'device']) {
    assert.match(r.stdout, new RegExp(`^  ${cmd} +\\S.{20,}$`, 'm'), `${cmd} and its summary`);
  }
  assert.equal(avdit().status, 2);
  const bad = avdit('trian');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command "trian" \(did you mean train\?\)/);
  assert.doesNotMatch(avdit('zzzzzzzz').stderr, /did you mean/);
});

test('a misspelt flag is a usage error that names the nearest flag', () => {
  const r = avdit('train', '--out', '/nonexistent/run', '--stpes', '10');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --stpes \(did you mean --steps\?\)/);
  const far = avdit('train', '--out', '/nonexistent/run', '--zzzzzzzz');
  assert.equal(far.status, 2);
  assert.match(far.stderr, /Unknown option '--zzzzzzzz'/);
});
