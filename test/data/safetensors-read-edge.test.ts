// The shards' small safetensors reader (data/safetensors-read.ts): the tensors must cover the data
// section exactly; gaps, overlaps, trailing bytes and a key listed twice are errors naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSafetensors, SafetensorsError } from '../../data/safetensors-read.ts';

/** A file from a header object (or raw header text) and `data` bytes. */
function file(header: object | string, dataBytes: number): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

const f32 = (begin: number, n: number) => ({ dtype: 'F32', shape: [n], data_offsets: [begin, begin + 4 * n] });

test('a well-formed file reads, tensors in any order, an empty one included', () => {
  const r = parseSafetensors(file({ b: f32(8, 1), a: f32(0, 2), e: f32(12, 0) }, 12), 'ok.safetensors');
  assert.deepEqual([...r.tensors.keys()], ['b', 'a', 'e']);
});

test('gaps, overlaps, trailing bytes and a duplicated key are refused', () => {
  const bad = (bytes: Uint8Array, re: RegExp) => assert.throws(() => parseSafetensors(bytes, 'x.safetensors'), (e: unknown) => e instanceof SafetensorsError && /^x\.safetensors: /.test((e as Error).message) && re.test((e as Error).message));
  bad(file({ a: f32(0, 1), b: f32(8, 1) }, 12), /bytes 4\.\.8 of the data belong to no tensor \(before "b"\)/);
  bad(file({ a: f32(0, 2), b: f32(4, 1) }, 8), /tensor "a" overlaps the one before it|tensor "b" overlaps/);
  bad(file({ a: f32(0, 1) }, 8), /4 bytes after the last tensor belong to no tensor/);
  // JSON.parse keeps the last "a": the first one's bytes are then a gap.
  bad(file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /bytes 0\.\.4 of the data belong to no tensor/);
});

test('__metadata__ must be an object of strings, as the format (and the model reader) require', () => {
  const bad = (meta: unknown, re: RegExp) => assert.throws(() => parseSafetensors(file({ __metadata__: meta, a: f32(0, 1) }, 4), 'm.safetensors'), (e: unknown) => e instanceof SafetensorsError && re.test((e as Error).message));
  bad({ fps: 8 }, /^m\.safetensors: __metadata__\["fps"\] is not a string/);
  bad(['x'], /__metadata__ is not an object/);
  bad(null, /__metadata__ is not an object/);
  assert.deepEqual(parseSafetensors(file({ __metadata__: { fps: '8' }, a: f32(0, 1) }, 4)).metadata, { fps: '8' });
});
