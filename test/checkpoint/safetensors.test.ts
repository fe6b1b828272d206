// safetensors: round trips, the layout on disk, a file written by an independent (Python) writer, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, readSafetensors, readSafetensorsHeader, toTensors, writeSafetensors, type RawTensor } from '../../engine/io/safetensors.ts';
import { assertMatches, ckptError, EXPECTED, fixture, inTempDir } from './helpers.ts';

const sample = (): Map<string, RawTensor> => new Map<string, RawTensor>([
  ['w.f32', { dtype: 'f32', shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, 1e30, -0, 7]) }],
  ['w.f64', { dtype: 'f64', shape: [3], data: new Float64Array([0.1, -1 / 3, 1e-310]) }],
  ['labels', { dtype: 'i32', shape: [4], data: new Int32Array([0, -1, 2147483647, -2147483648]) }],
  ['scalar', { dtype: 'f32', shape: [], data: new Float32Array([2.5]) }],
  ['empty', { dtype: 'f32', shape: [0, 3], data: new Float32Array(0) }],
  ['empty_i', { dtype: 'i32', shape: [2, 0], data: new Int32Array(0) }],
]);

function assertSame(a: Map<string, RawTensor>, b: Map<string, RawTensor>): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual(u.shape, t.shape, k);
    assert.deepEqual(Array.from(u.data), Array.from(t.data), k);
    assert.equal(u.data.constructor, t.data.constructor, k);
  }
}

test('round trip in memory: f32, f64, i32, 0-d, empty, metadata', () => {
  const buf = encodeSafetensors(sample(), { step: '10', note: 'héllo' });
  const r = readSafetensors(buf);
  assertSame(sample(), r.tensors);
  assert.deepEqual(r.metadata, { step: '10', note: 'héllo' });
  assert.equal(r.wire.get('labels'), 'I32');
});

test('round trip through a file; i32 stored as I64 when asked', () => {
  inTempDir((dir) => {
    const p = join(dir, 'a.safetensors');
    writeSafetensors(p, sample(), { a: 'b' }, { i32As: 'I64' });
    const r = readSafetensors(p);
    assertSame(sample(), r.tensors);
    assert.equal(r.wire.get('labels'), 'I64');
    assert.equal(r.wire.get('empty_i'), 'I64');
    assert.deepEqual(r.metadata, { a: 'b' });
    writeSafetensors(p, { x: { dtype: 'i32', shape: [1], data: new Int32Array([-5]) } }, undefined, { i32As: (n) => (n === 'x' ? 'I64' : 'I32') });
    assert.equal(readSafetensorsHeader(p).entries[0]!.wire, 'I64');
    assert.deepEqual(Array.from(readSafetensors(p).tensors.get('x')!.data), [-5]);
  });
});

test('layout: u64 header length, space-padded JSON to a multiple of 8, contiguous offsets', () => {
  const buf = encodeSafetensors(sample(), { k: 'v' });
  const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const h = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n)));
  assert.deepEqual(h.__metadata__, { k: 'v' });
  assert.deepEqual(h['w.f32'], { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(h['w.f64'], { dtype: 'F64', shape: [3], data_offsets: [24, 48] });
  assert.deepEqual(h.scalar.shape, []);
  assert.equal(buf.length, 8 + n + 24 + 24 + 16 + 4);
  assert.deepEqual(Array.from(new Float32Array(buf.slice(8 + n, 8 + n + 8).buffer)), [1, -2.5]);
});

test('a file written by Python by hand: F32, F64, F16, BF16, I64, I32, U8, BOOL, metadata', () => {
  const r = readSafetensors(fixture('golden.safetensors'));
  assertMatches(r.tensors, EXPECTED['golden.safetensors']!);
  assert.deepEqual(r.metadata, { format: 'pt', step: '12' });
  assert.equal(r.wire.get('bf16'), 'BF16');
  const only = readSafetensors(fixture('golden.safetensors'), { only: (n) => n.startsWith('blocks.') });
  assert.deepEqual([...only.tensors.keys()], ['blocks.0.attn.qkv.weight']);
});

test('toTensors makes engine tensors with names, shapes and dtypes', () => {
  const ts = toTensors(readSafetensors(encodeSafetensors(sample())).tensors);
  const w = ts.get('w.f64')!;
  assert.equal(w.dtype, 'f64');
  assert.equal(w.name, 'w.f64');
  assert.deepEqual([...w.shape], [3]);
  assert.deepEqual(Array.from(w.dataSync()), [0.1, -1 / 3, 1e-310]);
  assert.deepEqual([...ts.get('scalar')!.shape], []);
  assert.equal(ts.get('empty')!.size, 0);
});

/** A file with a hand-written header (data section `data` bytes long). */
function withHeader(header: unknown, dataBytes: number, raw?: string): Uint8Array {
  const json = new TextEncoder().encode(raw ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('malformed files give a CheckpointError naming the file and the tensor', () => {
  const good = encodeSafetensors(sample());
  const name = 'bad.safetensors';
  const read = (b: Uint8Array) => () => readSafetensors(b, { name });
  assert.throws(read(good.subarray(0, 5)), ckptError(/^bad\.safetensors: truncated/));
  assert.throws(read(good.subarray(0, good.length - 3)), ckptError(/bad\.safetensors/, /out of range/));
  const big = new Uint8Array(good);
  new DataView(big.buffer).setBigUint64(0, 1n << 40n, true);
  assert.throws(read(big), ckptError(/header length 1099511627776 goes beyond the file/));
  assert.throws(read(withHeader(null, 0, '{"a": ')), ckptError(/bad\.safetensors: header is not valid UTF-8 JSON/));
  assert.throws(read(withHeader(null, 0, '[1, 2]')), ckptError(/not a JSON object/));
  assert.throws(read(withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12)),
    ckptError(/tensor "y": data_offsets \[4, 12\] overlap tensor "x"/));
  assert.throws(read(withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4)), ckptError(/tensor "x": data_offsets \[0, 8\] out of range/));
  assert.throws(read(withHeader({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)), ckptError(/tensor "x": shape \[3\] of F32 needs 12 bytes/));
  assert.throws(read(withHeader({ x: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, 1)), ckptError(/tensor "x": unknown dtype "F8_E4M3"/));
  assert.throws(read(withHeader({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, 0)), ckptError(/tensor "x": bad shape/));
  assert.throws(read(withHeader({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4)), ckptError(/tensor "x": data_offsets \[4, 0\]/));
  assert.throws(read(withHeader({ __metadata__: { a: 1 } }, 0)), ckptError(/__metadata__\["a"\] is not a string/));
  const i64 = withHeader({ n: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, 16);
  new DataView(i64.buffer).setBigInt64(i64.length - 8, -(1n << 33n), true);
  assert.throws(read(i64), ckptError(/tensor "n": int64 value -8589934592 at element 1 does not fit in int32/));
  assert.throws(() => readSafetensors('/nonexistent/x.safetensors'), ckptError(/^\/nonexistent\/x\.safetensors: cannot open/));
  assert.equal(readFileSync(fixture('golden.safetensors')).length > 0, true);
});

test('bad input to the writer is refused before anything is written', () => {
  assert.throws(() => encodeSafetensors({ x: { dtype: 'f32', shape: [2, 2], data: new Float32Array(3) } }), ckptError(/tensor "x": shape \[2, 2\] has 4 elements but data has 3/));
  assert.throws(() => encodeSafetensors({ x: { dtype: 'f64', shape: [1], data: new Float32Array(1) } }), ckptError(/tensor "x": data is a Float32Array but dtype is f64/));
  assert.throws(() => encodeSafetensors({ __metadata__: { dtype: 'f32', shape: [1], data: new Float32Array(1) } }), ckptError(/reserved/));
});
