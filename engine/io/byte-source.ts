/**
 * Random-access bytes of a checkpoint: a file read with positioned reads (so files over 2 GiB,
 * such as DiT-XL's 2.7 GB, work without loading them whole) or an in-memory buffer.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CheckpointError } from './checkpoint-errors.ts';

export interface ByteSource {
  /** The file path, or a label for a buffer; used in error messages. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** `length` bytes from `offset`, as a fresh Uint8Array whose byteOffset is 0 (so typed views over it are aligned). */
  read(offset: number, length: number, what?: string): Uint8Array;
  /** Release the file (a second call does nothing). */
  close(): void;
}

/** Largest single readSync (Node caps one read at 2 GiB − 1). */
const CHUNK = 1 << 30;

function checkRange(name: string, size: number, offset: number, length: number, what: string | undefined): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new CheckpointError(name, undefined, `truncated: ${what ?? 'read'} needs bytes [${offset}, ${offset + length}) but the file has ${size}`);
  }
}

/** Open a path (read lazily) or wrap a buffer. `name` overrides the label used in errors. */
export function openByteSource(src: string | Uint8Array, name?: string): ByteSource {
  if (typeof src !== 'string') {
    const label = name ?? '<buffer>';
    return {
      name: label,
      size: src.length,
      read(offset, length, what) {
        checkRange(label, src.length, offset, length, what);
        return new Uint8Array(src.subarray(offset, offset + length));
      },
      close() {},
    };
  }
  const label = name ?? src;
  let fd: number;
  try {
    fd = openSync(src, 'r');
  } catch (e) {
    throw new CheckpointError(label, undefined, `cannot open: ${(e as Error).message}`);
  }
  const st = fstatSync(fd);
  if (st.isDirectory()) {
    closeSync(fd);
    throw new CheckpointError(label, undefined, 'is a folder, not a file');
  }
  const size = st.size;
  return {
    name: label,
    size,
    read(offset, length, what) {
      checkRange(label, size, offset, length, what);
      const out = new Uint8Array(length);
      for (let done = 0; done < length; ) {
        const n = readSync(fd, out, done, Math.min(CHUNK, length - done), offset + done);
        if (n === 0) throw new CheckpointError(label, undefined, `truncated: file ended while reading ${what ?? 'data'}`);
        done += n;
      }
      return out;
    },
    close() {
      if (fd < 0) return; // closing twice is harmless
      closeSync(fd);
      fd = -1;
    },
  };
}
