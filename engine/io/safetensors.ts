/**
 * The safetensors format: 8-byte little-endian header length N, an N-byte JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`
 * (offsets in bytes, relative to the end of the header), then the raw little-endian data.
 *
 * Reading: F32, F64, F16/BF16 (→ f32), I64 (→ i32 when every value fits), I32, I16, I8, U8, BOOL
 * (→ i32). Files are read with positioned reads, tensor by tensor, so large files work.
 * Writing: f32 → F32, f64 → F64, i32 → I32 or (asked for) I64; always atomic (see atomic-write.ts).
 * Every malformed file gives a CheckpointError naming the file and the tensor.
 */
import type { Backend } from '../backend.ts';
import type { DType, TypedArray } from '../dtype.ts';
import { tensor as makeTensor } from '../creation.ts';
import type { Tensor } from '../tensor.ts';
import { AtomicWriteError, writeFileAtomic } from './atomic-write.ts';
import { openByteSource, type ByteSource } from './byte-source.ts';
import { CheckpointError } from './checkpoint-errors.ts';
import { decodeElements, encodeElements, isWireDtype, WIRE_BYTES, type WireDtype } from './wire-dtypes.ts';

/** A tensor as plain data: row-major `data` of `shape` (0-d: shape []). */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** What the writer takes: a name → tensor record or map. */
export type TensorsIn = Record<string, { dtype: DType; shape: readonly number[]; data: TypedArray }> | Map<string, { dtype: DType; shape: readonly number[]; data: TypedArray }>;

export interface WriteOptions {
  /** How i32 tensors are stored: 'I32' (default) or 'I64' (as PyTorch's long), globally or per name. */
  i32As?: 'I32' | 'I64' | ((name: string) => 'I32' | 'I64');
}

/** One header entry: where a tensor's bytes are, relative to the start of the data section. */
export interface HeaderEntry {
  name: string;
  wire: WireDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  /** File offset of the data section (8 + N). */
  dataStart: number;
}

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
  /** The dtype each tensor had on disk. */
  wire: Map<string, WireDtype>;
}

export interface ReadOptions {
  /** Label for errors when reading a buffer (default '<buffer>'). */
  name?: string;
  /** Read only the tensors this accepts (all by default). */
  only?: (name: string) => boolean;
}

/** Headers larger than this are refused (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Element count of a shape, with each dimension checked (a non-negative safe integer). */
function elementCount(file: string, name: string, shape: unknown): number {
  if (!Array.isArray(shape)) throw new CheckpointError(file, name, `shape ${JSON.stringify(shape)} is not an array`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw new CheckpointError(file, name, `bad shape ${JSON.stringify(shape)}`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new CheckpointError(file, name, `shape ${JSON.stringify(shape)} is too large`);
  }
  return n;
}

/** Index just past the JSON string starting at `text[i]` (a '"'). */
function endOfString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j + 1;
}

/**
 * The keys of the top-level object of `text`, in order and with repeats (which JSON.parse would
 * collapse), decoded (so "a" and "\u0061" are the same key). `text` must be valid JSON holding an
 * object: call this after JSON.parse has accepted it.
 */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  const isWs = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  let i = text.indexOf('{') + 1;
  for (;;) {
    while (isWs(text[i])) i++;
    if (text[i] !== '"') return keys; // '}' of an empty object
    const start = i;
    i = endOfString(text, i);
    keys.push(JSON.parse(text.slice(start, i)) as string);
    i = text.indexOf(':', i) + 1;
    // Skip the value: strings whole, brackets counted, up to the ',' or '}' at this level.
    let depth = 0;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = endOfString(text, i) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        if (depth === 0) return keys;
        depth--;
      } else if (c === ',' && depth === 0) break;
    }
    i++;
  }
}

function parseHeader(src: ByteSource): SafetensorsHeader {
  const file = src.name;
  if (src.size < 8) throw new CheckpointError(file, undefined, `truncated: ${src.size} bytes, too short for the 8-byte header length`);
  const lenBytes = src.read(0, 8, 'header length');
  const len = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (len > BigInt(src.size - 8)) throw new CheckpointError(file, undefined, `header length ${len} goes beyond the file (${src.size} bytes)`);
  if (len > BigInt(MAX_HEADER)) throw new CheckpointError(file, undefined, `header length ${len} exceeds the ${MAX_HEADER}-byte limit`);
  const n = Number(len);
  let json: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, n, 'header'));
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, undefined, `header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isObj(json)) throw new CheckpointError(file, undefined, 'header is not a JSON object');
  // JSON.parse keeps the last of repeated keys, silently dropping a tensor: refuse them.
  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) throw new CheckpointError(file, k === '__metadata__' ? undefined : k, k === '__metadata__' ? 'the header has "__metadata__" more than once' : 'the header lists this tensor more than once');
    seen.add(k);
  }
  const dataStart = 8 + n;
  const dataSize = src.size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObj(v)) throw new CheckpointError(file, undefined, '__metadata__ is not an object');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new CheckpointError(file, undefined, `__metadata__["${k}"] is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (!isObj(v)) throw new CheckpointError(file, name, 'header entry is not an object');
    if (!isWireDtype(v.dtype)) throw new CheckpointError(file, name, `unknown dtype ${JSON.stringify(v.dtype)}`);
    const count = elementCount(file, name, v.shape);
    const off = v.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      throw new CheckpointError(file, name, `bad data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (begin > end || end > dataSize) {
      throw new CheckpointError(file, name, `data_offsets [${begin}, ${end}] out of range (data section has ${dataSize} bytes)`);
    }
    if (end - begin !== count * WIRE_BYTES[v.dtype]) {
      throw new CheckpointError(file, name, `shape ${JSON.stringify(v.shape)} of ${v.dtype} needs ${count * WIRE_BYTES[v.dtype]} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name, wire: v.dtype, shape: v.shape as number[], begin, end });
  }
  // The format requires the tensors to cover the data section exactly: in offset order each one
  // starts where the previous ended (the first at 0), and the last ends at the end of the file.
  // Overlaps would alias two tensors; gaps and trailing bytes are data no tensor owns.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 0; i < sorted.length; i++) {
    const a = i > 0 ? sorted[i - 1]! : undefined, b = sorted[i]!;
    const expect = a ? a.end : 0;
    if (a && b.begin < a.end) throw new CheckpointError(file, b.name, `data_offsets [${b.begin}, ${b.end}] overlap tensor "${a.name}" [${a.begin}, ${a.end}]`);
    if (b.begin > expect) {
      throw new CheckpointError(file, b.name, `data_offsets [${b.begin}, ${b.end}] leave bytes ${expect}..${b.begin} of the data section unused (${a ? `after tensor "${a.name}" [${a.begin}, ${a.end}]` : 'before the first tensor'}); the tensors must cover the data without gaps`);
    }
  }
  const last = sorted[sorted.length - 1];
  if ((last?.end ?? 0) !== dataSize) {
    const end = last?.end ?? 0;
    throw new CheckpointError(file, last?.name, `${last ? `data_offsets [${last.begin}, ${last.end}] end` : 'no tensor data ends'} at byte ${end} of a ${dataSize}-byte data section: bytes ${end}..${dataSize} are unused (trailing data or a corrupt header)`);
  }
  return { entries, metadata, dataStart };
}

/** The header only (names, dtypes, shapes, metadata), without reading tensor data. */
export function readSafetensorsHeader(src: string | Uint8Array, opts: ReadOptions = {}): SafetensorsHeader {
  const s = openByteSource(src, opts.name);
  try {
    return parseHeader(s);
  } finally {
    s.close();
  }
}

/** Read a safetensors file (path) or buffer into plain typed arrays. */
export function readSafetensors(src: string | Uint8Array, opts: ReadOptions = {}): SafetensorsFile {
  const s = openByteSource(src, opts.name);
  try {
    const h = parseHeader(s);
    const tensors = new Map<string, RawTensor>();
    const wire = new Map<string, WireDtype>();
    for (const e of h.entries) {
      if (opts.only && !opts.only(e.name)) continue;
      const count = (e.end - e.begin) / WIRE_BYTES[e.wire];
      const bytes = s.read(h.dataStart + e.begin, e.end - e.begin, `tensor "${e.name}"`);
      const data = decodeElements(bytes, e.wire, count, s.name, e.name);
      tensors.set(e.name, { dtype: data instanceof Float64Array ? 'f64' : data instanceof Int32Array ? 'i32' : 'f32', shape: e.shape, data });
      wire.set(e.name, e.wire);
    }
    return { tensors, metadata: h.metadata, wire };
  } finally {
    s.close();
  }
}

const ARRAY_OF: Record<DType, Function> = { f32: Float32Array, f64: Float64Array, i32: Int32Array };

/** Header bytes (space-padded to a multiple of 8) and the data chunks, in file order. */
function encodeParts(tensors: TensorsIn, metadata: Record<string, string> | undefined, opts: WriteOptions, file: string): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new CheckpointError(file, undefined, `metadata "${k}" is not a string`);
    }
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new CheckpointError(file, name, 'the name __metadata__ is reserved');
    const ctor = Object.hasOwn(ARRAY_OF, t.dtype) ? ARRAY_OF[t.dtype] : undefined;
    if (!ctor || !(t.data instanceof ctor)) throw new CheckpointError(file, name, `data is a ${t.data?.constructor?.name} but dtype is ${t.dtype}`);
    const count = elementCount(file, name, [...t.shape]);
    if (count !== t.data.length) throw new CheckpointError(file, name, `shape [${t.shape.join(', ')}] has ${count} elements but data has ${t.data.length}`);
    const asI64 = typeof opts.i32As === 'function' ? opts.i32As(name) : opts.i32As;
    const w = t.dtype === 'f32' ? 'F32' : t.dtype === 'f64' ? 'F64' : asI64 === 'I64' ? 'I64' : 'I32';
    const bytes = encodeElements(t.data, w);
    header[name] = { dtype: w, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  const jsonBytes = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (jsonBytes.length % 8)) % 8;
  // Readers (this one and the reference implementation) refuse longer headers: do not write one.
  if (jsonBytes.length + pad > MAX_HEADER) {
    throw new CheckpointError(file, undefined, `header (tensor entries and metadata) would be ${jsonBytes.length + pad} bytes, over the ${MAX_HEADER}-byte limit that safetensors readers accept`);
  }
  const head = new Uint8Array(8 + jsonBytes.length + pad).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(jsonBytes.length + pad), true);
  head.set(jsonBytes, 8);
  return [head, ...chunks];
}

/** The whole file as one buffer (for small files and tests). */
export function encodeSafetensors(tensors: TensorsIn, metadata?: Record<string, string>, opts: WriteOptions = {}): Uint8Array {
  const parts = encodeParts(tensors, metadata, opts, '<buffer>');
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Write `tensors` (and string metadata) to `path` atomically: temp file, fsync, rename, fsync folder. */
export function writeSafetensors(path: string, tensors: TensorsIn, metadata?: Record<string, string>, opts: WriteOptions = {}): void {
  if (typeof path !== 'string' || path === '') throw new CheckpointError(JSON.stringify(path) ?? String(path), undefined, 'the output path is empty');
  const parts = encodeParts(tensors, metadata, opts, path);
  try {
    writeFileAtomic(path, parts);
  } catch (e) {
    // I/O failures name the target and say why (the temp file's name means nothing to callers).
    if (e instanceof AtomicWriteError) throw new CheckpointError(path, undefined, `cannot write: ${e.reason}`, { cause: e.cause ?? e });
    throw e;
  }
}

/** Plain tensors → engine Tensors on `backend` (the default backend if omitted). */
export function toTensors(raw: Map<string, RawTensor>, backend?: Backend): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, r] of raw) {
    const t = makeTensor(r.data, r.shape, { dtype: r.dtype, ...(backend ? { backend } : {}) });
    t.name = name;
    out.set(name, t);
  }
  return out;
}

/** Engine Tensors → plain tensors (reads GPU tensors back), ready for `writeSafetensors`. */
export async function fromTensors(tensors: Map<string, Tensor> | Record<string, Tensor>): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [name, t] of tensors instanceof Map ? tensors : Object.entries(tensors)) {
    out.set(name, { dtype: t.dtype, shape: [...t.shape], data: await t.toArray() });
  }
  return out;
}
