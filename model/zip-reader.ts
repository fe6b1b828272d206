/**
 * Reading the entries of a zip archive (PyTorch's `.pt`: stored entries, zip64 when large) through
 * yauzl, a well-kept zip reader: it reads the central directory and then each entry by position,
 * so a multi-GB checkpoint (DiT-XL's 2.7 GB) never needs a whole-file buffer, checks each entry's
 * local header and sizes, and inflates deflated entries (Node's zlib). Whatever goes wrong in the
 * archive (truncated, corrupt, a zip bomb) becomes a CheckpointError naming the file.
 */
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { openByteSource, type ByteSource } from '../engine/io/byte-source.ts';
import { CheckpointError } from '../engine/io/checkpoint-errors.ts';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
}

/** Whether `head` (the first bytes of a file) starts like a zip archive. */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** Deflate expands at most ~1032:1: an entry claiming more is corrupt (and must not allocate). */
const MAX_DEFLATE_RATIO = 1032;

// lazyEntries: entries one at a time (eachEntry); autoClose off: entries are read after the
// listing. File names are not required to be portable paths: nothing is extracted to disk.
const OPTIONS: yauzl.Options = { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false };

/** Bytes of an entry per positioned read (4 MiB). */
const CHUNK = 1 << 22;

/**
 * yauzl's reads go through our ByteSource (positioned reads with their range checked: a damaged
 * offset becomes an error yauzl reports, where its own file reader let Node throw out of a callback).
 */
class SourceReader extends yauzl.RandomAccessReader {
  constructor(readonly src: ByteSource) {
    super();
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    let err: Error | null = null;
    try {
      buffer.set(this.src.read(position, length, 'zip record'), offset);
    } catch (e) {
      err = e as Error;
    }
    setImmediate(() => callback(err));
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const src = this.src;
    let at = start;
    return new Readable({
      read() {
        try {
          if (at >= end) return void this.push(null);
          const n = Math.min(CHUNK, end - at);
          const b = src.read(at, n, 'zip entry');
          at += n;
          this.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
        } catch (e) {
          this.destroy(e as Error);
        }
      },
    });
  }

  override close(callback: (err: Error | null) => void): void {
    this.src.close();
    setImmediate(() => callback(null));
  }
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  readonly #raw = new Map<string, yauzl.Entry>();
  readonly #zip: yauzl.ZipFile;
  readonly #label: string;

  private constructor(zip: yauzl.ZipFile, label: string) {
    this.#zip = zip;
    this.#label = label;
    // An 'error' event with no listener would throw out of an event handler and end the
    // process; every error that matters also reaches the promise of the read that caused it.
    zip.on('error', () => {});
  }

  /** Open a zip file (path) or buffer and list its entries; `label` names it in errors. */
  static async open(src: string | Uint8Array, label: string): Promise<ZipArchive> {
    const source = openByteSource(src, label); // a missing file: "cannot open", naming it
    let zip: yauzl.ZipFile;
    try {
      zip = await yauzl.fromRandomAccessReaderPromise(new SourceReader(source), source.size, OPTIONS);
    } catch (e) {
      source.close();
      throw e instanceof CheckpointError ? e : new CheckpointError(label, undefined, `zip: ${(e as Error).message}`);
    }
    const archive = new ZipArchive(zip, label);
    try {
      for await (const e of zip.eachEntry()) {
        archive.#raw.set(e.fileName, e);
        archive.entries.set(e.fileName, { name: e.fileName, method: e.compressionMethod, compressedSize: e.compressedSize, size: e.uncompressedSize });
      }
    } catch (e) {
      archive.close();
      archive.#fail((e as Error).message);
    }
    return archive;
  }

  #fail(msg: string): never {
    throw new CheckpointError(this.#label, undefined, `zip: ${msg}`);
  }

  /** The uncompressed bytes of entry `name` (a fresh array: typed views over it are aligned). */
  async read(name: string): Promise<Uint8Array> {
    const e = this.#raw.get(name);
    if (!e) this.#fail(`no entry "${name}"`);
    const method = e.compressionMethod;
    if (method !== 0 && method !== 8) this.#fail(`entry "${name}" uses compression method ${method} (only stored and deflate are supported)`);
    if (method === 0 && e.uncompressedSize !== e.compressedSize) this.#fail(`stored entry "${name}" has sizes ${e.compressedSize} and ${e.uncompressedSize}`);
    if (e.uncompressedSize > e.compressedSize * MAX_DEFLATE_RATIO + 1024) this.#fail(`entry "${name}" claims ${e.uncompressedSize} bytes from ${e.compressedSize} compressed`);
    let out: Uint8Array;
    try {
      out = new Uint8Array(e.uncompressedSize);
    } catch {
      this.#fail(`entry "${name}" (${e.uncompressedSize} bytes) is too large to read`);
    }
    let at = 0;
    try {
      const stream: Readable = await this.#zip.openReadStreamPromise(e);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (at + chunk.length > out.length) throw new Error(`more than the ${out.length} bytes its header gives`);
        out.set(chunk, at);
        at += chunk.length;
      }
    } catch (err) {
      this.#fail(`cannot read entry "${name}": ${(err as Error).message}`);
    }
    if (at !== out.length) this.#fail(`entry "${name}" holds ${at} bytes, its header says ${out.length}`);
    return out;
  }

  close(): void {
    if (this.#zip.isOpen) this.#zip.close();
  }
}
