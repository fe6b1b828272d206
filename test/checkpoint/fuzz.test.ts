// Fuzz: truncations and byte flips of valid files must give a parse or a CheckpointError, never another exception or a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CheckpointError } from '../../engine/io/checkpoint-errors.ts';
import { readStateFile } from '../../model/checkpoint.ts';
import { readPt } from '../../model/pt-reader.ts';
import { encodeSafetensors, readSafetensors } from '../../engine/io/safetensors.ts';
import { ZipArchive } from '../../model/zip-reader.ts';
import { fixture } from './helpers.ts';

/** Runs per property; FUZZ_RUNS=20000 for a longer hunt. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

/** A mutation of a file of `len` bytes inside [lo, hi): a truncation, or 1–4 bytes set to random values. */
function mutation(len: number, lo = 0, hi = len) {
  return fc.oneof(
    fc.integer({ min: 0, max: len - 1 }).map((n) => ({ cut: n, flips: [] as { at: number; v: number }[] })),
    fc.array(fc.record({ at: fc.integer({ min: lo, max: hi - 1 }), v: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 })
      .map((flips) => ({ cut: len, flips })),
  );
}

function apply(file: Uint8Array, m: { cut: number; flips: { at: number; v: number }[] }): Uint8Array {
  const b = new Uint8Array(file.subarray(0, m.cut));
  for (const f of m.flips) if (f.at < b.length) b[f.at] = f.v;
  return b;
}

/** Run `read` on the mutated bytes: success or CheckpointError only, and quickly. */
async function check(file: Uint8Array, read: (b: Uint8Array) => unknown, lo?: number, hi?: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(mutation(file.length, lo, hi), async (m) => {
      const b = apply(file, m);
      const t0 = performance.now();
      try {
        await read(b);
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`not a CheckpointError: ${String(e)}\n${(e as Error).stack}`);
      }
      assert.ok(performance.now() - t0 < 2000, 'a single read took over 2 s');
    }),
    { numRuns: RUNS },
  );
}

test('safetensors reader under truncation and byte flips', { timeout: 60_000 }, async () => {
  const file = encodeSafetensors({
    a: { dtype: 'f32', shape: [2, 3], data: new Float32Array(6).fill(1.5) },
    b: { dtype: 'i32', shape: [3], data: new Int32Array([1, -2, 3]) },
    c: { dtype: 'f64', shape: [], data: new Float64Array([4]) },
  }, { step: '3' }, { i32As: 'I64' });
  await check(file, (b) => readSafetensors(b));
  const headerEnd = 8 + Number(new DataView(file.buffer).getBigUint64(0, true));
  await check(file, (b) => readSafetensors(b), 0, headerEnd); // flips aimed at the length and the JSON
  const golden = new Uint8Array(readFileSync(fixture('golden.safetensors')));
  await check(golden, (b) => readSafetensors(b));
});

test('.pt reader under truncation and byte flips (whole file, and aimed at the pickle)', { timeout: Math.max(60_000, RUNS * 20) }, async () => {
  for (const name of ['basic.pt', 'views.pt']) {
    const file = new Uint8Array(readFileSync(fixture(name)));
    await check(file, (b) => readPt(b));
    // Locate data.pkl's bytes (stored uncompressed) and aim flips at them.
    const zip = await ZipArchive.open(file, name);
    const pkl = [...zip.entries.keys()].find((n) => n.endsWith('/data.pkl'))!;
    const bytes = await zip.read(pkl);
    zip.close();
    const at = Buffer.from(file).indexOf(Buffer.from(bytes));
    assert.ok(at > 0);
    await check(file, (b) => readPt(b), at, at + bytes.length);
  }
});

test('checkpoint files on disk under truncation and byte flips (the path readers: .pt and safetensors)', { timeout: Math.max(60_000, RUNS * 40) }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'avdit-fuzz-'));
  try {
    const path = join(dir, 'ckpt');
    const fromDisk = (b: Uint8Array) => {
      writeFileSync(path, b);
      return readStateFile(path);
    };
    for (const name of ['basic.pt', 'basic_zip64.pt', 'golden.safetensors']) await check(new Uint8Array(readFileSync(fixture(name))), fromDisk);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
