// `avdit train --out DIR --resume` (or `--resume DIR`) alone continues a run started with non-default options and a
// non-default model, with the losses of an uninterrupted run (the checkpoint remembers both); a
// run folder is not started over without --overwrite; flags are checked before any long work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resumeDirFlag, splitResumeDir } from '../../cli/resume-flags.ts';

const avdit = (...args: string[]) =>
  spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), ...args, '--backend', 'cpu'], { encoding: 'utf8', timeout: 120000 });
const losses = (dir: string): number[] => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);

test('train --resume takes the model config and training options from the run', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-resume-'));
  const opts = ['--batch', '2', '--lr', '2e-3', '--betas', '0.5,0.9', '--data-n', '12', '--data-seed', '3', '--ema', '0', '--seed', '5', '--set', 'depth=1', '--fusion', 'frames'];
  const whole = join(root, 'whole'), split = join(root, 'split');
  assert.equal(avdit('train', '--out', whole, '--steps', '4', ...opts).status, 0);
  assert.equal(avdit('train', '--out', split, '--steps', '2', ...opts).status, 0);
  const r = avdit('train', '--out', split, '--steps', '4', '--resume');
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /resuming .* with/, 'nothing given differs from the run');
  assert.deepEqual(losses(split), losses(whole));
  // --betas reaches AdamW: the default betas give other losses from the third step (Adam's first
  // bias-corrected step is g/|g| whatever the betas); a bad value is refused.
  const defaults = join(root, 'defaults');
  assert.equal(avdit('train', '--out', defaults, '--steps', '3', ...opts.filter((o, i, a) => o !== '--betas' && a[i - 1] !== '--betas')).status, 0);
  assert.deepEqual(losses(defaults).slice(0, 2), losses(whole).slice(0, 2));
  assert.notEqual(losses(defaults)[2], losses(whole)[2]);
  const bad = avdit('train', '--out', join(root, 'bad'), '--betas', '0.9');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--betas must be two numbers in \[0, 1\) as B1,B2 \(e\.g\. 0\.9,0\.999\), got "0\.9"/);

  // A changed option is named; a different model or another command's run is refused before any work.
  const lr = avdit('train', '--out', split, '--steps', '5', '--resume', '--lr', '1e-3');
  assert.equal(lr.status, 0, lr.stderr);
  assert.match(lr.stderr, /resuming .*split with --lr 1e-3 \(the run had 0\.002\)/);
  const model = avdit('train', '--out', split, '--resume', '--set', 'depth=2');
  assert.equal(model.status, 2);
  assert.match(model.stderr, /another model than the run's \(depth 2, the run 1\)/);
  const kind = avdit('pretrain', '--out', split, '--resume');
  assert.equal(kind.status, 2);
  assert.match(kind.stderr, /is a run of avdit train, not of avdit pretrain/);
  const none = avdit('train', '--out', join(root, 'empty'), '--resume');
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--resume: no .*checkpoint\.safetensors/);
});

test('a run folder is not started over by accident; a torn log line or an EMA change on --resume is handled', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-rerun-'));
  const run = join(root, 'run');
  const opts = ['--batch', '2', '--data-n', '8', '--set', 'depth=1'];
  assert.equal(avdit('train', '--out', run, '--steps', '2', ...opts).status, 0);
  const again = avdit('train', '--out', run, '--steps', '1', ...opts);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /--out .*run already holds a run \(step 2\): continue it with --resume, or start over with --overwrite/);
  assert.equal(losses(run).length, 2, 'the refused run left the log alone');

  // A kill while appending leaves a torn last line: resuming drops it with a notice.
  appendFileSync(join(run, 'log.jsonl'), '{"step":3,"lo');
  const torn = avdit('train', '--out', run, '--steps', '3', '--resume');
  assert.equal(torn.status, 0, torn.stderr);
  assert.match(torn.stderr, /log\.jsonl: line 3 is not a log record \(cut short\?\); dropped/);
  assert.deepEqual(losses(run).length, 3);

  const seed = avdit('train', '--out', run, '--steps', '4', '--resume', '--seed', '3');
  assert.equal(seed.status, 2);
  assert.match(seed.stderr, /^avdit train: --resume: the run used --seed 0; another seed would not continue it/m);
  assert.doesNotMatch(seed.stderr, /training AV-DiT/, 'refused before any work');
  const noEma = avdit('train', '--out', run, '--steps', '4', '--resume', '--ema', '0');
  assert.equal(noEma.status, 2);
  assert.match(noEma.stderr, /the run has an EMA \(decay 0\.999\); --ema 0 would drop it/);

  const over = avdit('train', '--out', run, '--steps', '1', '--overwrite', ...opts);
  assert.equal(over.status, 0, over.stderr);
  assert.equal(losses(run).length, 1);
});

test('train checks its flags before making data or touching --out; demo checks --minutes first', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-early-'));
  for (const bad of [['--precision', 'bogus'], ['--fusion', 'bogus'], ['--min-snr', 'abc']]) {
    const t0 = performance.now();
    const r = avdit('train', '--out', join(root, 'x'), '--data-n', '20000', '--steps', '1', ...bad);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(performance.now() - t0 < 20000, `${bad.join(' ')} refused before making 20000 clips`);
    assert.ok(!existsSync(join(root, 'x')), 'no --out folder made');
  }
  const d = avdit('demo', '--minutes', 'abc', '--runs', join(root, 'runs'), '--out', join(root, 's'));
  assert.equal(d.status, 2);
  assert.match(d.stderr, /--minutes must be a number > 0, got "abc"/);
});

test('splitResumeDir / resumeDirFlag: --resume DIR and --resume=DIR mean --out DIR --resume; a bare --resume stays a flag', () => {
  assert.deepEqual(splitResumeDir(['--resume', 'r', '--steps', '3']), { argv: ['--resume', '--steps', '3'], dir: 'r' });
  assert.deepEqual(splitResumeDir(['--steps', '3', '--resume=r']), { argv: ['--steps', '3', '--resume'], dir: 'r' });
  assert.deepEqual(splitResumeDir(['--out', 'r', '--resume']), { argv: ['--out', 'r', '--resume'], dir: undefined });
  assert.deepEqual(splitResumeDir(['--resume', '--steps', '3']), { argv: ['--resume', '--steps', '3'], dir: undefined });
  assert.deepEqual(splitResumeDir(['--', '--resume', 'r']), { argv: ['--', '--resume', 'r'], dir: undefined });
  assert.throws(() => splitResumeDir(['--resume', 'a', '--resume', 'b']), /--resume a and --resume b: two different run folders/);
  assert.throws(() => splitResumeDir(['--resume=']), /--resume= needs a folder/);
  const flags: Record<string, unknown> = {};
  resumeDirFlag(flags as never, 'r');
  assert.deepEqual(flags, { out: 'r', resume: true });
  const same: Record<string, unknown> = { out: './r/' };
  resumeDirFlag(same as never, 'r');
  assert.deepEqual(same, { out: './r/', resume: true });
  assert.throws(() => resumeDirFlag({ out: 'other' }, 'r'), /--resume r and --out other name different run folders/);
});

test('avdit train / pretrain --resume DIR continue the run in DIR, as --out DIR --resume does; the help says so', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-resume-dir-'));
  const opts = ['--batch', '2', '--data-n', '8', '--ema', '0', '--set', 'depth=1'];
  for (const cmd of ['train', 'pretrain']) {
    const run = join(root, cmd);
    assert.equal(avdit(cmd, '--out', run, '--steps', '1', ...opts).status, 0);
    const r = avdit(cmd, '--resume', run, '--steps', '2');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /resuming .* from step 1/);
    assert.equal(losses(run).length, 2);
    const help = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), cmd, '--help'], { encoding: 'utf8' });
    assert.match(help.stdout, new RegExp(`^       avdit ${cmd} --resume DIR \\[flags\\]$`, 'm'));
    assert.match(help.stdout, /^  --resume \[DIR\] +continue the run in DIR \(--resume DIR is --out DIR --resume\)/m);
  }
  const run = join(root, 'train');
  const long = avdit('train', '--out', run, '--resume', '--steps', '3');
  assert.equal(long.status, 0, long.stderr);
  assert.equal(losses(run).length, 3);
  const other = avdit('train', '--resume', run, '--out', join(root, 'other'), '--steps', '4');
  assert.equal(other.status, 2);
  assert.match(other.stderr, /^avdit train: --resume .*train and --out .*other name different run folders/);
  assert.ok(!existsSync(join(root, 'other')));
});
