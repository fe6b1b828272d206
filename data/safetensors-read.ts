/**
 * A minimal safetensors reader (F32, I32, I64 only) so data/ need not import model/.
 * Format: u64 little-endian header length n, n bytes of JSON {name: {dtype, shape, data_offsets:
 * [begin, end]}, "__metadata__"?: {string: string}}, then the raw little-endian tensor bytes, the
 * offsets relative to the end of the header. Every inconsistency throws naming the file.
 */
import { readFileSync } from 'node:fs';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export type StDtype = 'F32' | 'I32' | 'I64';

export interface StTensor {
  dtype: StDtype;
  shape: number[];
  /** F32 → Float32Array, I32 → Int32Array, I64 → BigInt64Array (copies, aligned). */
  data: Float32Array | Int32Array | BigInt64Array;
}

const BYTES: Record<StDtype, number> = { F32: 4, I32: 4, I64: 8 };

export function parseSafetensors(bytes: Uint8Array, file = 'safetensors'): { tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${file}: ${msg}`);
  };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes, too short for the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > bytes.length - 8) fail(`header length ${n} exceeds the file (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header is not a JSON object');
  const base = 8 + n;
  const tensors = new Map<string, StTensor>();
  const spans: [number, number, string][] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('__metadata__ is not an object');
      for (const [k, x] of Object.entries(v as object)) if (typeof x !== 'string') fail(`__metadata__["${k}"] is not a string`);
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) fail(`entry "${name}" is not an object`);
    const dtype = e.dtype as string;
    if (!(dtype in BYTES)) fail(`tensor "${name}" has dtype ${String(e.dtype)}; only F32, I32 and I64 are read here`);
    const shape = e.shape as number[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor "${name}" has a bad shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets as number[];
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1]! < off[0]!) fail(`tensor "${name}" has bad data_offsets ${JSON.stringify(e.data_offsets)}`);
    const size = shape.reduce((a, b) => a * b, 1);
    const want = size * BYTES[dtype as StDtype];
    if (off[1]! - off[0]! !== want) fail(`tensor "${name}" (${dtype} [${shape.join(', ')}]) needs ${want} bytes but its offsets span ${off[1]! - off[0]!}`);
    if (base + off[1]! > bytes.length) fail(`tensor "${name}" ends at byte ${base + off[1]!}, past the end of the file (${bytes.length}); truncated?`);
    // Copy into a fresh buffer (aligned for typed arrays; note Buffer#slice would be a view).
    const raw = new Uint8Array(bytes.subarray(base + off[0]!, base + off[1]!));
    const data = dtype === 'F32' ? new Float32Array(raw.buffer) : dtype === 'I32' ? new Int32Array(raw.buffer) : new BigInt64Array(raw.buffer);
    tensors.set(name, { dtype: dtype as StDtype, shape, data });
    spans.push([off[0]!, off[1]!, name]);
  }
  // The tensors must cover the data section exactly, in some order, without gaps or overlaps (as
  // the format requires): otherwise the file was cut, padded or written wrong (a header with a key
  // twice keeps only the last, leaving the first one's bytes as a gap).
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let end = 0;
  for (const [b, e, name] of spans) {
    if (b !== end) fail(b < end ? `tensor "${name}" overlaps the one before it (bytes ${b}..${e} of the data)` : `bytes ${end}..${b} of the data belong to no tensor (before "${name}")`);
    end = e;
  }
  if (base + end !== bytes.length) fail(`${bytes.length - base - end} bytes after the last tensor belong to no tensor`);
  return { tensors, metadata };
}

export function readSafetensorsFile(path: string): { tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    // Node's messages (EISDIR, EACCES, …) do not name the path.
    const err = e as NodeJS.ErrnoException;
    throw new SafetensorsError(err.code === 'EISDIR' ? `${path}: is a folder, not a safetensors file` : `${path}: cannot read the file (${err.message})`);
  }
  return parseSafetensors(bytes, path);
}
