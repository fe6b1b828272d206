/**
 * Reading PyTorch `.pt` state dicts (the zip format of torch.save since 1.6): `<prefix>/data.pkl`
 * (a pickle of the dict), `<prefix>/data/<key>` (one raw storage per key) and `<prefix>/byteorder`.
 * The unpickler accepts only the globals a tensor state dict needs (ALLOWED below) and refuses
 * every other one by name, so a malicious checkpoint is rejected, never run.
 *
 * Tensors come back as plain row-major typed arrays (storage offsets and strides applied):
 * f32/f16/bf16 → f32, f64 → f64, i64/i32/i16/i8/u8/bool → i32 (i64 values must fit).
 * A top-level dict that wraps the state dict under "ema"/"model"/"state_dict" is unwrapped.
 */
import type { TypedArray } from '../engine/dtype.ts';
import { openByteSource } from '../engine/io/byte-source.ts';
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';
import { describe as describePy, isPyGlobal, PyDict, pyGlobal, unpickle, type PyGlobal } from './pickle.ts';
import type { RawTensor } from '../engine/io/safetensors.ts';
import { decodeElements, engineDtypeOf, WIRE_BYTES, type WireDtype } from '../engine/io/wire-dtypes.ts';
import { looksLikeZip, ZipArchive } from './zip-reader.ts';

export interface PtReadOptions {
  /** Label for errors when reading a buffer. */
  name?: string;
  /**
   * Which dict to return: a top-level key (e.g. 'model', 'ema'), or null for the top-level dict
   * itself. Default: the top-level dict if it maps names to tensors, else 'ema', 'model', 'state_dict'.
   */
  key?: string | null;
}

export interface PtFile {
  tensors: Map<string, RawTensor>;
  /** The top-level key the tensors came from (null: the top-level dict). */
  key: string | null;
  /** The top-level dict's keys (to see what else a training checkpoint holds). */
  topKeys: unknown[];
  /** Each tensor's dtype in the file. */
  wire: Map<string, WireDtype>;
}

/** One storage file of the archive, as the pickle's persistent id names it. */
class StorageRef {
  constructor(readonly key: string, readonly wire: WireDtype, readonly numel: number) {}
}

/** A tensor view into a storage, not yet read. Offsets and strides are in elements. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

const STORAGE_TYPES: Record<string, WireDtype> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};
const DTYPES: Record<string, WireDtype> = {
  float32: 'F32', float: 'F32', float64: 'F64', double: 'F64', float16: 'F16', half: 'F16', bfloat16: 'BF16',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** Storage-type and dtype globals carry their wire dtype. */
const WIRE_OF = new WeakMap<PyGlobal, WireDtype>();

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** A pickled value in words, with this reader's own objects named as PyTorch users know them. */
function describe(v: unknown): string {
  if (v instanceof TensorRef) return 'a tensor';
  if (v instanceof StorageRef) return 'a storage';
  return describePy(v);
}

function intTuple(file: string, what: string, v: unknown): number[] {
  if (!Array.isArray(v) || !v.every((x) => isInt(x) && x >= 0)) throw new CheckpointError(file, undefined, `${what} ${describe(v)} is not a tuple of non-negative ints`);
  return v as number[];
}

function asTensorRef(file: string, fn: string, v: unknown): TensorRef {
  if (!(v instanceof TensorRef)) throw new CheckpointError(file, undefined, `${fn}: expected a tensor, got ${describe(v)}`);
  return v;
}

/** The allowed globals, with what REDUCE on them means here. Everything else is refused. */
function makeGlobals(file: string): (module: string, name: string) => PyGlobal {
  const table = new Map<string, PyGlobal>();
  const add = (module: string, name: string, call?: (args: readonly unknown[]) => unknown, wire?: WireDtype) => {
    const g = pyGlobal(module, name, call);
    if (wire) WIRE_OF.set(g, wire);
    table.set(`${module}.${name}`, g);
  };
  add('collections', 'OrderedDict', (args) => {
    const d = new PyDict();
    if (args.length > 0) {
      if (!Array.isArray(args[0])) throw new CheckpointError(file, undefined, 'OrderedDict(...) argument is not a list of pairs');
      for (const kv of args[0]) {
        if (!Array.isArray(kv) || kv.length !== 2) throw new CheckpointError(file, undefined, 'OrderedDict(...) item is not a pair');
        d.set(kv[0], kv[1]);
      }
    }
    return d;
  });
  add('torch._utils', '_rebuild_tensor_v2', (args) => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw new CheckpointError(file, undefined, `_rebuild_tensor_v2: storage is ${describe(storage)}`);
    if (!isInt(offset) || offset < 0) throw new CheckpointError(file, undefined, `_rebuild_tensor_v2: bad storage offset ${String(offset)}`);
    const shape = intTuple(file, '_rebuild_tensor_v2: size', size);
    const strides = intTuple(file, '_rebuild_tensor_v2: stride', stride);
    if (shape.length !== strides.length) throw new CheckpointError(file, undefined, `_rebuild_tensor_v2: size and stride lengths differ`);
    return new TensorRef(storage, offset, [...shape], [...strides]);
  });
  add('torch._utils', '_rebuild_parameter', (args) => asTensorRef(file, '_rebuild_parameter', args[0]));
  add('torch._utils', '_rebuild_parameter_with_state', (args) => asTensorRef(file, '_rebuild_parameter_with_state', args[0]));
  for (const [name, wire] of Object.entries(STORAGE_TYPES)) add('torch', name, undefined, wire);
  add('torch.storage', 'UntypedStorage', undefined, 'U8');
  add('torch', 'UntypedStorage', undefined, 'U8');
  for (const [name, wire] of Object.entries(DTYPES)) add('torch', name, undefined, wire);
  return (module, name) => {
    const g = table.get(`${module}.${name}`);
    if (!g) throw new CheckpointError(file, undefined, `refusing to load global ${module}.${name} (not a tensor state-dict type)`);
    return g;
  };
}

/** Read a `.pt` file (path) or buffer. */
export async function readPt(src: string | Uint8Array, opts: PtReadOptions = {}): Promise<PtFile> {
  const s = openByteSource(src, opts.name);
  let head: Uint8Array;
  try {
    head = s.read(0, Math.min(4, s.size), 'magic');
  } finally {
    s.close();
  }
  const file = s.name;
  if (!looksLikeZip(head)) {
    throw new CheckpointError(file, undefined, 'not a zip archive: a legacy (torch < 1.6) .pt file, or not a PyTorch checkpoint; re-save it with torch.save in torch >= 1.6');
  }
  const zip = await ZipArchive.open(src, file);
  try {
    return await readFrom(zip, file, opts);
  } finally {
    zip.close();
  }
}

async function readFrom(zip: ZipArchive, file: string, opts: PtReadOptions): Promise<PtFile> {
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw new CheckpointError(file, undefined, 'no <name>/data.pkl in the archive');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  let bigEndian = false;
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(await zip.read(`${prefix}byteorder`)).trim();
    if (order !== 'little' && order !== 'big') throw new CheckpointError(file, undefined, `unknown byteorder "${order}"`);
    bigEndian = order === 'big';
  }

  const storages = new Map<string, StorageRef>();
  const top = unpickle(await zip.read(pkl), {
    file,
    findGlobal: makeGlobals(file),
    persistentLoad(pid) {
      if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') throw new CheckpointError(file, undefined, `unknown persistent id ${describe(pid)}`);
      const [, type, key, , numel] = pid;
      const wire = isPyGlobal(type) ? WIRE_OF.get(type) : undefined;
      if (!wire) throw new CheckpointError(file, undefined, `persistent id names ${describe(type)}, not a storage type`);
      if (typeof key !== 'string' || !isInt(numel) || numel < 0) throw new CheckpointError(file, undefined, 'malformed storage persistent id');
      let ref = storages.get(key);
      if (!ref) storages.set(key, (ref = new StorageRef(key, wire, numel)));
      return ref;
    },
  });

  if (!(top instanceof PyDict)) {
    const hint = top instanceof TensorRef ? ' (saved with torch.save(tensor); save a dict such as model.state_dict())' : '';
    throw new CheckpointError(file, undefined, `the pickle holds ${describe(top)}, not a state dict${hint}`);
  }
  const { dict, key } = select(file, top, opts.key);

  // Every storage a tensor of the dict views, read once (several tensors may share one).
  const bytesOf = new Map<string, Uint8Array>();
  for (const [name, v] of dict) {
    if (typeof name !== 'string') throw new CheckpointError(file, undefined, `state-dict key ${describe(name)} is not a string`);
    if (!(v instanceof TensorRef)) throw new CheckpointError(file, name, `value is ${describe(v)}, not a tensor`);
    const st = v.storage;
    if (bytesOf.has(st.key)) continue;
    let b = await zip.read(`${prefix}data/${st.key}`);
    const el = WIRE_BYTES[st.wire];
    if (b.length % el !== 0) throw new CheckpointError(file, name, `storage ${st.key} has ${b.length} bytes, not a whole number of ${st.wire} elements`);
    if (bigEndian && el > 1) b = byteSwap(b, el);
    bytesOf.set(st.key, b);
  }

  const tensors = new Map<string, RawTensor>();
  const wire = new Map<string, WireDtype>();
  for (const [name, v] of dict as Map<string, TensorRef>) {
    const data = materialise(file, name, v, bytesOf.get(v.storage.key)!);
    tensors.set(name, { dtype: engineDtypeOf(v.storage.wire), shape: v.shape, data });
    wire.set(name, v.storage.wire);
  }
  return { tensors, key, topKeys: [...top.keys()], wire };
}

function isStateDict(d: PyDict): boolean {
  for (const [k, v] of d) if (typeof k !== 'string' || !(v instanceof TensorRef)) return false;
  return true;
}

function select(file: string, top: PyDict, key: string | null | undefined): { dict: PyDict; key: string | null } {
  const keys = [...top.keys()].map((k) => describe(k) === 'string' ? `"${k as string}"` : describe(k)).join(', ');
  if (key === null) return { dict: top, key: null };
  if (key !== undefined) {
    const d = top.get(key);
    if (!(d instanceof PyDict)) throw new CheckpointError(file, undefined, `no dict under key "${key}" (top-level keys: ${keys})`);
    return { dict: d, key };
  }
  if (isStateDict(top)) return { dict: top, key: null };
  for (const k of ['ema', 'model', 'state_dict']) {
    const d = top.get(k);
    if (d instanceof PyDict) return { dict: d, key: k };
  }
  throw new CheckpointError(file, undefined, `the top-level dict is not a state dict and has no "ema", "model" or "state_dict" (keys: ${keys})`);
}

/** Row-major data of a (possibly strided, offset) view into a storage's little-endian bytes. */
function materialise(file: string, name: string, t: TensorRef, bytes: Uint8Array): TypedArray {
  const w = t.storage.wire;
  const el = WIRE_BYTES[w];
  const storageLen = bytes.length / el;
  let n = 1;
  for (const d of t.shape) n *= d;
  if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) throw new CheckpointError(file, name, `shape [${t.shape.join(', ')}] is too large`);
  if (n === 0) return decodeElements(bytes.subarray(0, 0), w, 0, file, name);
  let last = t.offset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i]! - 1) * t.stride[i]!;
  if (last >= storageLen) {
    throw new CheckpointError(file, name, `view (offset ${t.offset}, shape [${t.shape.join(', ')}], stride [${t.stride.join(', ')}]) reaches element ${last} of a ${storageLen}-element storage`);
  }
  let contiguous = true;
  for (let i = t.shape.length - 1, expect = 1; i >= 0; i--) {
    if (t.shape[i]! !== 1 && t.stride[i]! !== expect) contiguous = false;
    expect *= t.shape[i]!;
  }
  if (contiguous) return decodeElements(bytes.subarray(t.offset * el, (t.offset + n) * el), w, n, file, name);
  const rank = t.shape.length;
  return decodeElements(bytes, w, n, file, name, (i) => {
    let at = t.offset;
    for (let d = rank - 1; d >= 0; d--) {
      const size = t.shape[d]!;
      at += (i % size) * t.stride[d]!;
      i = Math.floor(i / size);
    }
    return at;
  });
}

function byteSwap(b: Uint8Array, el: number): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i += el) for (let j = 0; j < el; j++) out[i + j] = b[i + el - 1 - j]!;
  return out;
}
