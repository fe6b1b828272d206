// PyTorch .pt state dicts (fixtures from torch 1.13, see test/fixtures/make_checkpoint_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readPt } from '../../model/pt-reader.ts';
import { assertMatches, ckptError, EXPECTED, fixture } from './helpers.ts';

test('every dtype, a 0-d and an empty tensor (f16/bf16 → f32, i64/u8/bool → i32)', async () => {
  const r = await readPt(fixture('basic.pt'));
  assert.equal(r.key, null);
  assertMatches(r.tensors, EXPECTED['basic.pt']!);
  assert.equal(r.wire.get('f16'), 'F16');
  assert.equal(r.wire.get('i64'), 'I64');
  assert.deepEqual(r.tensors.get('scalar')!.shape, []);
  assert.deepEqual(r.tensors.get('empty')!.shape, [0, 3]);
});

test('zip64 records (sizes 0xffffffff in the local headers, the real ones in zip64 extra fields) read the same', async () => {
  assertMatches((await readPt(fixture('basic_zip64.pt'))).tensors, EXPECTED['basic_zip64.pt']!);
});

test('non-contiguous views (transposed, strided slices, offsets, stride 0, permuted) and shared storages', async () => {
  assertMatches((await readPt(fixture('views.pt'))).tensors, EXPECTED['views.pt']!);
});

test('a DiT-like nn.Module state dict, from a path and from a buffer', async () => {
  const r = await readPt(fixture('tiny_dit.pt'));
  assertMatches(r.tensors, EXPECTED['tiny_dit.pt']!);
  assert.deepEqual(r.tensors.get('blocks.0.attn.qkv.weight')!.shape, [12, 4]);
  assert.deepEqual(r.tensors.get('blocks.1.adaLN_modulation.1.weight')!.shape, [24, 4]);
  assert.deepEqual(r.tensors.get('x_embedder.proj.weight')!.shape, [4, 4, 2, 2]);
  assertMatches((await readPt(readFileSync(fixture('tiny_dit.pt')))).tensors, EXPECTED['tiny_dit.pt']!);
});

test('a wrapping dict: "ema" by default, "model" on request, clear errors otherwise', async () => {
  const d = await readPt(fixture('wrapped.pt'));
  assert.equal(d.key, 'ema');
  assert.deepEqual(d.topKeys, ['model', 'ema', 'opt', 'step', 'lr', 'param']);
  assertMatches(d.tensors, EXPECTED['wrapped.pt#ema']!);
  assertMatches((await readPt(fixture('wrapped.pt'), { key: 'model' })).tensors, EXPECTED['wrapped.pt#model']!);
  await assert.rejects(readPt(fixture('wrapped.pt'), { key: 'nope' }), ckptError(/wrapped\.pt: no dict under key "nope" \(top-level keys: "model", "ema", "opt"/));
  await assert.rejects(readPt(fixture('wrapped.pt'), { key: null }), ckptError(/wrapped\.pt: tensor "model": value is a dict, not a tensor/));
});

test('an int64 that does not fit int32 is an error naming the tensor', async () => {
  await assert.rejects(readPt(fixture('i64_overflow.pt')), ckptError(/i64_overflow\.pt: tensor "big": int64 value 1099511627776 at element 1 does not fit in int32/));
});

test('malicious pickles are refused by the name of the global, and nothing runs', async () => {
  await assert.rejects(readPt(fixture('malicious_os_system.pt')), ckptError(/malicious_os_system\.pt: refusing to load global posix\.system/));
  await assert.rejects(readPt(fixture('malicious_eval.pt')), ckptError(/refusing to load global __builtin__\.eval/));
  await assert.rejects(readPt(fixture('malicious_exec_p4.pt')), ckptError(/refusing to load global builtins\.exec/));
  assert.equal(existsSync('/tmp/avdit-pwned'), false);
});

test('not a zip (legacy torch.save or junk), and a missing file', async () => {
  await assert.rejects(readPt(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]), { name: 'old.pt' }), ckptError(/^old\.pt: not a zip archive: a legacy/));
  await assert.rejects(readPt(fixture('golden.safetensors')), ckptError(/not a zip archive/));
  await assert.rejects(readPt('/nonexistent.pt'), ckptError(/cannot open/));
});

test('deflated entries (torch stores, other zip tools may compress) read the same', async () => {
  const { zipSync } = await import('fflate');
  const { ZipArchive } = await import('../../model/zip-reader.ts');
  const zip = await ZipArchive.open(fixture('basic.pt'), 'basic.pt');
  const files: Record<string, [Uint8Array, { level: 6 }]> = {};
  for (const name of zip.entries.keys()) files[name] = [await zip.read(name), { level: 6 }];
  zip.close();
  const repacked = zipSync(files);
  const again = await ZipArchive.open(repacked, 'repacked');
  assert.ok([...again.entries.values()].some((e) => e.method === 8), 'repacked with deflate');
  again.close();
  assertMatches((await readPt(repacked)).tensors, EXPECTED['basic.pt']!);
});
