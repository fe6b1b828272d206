import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { loadLatentShards, minibatches, ShardError } from '../../data/shards.ts';

type Entry = { dtype: 'F32' | 'I32' | 'I64' | 'F16'; shape: number[]; data: Float32Array | Int32Array | BigInt64Array | Uint16Array };

/** A safetensors file as bytes (a test-only writer). */
function safetensors(entries: Record<string, Entry>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const [name, e] of Object.entries(entries)) {
    const b = new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + b.length] };
    blobs.push(b);
    off += b.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const seq = (n: number, base: number) => Float32Array.from({ length: n }, (_, i) => base + i);
const V = [2, 3, 4, 4]; // M, C, H, W
const A = [3, 8, 4]; // C, T, F
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function shard(n: number, base: number, label: 'I32' | 'I64' | null = 'I64', v = V, a = A): Uint8Array {
  const e: Record<string, Entry> = {
    video: { dtype: 'F32', shape: [n, ...v], data: seq(n * size(v), base) },
    audio: { dtype: 'F32', shape: [n, ...a], data: seq(n * size(a), -base) },
  };
  if (label === 'I64') e.label = { dtype: 'I64', shape: [n], data: BigInt64Array.from({ length: n }, (_, i) => BigInt(base + i)) };
  if (label === 'I32') e.label = { dtype: 'I32', shape: [n], data: Int32Array.from({ length: n }, (_, i) => base + i) };
  return safetensors(e);
}

const root = mkdtempSync(join(tmpdir(), 'avdit-shards-'));
after(() => rmSync(root, { recursive: true, force: true }));
let k = 0;
function folder(files: Record<string, Uint8Array>): string {
  const d = join(root, String(k++));
  mkdirSync(d);
  for (const [n, b] of Object.entries(files)) writeFileSync(join(d, n), b);
  return d;
}

test('shards load in name order and concatenate; I32 and I64 labels both read', () => {
  const d = folder({ 'b.safetensors': shard(2, 100, 'I32'), 'a.safetensors': shard(3, 0), 'notes.txt': new Uint8Array(3) });
  const s = loadLatentShards(d);
  assert.equal(s.count, 5);
  assert.deepEqual(s.videoShape, V);
  assert.deepEqual(s.audioShape, A);
  assert.deepEqual([...s.labels!], [0, 1, 2, 100, 101]);
  assert.equal(s.video[3 * size(V)], 100); // first sample of b.safetensors follows a's three
  assert.equal(s.audio[size(A)], -0 + size(A));
});

test('minibatches: seeded, without replacement per epoch, right shapes', () => {
  const d = folder({ 'a.safetensors': shard(7, 0) });
  const s = loadLatentShards(d);
  const take = (seed: number) => [...minibatches(s, { batchSize: 3, seed, epochs: 2 })];
  const b1 = take(5);
  assert.equal(b1.length, 4); // 2 per epoch, last partial batch dropped
  assert.deepEqual(b1.map((b) => b.indices), take(5).map((b) => b.indices));
  assert.notDeepEqual(b1.map((b) => b.indices), take(6).map((b) => b.indices));
  const e0 = b1.filter((b) => b.epoch === 0).flatMap((b) => b.indices);
  assert.equal(new Set(e0).size, 6);
  assert.notDeepEqual(e0, b1.filter((b) => b.epoch === 1).flatMap((b) => b.indices), 'each epoch its own order');
  const b = b1[0]!;
  assert.equal(b.video.length, 3 * size(V));
  assert.equal(b.audio.length, 3 * size(A));
  const j = b.indices[1]!;
  assert.equal(b.video[size(V)], s.video[j * size(V)]);
  assert.equal(b.labels![1], j);
  const all = [...minibatches(s, { batchSize: 3, epochs: 1, dropLast: false })];
  assert.deepEqual(all.map((x) => x.indices.length), [3, 3, 1]);
  const it = minibatches(s, { batchSize: 2 });
  for (let i = 0; i < 10; i++) assert.equal(it.next().done, false); // endless by default
  assert.throws(() => minibatches(s, { batchSize: 8 }).next(), /exceeds the 7 samples/);
});

test('shard errors name the file and say what is wrong', () => {
  const cases: [Record<string, Uint8Array>, RegExp][] = [
    [{}, /no \.safetensors shards/],
    [{ 'a.safetensors': shard(2, 0), 'b.safetensors': shard(2, 0, 'I64', [2, 3, 8, 8]) }, /b\.safetensors: "video" samples are \[2, 3, 8, 8\] but .*a\.safetensors has \[2, 3, 4, 4\]/],
    [{ 'a.safetensors': shard(2, 0), 'b.safetensors': shard(2, 0, 'I64', V, [3, 9, 4]) }, /b\.safetensors: "audio" samples are \[3, 9, 4\]/],
    [{ 'a.safetensors': shard(2, 0), 'b.safetensors': shard(2, 0, null) }, /b\.safetensors: lacks "label" but .*a\.safetensors has it/],
    [{ 'a.safetensors': safetensors({ video: { dtype: 'F32', shape: [1, ...V], data: seq(size(V), 0) } }) }, /a\.safetensors: no tensor "audio"/],
    [{ 'a.safetensors': safetensors({ video: { dtype: 'F32', shape: [2, 3, 4], data: seq(24, 0) }, audio: { dtype: 'F32', shape: [2, ...A], data: seq(2 * size(A), 0) } }) }, /"video" has shape \[2, 3, 4\], expected rank 5/],
    [{ 'a.safetensors': safetensors({ video: { dtype: 'F32', shape: [2, ...V], data: seq(2 * size(V), 0) }, audio: { dtype: 'F32', shape: [3, ...A], data: seq(3 * size(A), 0) } }) }, /"video" has 2 samples but "audio" has 3/],
    [{ 'a.safetensors': safetensors({ video: { dtype: 'I32', shape: [1, 1, 1, 1, 1], data: Int32Array.of(1) } }) }, /"video" is I32, expected F32/],
    [{ 'a.safetensors': safetensors({ video: { dtype: 'F16', shape: [1, 1, 1, 1, 1], data: Uint16Array.of(1) } }) }, /a\.safetensors: "video" is F16, expected F32/],
    [{ 'a.safetensors': shard(2, 0).subarray(0, 100) }, /a\.safetensors: (tensor .* past the end|header length)/],
  ];
  for (const [files, re] of cases) {
    const d = folder(files);
    assert.throws(() => loadLatentShards(d), (e: Error) => e instanceof ShardError && re.test(e.message), `expected ${re}`);
  }
  assert.throws(() => loadLatentShards(join(root, 'missing')), /cannot list the folder/);
});

test('malformed shard files are ShardErrors naming the file (the shared safetensors reader, engine/io/safetensors.ts)', () => {
  const ok = readSafetensors(safetensors({ x: { dtype: 'F32', shape: [2], data: Float32Array.of(1.5, -2) } }, { format: 'pt' }), { name: 'x.st' });
  assert.deepEqual(ok.metadata, { format: 'pt' });
  assert.deepEqual([...ok.tensors.get('x')!.data], [1.5, -2]);
  const bad = new Uint8Array(16);
  new DataView(bad.buffer).setBigUint64(0, 8n, true);
  bad.set(new TextEncoder().encode('{"x":1,,'), 8);
  const json = JSON.stringify({ video: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } });
  const b2 = new Uint8Array(8 + json.length + 8);
  new DataView(b2.buffer).setBigUint64(0, BigInt(json.length), true);
  b2.set(new TextEncoder().encode(json), 8);
  const cases: [Uint8Array, RegExp][] = [
    [bad, /header is not valid UTF-8 JSON/],
    [b2, /tensor "video": shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/],
    [new Uint8Array(4), /truncated: 4 bytes, too short for the 8-byte header length/],
  ];
  for (const [bytes, re] of cases) {
    const d = folder({ 'a.safetensors': bytes });
    assert.throws(() => loadLatentShards(d), (e: Error) => e instanceof ShardError && e.message.startsWith(join(d, 'a.safetensors')) && re.test(e.message), re.source);
  }
});
