// --fusion / --no-fusion: what the flags, or a checkpoint's training args, pick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../cli/args.ts';
import { fusionFromFlags } from '../../cli/model-flags.ts';
import { makeConfig } from '../../model/config.ts';

test('--fusion picks the mode; --no-fusion means none; unset, the checkpoint decides, else pooled', () => {
  assert.equal(fusionFromFlags({}), 'pooled');
  assert.equal(fusionFromFlags({ fusion: 'frames' }), 'frames');
  assert.equal(fusionFromFlags({ 'no-fusion': true }), 'none');
  assert.equal(fusionFromFlags({ 'no-fusion': true, fusion: 'none' }), 'none');
  // a checkpoint trained with --fusion frames, or (older ones) with --no-fusion
  assert.equal(fusionFromFlags({}, { fusion: 'frames' }), 'frames');
  assert.equal(fusionFromFlags({}, { noFusion: true }), 'none');
  assert.equal(fusionFromFlags({ fusion: 'pooled' }, { fusion: 'frames' }), 'pooled');
});

test('a contradiction or an unknown mode is a usage error naming the choices', () => {
  assert.throws(() => fusionFromFlags({ 'no-fusion': true, fusion: 'frames' }), (e: unknown) => e instanceof UsageError && /contradict/.test(e.message));
  assert.throws(() => fusionFromFlags({ fusion: 'framez' }), (e: unknown) => e instanceof UsageError && /pooled, frames, none.*"framez"/.test(e.message));
  assert.throws(() => fusionFromFlags({}, { fusion: 'bogus' }), UsageError);
  // per-frame fusion needs the audio's patch rows to split evenly over the frames (XL: 20 over 16)
  assert.throws(() => fusionFromFlags({ fusion: 'frames' }, {}, makeConfig('XL')), (e: unknown) => e instanceof UsageError && /20 patch rows evenly over the 16 frames/.test(e.message));
  assert.equal(fusionFromFlags({ fusion: 'frames' }, {}, makeConfig('demo')), 'frames');
});
