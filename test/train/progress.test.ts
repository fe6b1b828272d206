// The progress line of train/pretrain/sample: step of total, the figures given (the loss), the rate
// in the unit given and the ETA; one line per update on a pipe, redrawn in place on a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtTime, Progress } from '../../train/progress.ts';

/** A stream that records what is written; `tty` as a terminal would be. */
function sink(tty: boolean): NodeJS.WriteStream & { text: string } {
  const s = { text: '', isTTY: tty, write(chunk: string) {
    s.text += chunk;
    return true;
  } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

test('progress line: step/total, the loss, it/s and an ETA from the rate', async () => {
  const out = sink(false);
  const p = new Progress('train', 10, 0, out);
  await new Promise((r) => setTimeout(r, 50));
  p.update(5, { loss: 0.1234567 }, true);
  const line = out.text.trim();
  assert.match(line, /^train [█░]{24} 5\/10  loss 0\.1235  \d+\.\d\d (it\/s|s\/it)  ETA \d+:\d\d$/);
  assert.equal((line.match(/█/g) ?? []).length, 12, 'half the bar filled');
  // About 50 ms for 5 steps: ~100 it/s, so the 5 steps left take well under a minute.
  assert.match(line, /ETA 0:0\d$/);
});

test('a unit names the rate (sample counts clip-steps); a terminal redraws one line; done ends it', () => {
  const out = sink(true);
  const p = new Progress('sample', 4000, 0, out, undefined, 'clip-steps');
  p.update(1000, {}, true);
  p.update(2000, {}, true);
  assert.match(out.text, /^\r\x1b\[Ksample .* 1000\/4000 .* (clip-steps\/s|s\/clip-steps) .*\r\x1b\[Ksample .* 2000\/4000 /);
  assert.ok(!out.text.includes('\n'));
  p.done();
  assert.ok(out.text.endsWith('\n'));
});

test('updates are throttled on a pipe (one line per 5 s) but the last step always prints; a time budget shows time left', () => {
  const out = sink(false);
  const p = new Progress('train', 3, 0, out);
  p.update(1, {}, true);
  p.update(2); // within 5 s of the last line: skipped
  p.update(3); // the last step: printed
  assert.deepEqual(out.text.trim().split('\n').map((l) => l.match(/ (\d)\/3 /)?.[1]), ['1', '3']);
  const timed = sink(false);
  new Progress('train', 100, 0, timed, performance.now() + 90_000).update(1, {}, true);
  assert.match(timed.text, /step 1 .* time left 1:(29|30)\n$/);
  assert.equal(fmtTime(3725), '1:02:05');
});
