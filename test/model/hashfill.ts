/**
 * The deterministic fill of test/fixtures/model/make_avdit_golden.py: element i of tensor
 * `name` is an integer hash of (FNV-1a(name), i) mapped to (−amp, amp) and rounded to f32.
 */
import { tensor } from '../../engine/creation.ts';
import type { Backend } from '../../engine/backend.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Module } from '../../model/module.ts';

export function nameHash(name: string): number {
  let h = 2166136261;
  for (const ch of Buffer.from(name)) h = Math.imul(h ^ ch, 16777619) >>> 0;
  return h;
}

export function hashfill(name: string, n: number, amp: number): Float32Array {
  const h = nameHash(name);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 2654435761) >>> 0) + h;
    x = x >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x45d9f3b) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[i] = (x / 4294967296 - 0.5) * 2 * amp;
  }
  return out;
}

export function hashTensor(name: string, shape: number[], amp: number, backend?: Backend): Tensor {
  return tensor(hashfill(name, shape.reduce((a, b) => a * b, 1), amp), shape, backend ? { backend } : {});
}

/** The golden script's amplitude per parameter (null: fixed position embeddings, left as built). */
export function ampFor(name: string): number | null {
  if (name.endsWith('pos_embed')) return null;
  if (name.includes('embedding_table')) return 0.5;
  if (name.endsWith('bias') || name.includes('fusion_gate')) return 0.2;
  return 0.3;
}

/** Overwrite every parameter of `m` with the golden fill (keeps requiresGrad). */
export function fillModule(m: Module): void {
  for (const [k, p] of m.namedParameters()) {
    const amp = ampFor(k);
    if (amp === null) continue;
    const t = hashTensor(k, [...p.shape], amp, p.backend);
    p.assign(t);
    t.dispose();
  }
}
