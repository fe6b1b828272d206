import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../cli/args.ts';
import { run, SamplesError } from '../../cli/commands/eval.ts';
import { shuffleAudio, clipSetOf, DEMO, DEMO_AUDIO, demoData, writeSamplesFolder } from './fixture.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';

const root = mkdtempSync(join(tmpdir(), 'avdit-eval-'));
after(() => rmSync(root, { recursive: true, force: true }));
const META = { fps: DEMO.fps, audio: DEMO_AUDIO, classes: DEMO.classes, dataSeed: 0 };

/** Run the command, capturing what it prints. */
async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { code: await run(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

// Real clips (a third seed, disjoint from the held-out sets) written as `avdit sample` would.
const good = join(root, 'good');
writeSamplesFolder(good, clipSetOf(demoData(16, 3000)), META);
const bad = join(root, 'shuffled');
writeSamplesFolder(bad, shuffleAudio(clipSetOf(demoData(16, 3000)), 1), META, false);

test('avdit eval --json on a folder of real clips: in sync, in agreement, FDs near the real-vs-real floor', async () => {
  const { code, out } = await capture(['--samples', good, '--real', '24', '--json']);
  assert.equal(code, 0);
  const r = JSON.parse(out);
  assert.equal(r.clips, 16);
  assert.equal(r.labels, true);
  assert.deepEqual(r.realSeeds, [1000, 2000]);
  assert.ok(r.generated.syncFraction >= 0.9, out);
  assert.ok(r.generated.agreement >= 0.9 && r.generated.videoLabelAgreement >= 0.9 && r.generated.audioLabelAgreement >= 0.9, out);
  assert.ok(r.real.syncFraction >= 0.9);
  for (const k of ['video', 'audio', 'joint']) assert.ok(Number.isFinite(r.fd.generated[k]) && Number.isFinite(r.fd.realVsReal[k]), k);
  assert.equal(r.features.video.length, 4 + 8);
});

test('avdit eval table: shuffled, unlabelled samples score low and show — for label agreement', async () => {
  const { code, out } = await capture(['--samples', bad, '--real', '24']);
  assert.equal(code, 0);
  assert.match(out, /metric\s+generated\s+real-vs-real/);
  assert.match(out, /agreement: colour seen = label\s+—\s+1\.000/);
  const sync = /clips in sync \(±1 frame\)\s+([\d.]+)\s+([\d.]+)/.exec(out);
  assert.ok(sync, out);
  assert.ok(Number(sync[1]) <= 0.4 && Number(sync[2]) >= 0.9, out);
  assert.match(out, /FD audio-visual joint/);
});

test('avdit eval: clear errors for missing flags, folders and corrupt files', async () => {
  await assert.rejects(run([]), (e: Error) => e instanceof UsageError && /--samples DIR is required/.test(e.message));
  await assert.rejects(run(['--samples', good, '--real', '1']), UsageError);
  await assert.rejects(run(['--samples', join(root, 'nope')]), (e: Error) => e instanceof SamplesError && /no such folder/.test(e.message));
  const empty = join(root, 'empty');
  mkdirSync(empty);
  await assert.rejects(run(['--samples', empty]), /no samples\.safetensors/);
  const corrupt = join(root, 'corrupt');
  mkdirSync(corrupt);
  writeFileSync(join(corrupt, 'samples.safetensors'), 'not a safetensors file at all');
  await assert.rejects(run(['--samples', corrupt]), (e: Error) => e instanceof SamplesError && /not a readable safetensors/.test(e.message));
  const noMeta = join(root, 'nometa');
  mkdirSync(noMeta);
  const s = clipSetOf(demoData(2, 1));
  writeSafetensors(join(noMeta, 'samples.safetensors'), { video: { dtype: 'f32', shape: [2, 8, 3, 16, 16], data: s.video }, logmel: { dtype: 'f32', shape: [2, 32, 16], data: s.logmel } });
  await assert.rejects(run(['--samples', noMeta]), /no "avdit.samples" metadata/);
  const wrongMels = join(root, 'wrongmels');
  mkdirSync(wrongMels);
  writeSafetensors(join(wrongMels, 'samples.safetensors'), { video: { dtype: 'f32', shape: [2, 8, 3, 16, 16], data: s.video }, logmel: { dtype: 'f32', shape: [2, 32, 16], data: s.logmel } }, { 'avdit.samples': JSON.stringify({ ...META, audio: { ...DEMO_AUDIO, nMels: 32 } }) });
  await assert.rejects(run(['--samples', wrongMels]), /16 mel bands but the metadata's audio config has nMels 32/);
  const nan = join(root, 'nan');
  const v = s.video.slice();
  v[5] = NaN;
  writeSamplesFolder(nan, { ...s, video: v }, META);
  await assert.rejects(run(['--samples', nan]), /NaN/);
  const badLabel = join(root, 'badlabel');
  writeSamplesFolder(badLabel, { ...s, labels: Int32Array.from([0, 9]) }, META);
  await assert.rejects(run(['--samples', badLabel]), /labels must be class ids in 0\.\.7, got 9/);
  const { code, out } = await capture(['--help']);
  assert.equal(code, 0);
  assert.match(out, /avdit eval --samples DIR/);
});
