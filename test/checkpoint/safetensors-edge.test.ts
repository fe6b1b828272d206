// safetensors reader: repeated header keys and data bytes no tensor covers are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSafetensors, readSafetensors, readSafetensorsHeader, topLevelKeys } from '../../engine/io/safetensors.ts';
import { ckptError } from './helpers.ts';

function craft(header: string, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}
const read = (b: Uint8Array) => () => readSafetensors(b, { name: 'f.safetensors' });
const e = (off: [number, number], shape = [1]) => `{"dtype":"F32","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(off)}}`;

test('topLevelKeys lists every top-level key with repeats, decoding escapes, skipping nested values', () => {
  assert.deepEqual(topLevelKeys('{}'), []);
  assert.deepEqual(topLevelKeys(' { "a" : 1 , "a":2 } '), ['a', 'a']);
  assert.deepEqual(topLevelKeys('{"a\\"b":{"x":"}\\\\","y":[1,{"z":"]"}]},"c\\\\":"{","\\u0061":null}'), ['a"b', 'c\\', 'a']);
  assert.deepEqual(topLevelKeys('{"__metadata__":{"k":"v,\\"w\\":"},"t":' + e([0, 4]) + '}'), ['__metadata__', 't']);
});

test('a tensor listed twice in the header is refused, naming it (JSON.parse would keep the last)', () => {
  assert.throws(read(craft(`{"a":${e([0, 4])},"a":${e([4, 8])}}`, 8)), ckptError(/^f\.safetensors: tensor "a": the header lists this tensor more than once/));
  // Written differently, still the same key; and a key with an escaped quote.
  assert.throws(read(craft(`{"a":${e([0, 4])},"\\u0061":${e([4, 8])}}`, 8)), ckptError(/tensor "a": .*more than once/));
  assert.throws(read(craft(`{"q\\"x":${e([0, 4])},"b":${e([4, 8])},"q\\"x":${e([8, 12])}}`, 12)), ckptError(/tensor "q"x": .*more than once/));
  assert.throws(read(craft(`{"__metadata__":{},"__metadata__":{"a":"b"}}`, 0)), ckptError(/"__metadata__" more than once/));
  assert.throws(() => readSafetensorsHeader(craft(`{"a":${e([0, 4])},"a":${e([0, 4])}}`, 4)), ckptError(/more than once/));
  // Distinct keys that merely contain each other's text are fine.
  assert.equal(readSafetensors(craft(`{"a":${e([0, 4])},"a\\"":${e([4, 8])},"\\"a":${e([8, 12])}}`, 12)).tensors.size, 3);
});

test('data bytes not covered by a tensor (gaps, leading or trailing bytes) are refused, naming a tensor', () => {
  assert.throws(read(craft(`{"a":${e([4, 8])}}`, 8)), ckptError(/tensor "a": data_offsets \[4, 8\] leave bytes 0\.\.4 .* unused \(before the first tensor\)/));
  assert.throws(read(craft(`{"a":${e([0, 4])},"b":${e([8, 12])}}`, 12)), ckptError(/tensor "b": data_offsets \[8, 12\] leave bytes 4\.\.8 .*after tensor "a" \[0, 4\]/));
  assert.throws(read(craft(`{"a":${e([0, 4])}}`, 8)), ckptError(/tensor "a": data_offsets \[0, 4\] end at byte 4 of a 8-byte data section: bytes 4\.\.8 are unused/));
  assert.throws(read(craft(`{"__metadata__":{"k":"v"}}`, 3)), ckptError(/^f\.safetensors: no tensor data ends at byte 0 of a 3-byte data section/));
  // The overlap check still holds, and exact covering (in any header order, with empty tensors) reads.
  assert.throws(read(craft(`{"a":${e([0, 8], [2])},"b":${e([4, 8])}}`, 8)), ckptError(/tensor "b": data_offsets \[4, 8\] overlap tensor "a"/));
  const ok = readSafetensors(craft(`{"b":${e([4, 8])},"z":${e([4, 4], [0])},"a":${e([0, 4])}}`, 8));
  assert.deepEqual([...ok.tensors.keys()], ['b', 'z', 'a']);
  assert.equal(readSafetensors(craft('{}', 0)).tensors.size, 0);
  assert.equal(readSafetensors(encodeSafetensors({ x: { dtype: 'f64', shape: [3], data: new Float64Array(3) }, y: { dtype: 'i32', shape: [], data: new Int32Array(1) } })).tensors.size, 2);
});

test('the bounds are exact: a one-byte overlap, a tensor one byte past the data and a header one byte past the file are refused as such', () => {
  const u8 = (off: [number, number], n: number) => `{"dtype":"U8","shape":[${n}],"data_offsets":${JSON.stringify(off)}}`;
  assert.throws(read(craft(`{"a":${u8([0, 2], 2)},"b":${u8([1, 3], 2)}}`, 3)), ckptError(/tensor "b": data_offsets \[1, 3\] overlap tensor "a" \[0, 2\]/));
  assert.throws(read(craft(`{"a":${u8([0, 4], 4)}}`, 3)), ckptError(/tensor "a": data_offsets \[0, 4\] out of range \(data section has 3 bytes\)/));
  const file = craft(`{"a":${u8([0, 1], 1)}}`, 1);
  new DataView(file.buffer).setBigUint64(0, BigInt(file.length - 7), true);
  assert.throws(read(file), ckptError(new RegExp(`^f\\.safetensors: header length ${file.length - 7} goes beyond the file \\(${file.length} bytes\\)`)));
});
