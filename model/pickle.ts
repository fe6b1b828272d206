/**
 * A restricted unpickler (protocols 2–5, binary opcodes only): it turns a pickle into plain JS
 * values and never runs anything. Python values become:
 *   int → number (bigint past 2^53), float → number, str → string, bytes → Uint8Array,
 *   bool/None → boolean/null, list → array, tuple → frozen array, dict → PyDict (a Map).
 * Every GLOBAL goes through the caller's `findGlobal`, which returns a `PyGlobal` (something
 * REDUCE/NEWOBJ may call, with plain JS semantics chosen by the caller) or throws; a global it
 * does not know is refused. Persistent ids (BINPERSID) go to the caller's `persistentLoad`.
 * Malformed input of any kind gives a CheckpointError naming the file and the byte offset.
 */
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';

/** A Python dict (insertion-ordered) plus the attributes a BUILD set on it (OrderedDict._metadata). */
export class PyDict extends Map<unknown, unknown> {
  readonly attrs = new Map<string, unknown>();
}

/** A Python global the caller allowed: `call` does what REDUCE/NEWOBJ on it should (returns a JS value). */
export interface PyGlobal {
  readonly module: string;
  readonly name: string;
  call?(args: readonly unknown[]): unknown;
}

export function isPyGlobal(v: unknown): v is PyGlobal {
  return typeof v === 'object' && v !== null && (v as PyGlobal).module !== undefined && (v as PyGlobal).name !== undefined && Object.getPrototypeOf(v) === GlobalProto;
}
const GlobalProto = {};
/** Make a PyGlobal (the only kind `isPyGlobal` accepts). */
export function pyGlobal(module: string, name: string, call?: (args: readonly unknown[]) => unknown): PyGlobal {
  return Object.assign(Object.create(GlobalProto) as object, { module, name, ...(call ? { call } : {}) }) as PyGlobal;
}

/** A value BUILD may update: objects the caller made may define `setState`. */
interface Buildable {
  setState(state: unknown): void;
}

export interface UnpickleOptions {
  /** File name for errors. */
  file: string;
  /** Resolve `module.name`, or throw a CheckpointError refusing it. */
  findGlobal(module: string, name: string): PyGlobal;
  /** Resolve a persistent id (BINPERSID); absent, persistent ids are refused. */
  persistentLoad?(pid: unknown): unknown;
}

const MARK = Symbol('mark');

/** Unpickle `bytes` into a JS value (see the module comment for the mapping). */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;
  let opPos = 0;

  const fail = (msg: string): never => {
    throw new CheckpointError(opts.file, undefined, `pickle: ${msg} (opcode at byte ${opPos})`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated: needs ${n} more bytes at byte ${pos}, pickle has ${bytes.length}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const i32 = () => view.getInt32(need(4), true);
  const u64 = () => {
    const v = view.getBigUint64(need(8), true);
    return v > BigInt(bytes.length) ? fail(`length ${v} exceeds the pickle`) : Number(v);
  };
  const take = (n: number) => bytes.subarray(need(n), pos);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated: unterminated text line');
    const s = utf8.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m!);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const memoGet = (i: number): unknown => (memo.has(i) ? memo.get(i) : fail(`memo entry ${i} is not set`));
  const dictOf = (v: unknown): PyDict => (v instanceof PyDict ? v : fail(`expected a dict, got ${describe(v)}`));
  const listOf = (v: unknown): unknown[] => (Array.isArray(v) && !Object.isFrozen(v) ? v : fail(`expected a list, got ${describe(v)}`));
  const hashable = (k: unknown): unknown => (k instanceof PyDict || (Array.isArray(k) && !Object.isFrozen(k)) ? fail('unhashable dict key') : k);
  const callGlobal = (f: unknown, args: unknown): unknown => {
    if (!isPyGlobal(f)) return fail(`cannot call ${describe(f)}`);
    if (!Array.isArray(args)) return fail(`arguments of ${f.module}.${f.name} are not a tuple`);
    if (!f.call) return fail(`${f.module}.${f.name} is not callable here`);
    return f.call(args);
  };
  const global = (module: string, name: string) => opts.findGlobal(module, name);

  for (;;) {
    opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: need(8); break; // FRAME (a length hint only)
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length > 0) fail(`STOP with ${stack.length} values on the stack`);
        return stack[0];
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: stack.push(memoGet(u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(u32())); break; // LONG_BINGET
      case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(Object.freeze([])); break; // EMPTY_TUPLE
      case 0x74: stack.push(Object.freeze(popMark())); break; // TUPLE
      case 0x85: stack.push(Object.freeze([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push(Object.freeze([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(Object.freeze([a, b, c])); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) fail('DICT with an odd number of items');
        const d = new PyDict();
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]), items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        dictOf(top()).set(hashable(k), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        const d = dictOf(top());
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]), items[i + 1]);
        break;
      }
      case 0x61: { const v = pop(); listOf(top()).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); const l = listOf(top()); for (const x of items) l.push(x); break; } // APPENDS
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(long(take(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); stack.push(long(take(n))); break; } // LONG4
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x54: { const n = i32(); stack.push(latin1(take(n))); break; } // BINSTRING
      case 0x55: stack.push(latin1(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(new Uint8Array(take(u32()))); break; // BINBYTES
      case 0x43: stack.push(new Uint8Array(take(u8()))); break; // SHORT_BINBYTES
      case 0x8e: stack.push(new Uint8Array(take(u64()))); break; // BINBYTES8
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x52: { const args = pop(); const f = pop(); stack.push(callGlobal(f, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(callGlobal(cls, args)); break; } // NEWOBJ
      case 0x62: { // BUILD
        const state = pop();
        const target = top();
        if (target instanceof PyDict && state instanceof PyDict) {
          for (const [k, v] of state) {
            if (typeof k !== 'string') fail('BUILD state has a non-string attribute name');
            target.attrs.set(k as string, v);
          }
        } else if (typeof target === 'object' && target !== null && typeof (target as Partial<Buildable>).setState === 'function') {
          (target as Buildable).setState(state);
        } else if (state !== null) {
          fail(`cannot BUILD ${describe(target)}`);
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent ids are not allowed here');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default:
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (isPyGlobal(v)) return `${v.module}.${v.name}`;
  if (v instanceof PyDict) return 'a dict';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
