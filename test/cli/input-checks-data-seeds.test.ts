// Integer flags (cli/args.ts intFlag) take safe integers only: beyond 2^53 neighbouring values are
// the same double, and --seed 1e300 or 2^64 ran exactly as --seed 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intFlag, UsageError } from '../../cli/args.ts';

const ROOT = join(import.meta.dirname, '../..');

test('intFlag: safe integers >= min; larger values, blanks and fractions are usage errors naming the flag', () => {
  const get = (v: string | undefined, min = 0) => intFlag(v === undefined ? {} : { seed: v }, 'seed', 7, min);
  assert.equal(get(undefined), 7);
  assert.equal(get('0'), 0);
  assert.equal(get('9007199254740991'), Number.MAX_SAFE_INTEGER);
  assert.equal(get('1e3'), 1000);
  const bad = (v: string, re: RegExp, min = 0) => assert.throws(() => get(v, min), (e: Error) => e instanceof UsageError && re.test(e.message), `${v}: ${re}`);
  for (const v of ['1e300', '18446744073709551616', '9007199254740992']) bad(v, new RegExp(`^--seed must be at most 9007199254740991 \\(2\\^53 - 1\\), got "${v}"$`));
  bad('', /^--seed must be an integer >= 0, got ""$/);
  bad(' ', /--seed must be an integer >= 0/);
  bad('1.5', /--seed must be an integer >= 0, got "1\.5"/);
  bad('0', /--seed must be an integer >= 1, got "0"/, 1);
  bad('-1e300', /--seed must be an integer >= 0/);
});

test('avdit pretrain: --seed / --data-seed / --data-n past 2^53 exit 2 before any work', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-seeds-'));
  for (const [flag, v] of [['--seed', '1e300'], ['--seed', '18446744073709551616'], ['--data-seed', '1e300'], ['--data-n', '1e16']]) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), 'pretrain', '--backend', 'cpu', '--out', join(root, 'run'), flag!, v!], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `avdit pretrain: ${flag} must be at most 9007199254740991 (2^53 - 1), got "${v}"\n`);
  }
  rmSync(root, { recursive: true, force: true });
});

test('--data-seed stays below 2^32 - 2000 (the synthetic clips are seeded with 32 bits: 2^32 gave seed 0\'s data)', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), 'train', '--out', join(tmpdir(), 'avdit-dseed'), '--data-seed', '4294967296', '--backend', 'cpu'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--data-seed must be below 4294965296 \(the synthetic clips are seeded with 32 bits\), got 4294967296/);
});
