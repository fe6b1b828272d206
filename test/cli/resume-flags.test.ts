// `avdit train --out DIR --resume` alone continues a run started with non-default options and a
// non-default model, with the losses of an uninterrupted run (the checkpoint remembers both).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const avdit = (...args: string[]) =>
  spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/avdit.mjs'), ...args, '--backend', 'cpu'], { encoding: 'utf8', timeout: 120000 });
const losses = (dir: string): number[] => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);

test('train --resume takes the model config and training options from the run', () => {
  const root = mkdtempSync(join(tmpdir(), 'avdit-resume-'));
  const opts = ['--batch', '2', '--lr', '2e-3', '--data-n', '12', '--data-seed', '3', '--ema', '0', '--seed', '5', '--set', 'depth=1', '--fusion', 'frames'];
  const whole = join(root, 'whole'), split = join(root, 'split');
  assert.equal(avdit('train', '--out', whole, '--steps', '4', ...opts).status, 0);
  assert.equal(avdit('train', '--out', split, '--steps', '2', ...opts).status, 0);
  const r = avdit('train', '--out', split, '--steps', '4', '--resume');
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /resuming .* with/, 'nothing given differs from the run');
  assert.deepEqual(losses(split), losses(whole));

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
