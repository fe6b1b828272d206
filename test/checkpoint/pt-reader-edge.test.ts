// .pt reader: a bare tensor saved with torch.save(tensor) is named as such in the error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync } from 'fflate';
import { readPt } from '../../model/pt-reader.ts';
import { ckptError } from './helpers.ts';

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

test('a .pt holding a bare tensor says "a tensor, not a state dict"', () => {
  // torch 1.13: torch.save(torch.tensor([1., 2.]), 'bare.pt'), entries as torch wrote them.
  const pkl = hex(
    '800263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71002828580700000073746f72616765710163746f7263680a466c6f617453746f726167650a71025801000000307103580300000063707571044b02747105514b004b028571064b018571078963636f6c6c656374696f6e730a4f726465726564446963740a71082952710974710a52710b2e',
  );
  const pt = zipSync({ 'bare/data.pkl': [pkl, { level: 0 }], 'bare/data/0': [hex('0000803f00000040'), { level: 0 }], 'bare/version': [new TextEncoder().encode('3\n'), { level: 0 }] });
  assert.throws(() => readPt(pt, { name: 'bare.pt' }), ckptError(/^bare\.pt: the pickle holds a tensor, not a state dict/));
  assert.throws(() => readPt(pt, { name: 'bare.pt' }), (e: Error) => !/TensorRef/.test(e.message));
});
