/**
 * A census of backend ops: wrap a backend so that every op call is counted, per op (and variant:
 * the unary/binary/reduce op, the matmul's transposes and bias), with the bytes of the storages it
 * reads (arrays of them included, as AdamW's) and makes, and the matmul FLOPs. On the
 * memory-accounting backend this says what a whole XL step asks of a device without one
 * (bench/census-xl.ts).
 */
import type { Backend, Storage } from '../backend.ts';
import { BYTES_PER_ELEMENT } from '../dtype.ts';

export interface Tally {
  calls: number;
  bytes: number;
  flops: number;
}

const isStorage = (v: unknown): v is Storage => typeof v === 'object' && v !== null && 'dtype' in v && 'size' in v && 'backend' in v;
const bytesOf = (s: Storage): number => s.size * BYTES_PER_ELEMENT[s.dtype];
/** Storages inside a result (a storage, or an object of storages; shared ones counted once). */
function outputs(r: unknown): Storage[] {
  if (isStorage(r)) return [r];
  if (typeof r !== 'object' || r === null) return [];
  return [...new Set(Object.values(r).filter(isStorage))];
}

const NOT_OPS = new Set(['name', 'device', 'precision', 'allocations', 'supportsDtype', 'setPrecision', 'read', 'free', 'sync', 'memory', 'resetPeak', 'destroy']);

/**
 * Count every op of `b` into `tallies` (keyed op or op/variant). The methods are wrapped in place:
 * storages name the backend that made them, and ops reach it through them.
 */
export function addCensus(b: Backend, tallies: Map<string, Tally>): Backend {
  const methods = b as unknown as Record<string, unknown>;
  for (const prop of Object.keys(b)) {
    const v = methods[prop];
    if (typeof v !== 'function' || NOT_OPS.has(prop)) continue;
    methods[prop] = (...args: unknown[]) => {
      const r = (v as (...a: unknown[]) => unknown).apply(b, args);
      let key = prop;
      let flops = 0;
      if (typeof args[0] === 'string') key += `/${args[0]}`;
      if (prop === 'matmul') {
        const [, aShape, , , transA, transB, outShape, bias] = args as [Storage, number[], Storage, number[], boolean, boolean, number[], Storage | null];
        const K = transA ? aShape[aShape.length - 2]! : aShape[aShape.length - 1]!;
        flops = 2 * K * outShape.reduce((p, d) => p * d, 1);
        key += `/${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${bias ? '+bias' : ''}`;
      }
      const ins = args.flatMap((a) => (Array.isArray(a) ? a.filter(isStorage) : isStorage(a) ? [a] : []));
      const bytes = [...ins, ...outputs(r)].reduce((n, s) => n + bytesOf(s), 0);
      const t = tallies.get(key) ?? { calls: 0, bytes: 0, flops: 0 };
      t.calls++;
      t.bytes += bytes;
      t.flops += flops;
      tallies.set(key, t);
      return r;
    };
  }
  return b;
}

