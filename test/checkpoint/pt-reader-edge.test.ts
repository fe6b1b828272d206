// .pt reader: a bare tensor saved with torch.save(tensor) is named as such in the error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync } from 'fflate';
import { readPt } from '../../model/pt-reader.ts';
import { ckptError } from './helpers.ts';

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

test('a .pt holding a bare tensor says "a tensor, not a state dict"', async () => {
  // torch 1.13: torch.save(torch.tensor([1., 2.]), 'bare.pt'), entries as torch wrote them.
  const pkl = hex(
    '800263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71002828580700000073746f72616765710163746f7263680a466c6f617453746f726167650a71025801000000307103580300000063707571044b02747105514b004b028571064b018571078963636f6c6c656374696f6e730a4f726465726564446963740a71082952710974710a52710b2e',
  );
  const pt = zipSync({ 'bare/data.pkl': [pkl, { level: 0 }], 'bare/data/0': [hex('0000803f00000040'), { level: 0 }], 'bare/version': [new TextEncoder().encode('3\n'), { level: 0 }] });
  await assert.rejects(readPt(pt, { name: 'bare.pt' }), ckptError(/^bare\.pt: the pickle holds a tensor, not a state dict/));
  await assert.rejects(readPt(pt, { name: 'bare.pt' }), (e: Error) => !/TensorRef/.test(e.message));
});

/** A protocol-2 pickle from opcodes: strings are text lines (GLOBAL's module\nname\n) or BINUNICODE. */
const op = {
  global: (module: string, name: string) => [0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)],
  str: (s: string) => [0x58, s.length, 0, 0, 0, ...new TextEncoder().encode(s)],
  int: (n: number) => [0x4b, n],
};
const ptOf = (pklOps: number[], storage = new Uint8Array(8)) =>
  zipSync({ 'a/data.pkl': [Uint8Array.from([0x80, 0x02, ...pklOps, 0x2e]), { level: 0 }], 'a/data/0': [storage, { level: 0 }] });
/** {"x": _rebuild_tensor_v2(FloatStorage "0" of 2 elements, offset, (size,), (stride,), False, OrderedDict())} */
const oneTensor = (offset: number, size: number, stride: number) => [
  0x7d, ...op.str('x'), ...op.global('torch._utils', '_rebuild_tensor_v2'), 0x28,
  0x28, ...op.str('storage'), ...op.global('torch', 'FloatStorage'), ...op.str('0'), ...op.str('cpu'), ...op.int(2), 0x74, 0x51,
  ...op.int(offset), ...op.int(size), 0x85, ...op.int(stride), 0x85, 0x89, ...op.global('collections', 'OrderedDict'), 0x29, 0x52,
  0x74, 0x52, 0x73,
];

test('the hand-made tensor pickle reads; views reaching past their storage by even one element are refused', async () => {
  const two = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  assert.deepEqual(Array.from((await readPt(ptOf(oneTensor(0, 2, 1), two))).tensors.get('x')!.data), [1.5, -2]);
  assert.deepEqual(Array.from((await readPt(ptOf(oneTensor(1, 1, 1), two))).tensors.get('x')!.data), [-2]);
  await assert.rejects(readPt(ptOf(oneTensor(0, 3, 1), two), { name: 'v.pt' }), ckptError(/^v\.pt: tensor "x": view \(offset 0, shape \[3\], stride \[1\]\) reaches element 2 of a 2-element storage/));
  await assert.rejects(readPt(ptOf(oneTensor(1, 2, 1), two)), ckptError(/reaches element 2 of a 2-element storage/));
  await assert.rejects(readPt(ptOf(oneTensor(0, 2, 2), two)), ckptError(/reaches element 2 of a 2-element storage/));
});

test('globals a state dict does not need are refused, however harmless or common they look', async () => {
  for (const [module, name] of [
    ['builtins', 'getattr'], ['builtins', 'setattr'], ['builtins', 'set'], ['builtins', 'dict'], ['__builtin__', 'getattr'],
    ['collections', 'defaultdict'], ['torch', 'load'], ['torch', 'Tensor'], ['torch.nn.modules.linear', 'Linear'],
    ['torch._utils', '_rebuild_device_tensor_from_numpy'],
    ['numpy.core.multiarray', '_reconstruct'], ['numpy', 'dtype'], ['subprocess', 'Popen'], ['pickle', 'loads'],
  ]) {
    await assert.rejects(readPt(ptOf([...op.global(module!, name!), 0x29, 0x52]), { name: 'g.pt' }), ckptError(new RegExp(`^g\\.pt: refusing to load global ${module!.replaceAll('.', '\\.')}\\.${name} \\(not a tensor state-dict type\\)`)), `${module}.${name}`);
  }
});
