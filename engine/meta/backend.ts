/**
 * The meta backend: storages with a size and no data. Building a model on it costs nothing, so
 * `avdit info --preset XL` can count 800M parameters without allocating them. Creation works;
 * any op that would compute data throws.
 */
import type { Backend, Storage } from '../backend.ts';
import type { DType, TypedArray } from '../dtype.ts';
import { BackendError } from '../errors.ts';

class MetaStorage implements Storage {
  refs = 0;
  constructor(readonly backend: Backend, readonly dtype: DType, readonly size: number) {}
}

function noData(op: string): never {
  throw new BackendError(`${op}: the meta backend holds shapes only, no data`);
}

const make = (b: Backend, dtype: DType, size: number): Storage => new MetaStorage(b, dtype, size);

export const metaBackend: Backend = {
  name: 'meta',
  device: 'shapes only',
  supportsDtype: () => true,
  precision: 'f32',
  setPrecision() {},
  fromArray(data: TypedArray, dtype: DType) { return make(this, dtype, data.length); },
  read: async () => noData('read'),
  free() {},
  fill(size, dtype) { return make(this, dtype, size); },
  cast(x, to) { return make(this, to, x.size); },
  random(_d, size, dtype) { return make(this, dtype, size); },
  unary(_op, x) { return make(this, x.dtype, x.size); },
  binary: () => noData('binary'),
  where: () => noData('where'),
  reduce: () => noData('reduce'),
  matmul: () => noData('matmul'),
  permute: () => noData('permute'),
  slice: () => noData('slice'),
  padSlice: () => noData('padSlice'),
  concat: () => noData('concat'),
  expand: () => noData('expand'),
  gather: () => noData('gather'),
  scatterAdd: () => noData('scatterAdd'),
  softmax: () => noData('softmax'),
  softmaxBwd: () => noData('softmaxBwd'),
  layerNorm: () => noData('layerNorm'),
  layerNormBwd: () => noData('layerNormBwd'),
  attention: () => noData('attention'),
  attentionBwd: () => noData('attentionBwd'),
  normModulate: () => noData('normModulate'),
  normModulateBwd: () => noData('normModulateBwd'),
  gatedAdd: () => noData('gatedAdd'),
  gatedAddBwd: () => noData('gatedAddBwd'),
  adamw: () => noData('adamw'),
  sync: async () => {},
  memory: () => ({ liveBytes: 0, pooledBytes: 0, peakBytes: 0 }),
  resetPeak() {},
  destroy: async () => {},
};
