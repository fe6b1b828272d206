// `avdit eval` input checks (subprocesses, so a hang fails by timeout): --real bounded, and the
// samples metadata's fps and audio settings checked with one-line errors naming the file and field.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clipSetOf, DEMO, DEMO_AUDIO, demoData, writeSamplesFolder } from '../eval/fixture.ts';

const ROOT = join(import.meta.dirname, '../..');
const evalCmd = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/avdit.mjs'), 'eval', ...args], { encoding: 'utf8', timeout: 30_000 });
const root = mkdtempSync(join(tmpdir(), 'avdit-eval-checks-'));
after(() => rmSync(root, { recursive: true, force: true }));
const META = { fps: DEMO.fps, audio: DEMO_AUDIO, classes: DEMO.classes, dataSeed: 0 };
const clips = clipSetOf(demoData(2, 1));

/** A samples folder whose metadata has `over` in place of the demo's. */
function folder(name: string, over: Record<string, unknown>): string {
  const dir = join(root, name);
  writeSamplesFolder(dir, clips, { ...META, ...over } as typeof META);
  return dir;
}

test('eval: --real beyond 4096 is a usage error, not a RangeError', () => {
  const r = evalCmd('--samples', folder('ok', {}), '--real', '1e9');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^avdit eval: --real must be at most 4096, got 1000000000\n$/);
});

test('eval: fps and audio metadata out of range are one-line errors naming the file and field', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['fps', { fps: 0.001 }, /fps 0\.001 makes 8-frame clips 8000 s long \(at most 60 s\)/],
    ['fpshigh', { fps: 1e6 }, /fps must be in \(0, 1000\], got 1000000/],
    ['seed', { dataSeed: 1.5 }, /dataSeed must be an integer ≥ 0, got 1\.5/],
    ['sr', { audio: { ...DEMO_AUDIO, sampleRate: -5 } }, /audio\.sampleRate must be an integer in 1000\.\.192000, got -5/],
    ['nfft', { audio: { ...DEMO_AUDIO, nFft: 1000 } }, /audio\.nFft must be a power of two, got 1000/],
    ['hop', { audio: { ...DEMO_AUDIO, hop: 0 } }, /audio\.hop must be an integer in 1\.\.65536, got 0/],
    ['floor', { audio: { ...DEMO_AUDIO, logFloor: -1 } }, /audio\.logFloor must be > 0, got -1/],
    ['str', { audio: { ...DEMO_AUDIO, power: '2' } }, /audio\.power must be a finite number, got "2"/],
  ];
  for (const [name, over, re] of cases) {
    const r = evalCmd('--samples', folder(name, over));
    assert.equal(r.status, 1, `${name}: ${r.stderr} (signal ${r.signal})`);
    assert.match(r.stderr, new RegExp(`^avdit eval: SamplesError: .*${name}/samples\\.safetensors: "avdit\\.samples" metadata: ${re.source}\\n$`), name);
  }
});
