// `avdit` with no command or --help: every command with what it does; an unknown command or flag
// is a usage error that suggests the nearest one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

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
  const r = avdit('train', '--out', join(tmpdir(), 'avdit-usage-run'), '--stpes', '10');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --stpes \(did you mean --steps\?\)/);
  const far = avdit('train', '--out', join(tmpdir(), 'avdit-usage-run'), '--zzzzzzzz');
  assert.equal(far.status, 2);
  assert.match(far.stderr, /Unknown option '--zzzzzzzz'/);
});

test('a negative value, a bad AVDIT_BACKEND / AVDIT_PRECISION or mixed precision on the CPU are one-line usage errors', () => {
  const neg = avdit('train', '--out', join(tmpdir(), 'avdit-usage-neg'), '--steps', '-1');
  assert.equal(neg.status, 2);
  assert.match(neg.stderr, /^avdit train: --steps -1: a value starting with "-" must be written --steps=-1\n$/);
  const env = (vars: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...vars } });
  const backend = env({ AVDIT_BACKEND: 'bogus' }, 'gradcheck', '--op', 'add', '--cases', '1');
  assert.equal(backend.status, 2);
  assert.match(backend.stderr, /AVDIT_BACKEND must be cpu, webgpu or auto, got "bogus"/);
  const precision = env({ AVDIT_PRECISION: 'bogus' }, 'gradcheck', '--op', 'add', '--cases', '1', '--backend', 'cpu');
  assert.equal(precision.status, 2);
  assert.match(precision.stderr, /AVDIT_PRECISION must be f32 or mixed, got "bogus"/);
  const mixed = env({ AVDIT_PRECISION: 'mixed' }, 'gradcheck', '--op', 'add', '--cases', '1', '--backend', 'cpu');
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /AVDIT_PRECISION=mixed: precision mixed: the cpu backend computes in f32\/f64 only/);
});
