/**
 * Reading entries of a zip archive (as PyTorch writes them: stored entries, zip64 when large)
 * from a ByteSource with positioned reads, so multi-GB checkpoints need no whole-file buffer.
 * Deflated entries are inflated with fflate. Corrupt archives give a CheckpointError.
 */
import { inflateSync } from 'fflate';
import type { ByteSource } from './byte-source.ts';
import { CheckpointError } from './checkpoint-errors.ts';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

/** Whether `head` (the first bytes of a file) starts like a zip archive. */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  readonly #src: ByteSource;

  constructor(src: ByteSource) {
    this.#src = src;
    this.#readDirectory();
  }

  #fail(msg: string): never {
    throw new CheckpointError(this.#src.name, undefined, `zip: ${msg}`);
  }

  #readDirectory(): void {
    const src = this.#src;
    const tailLen = Math.min(src.size, 22 + 0xffff);
    const tail = src.read(src.size - tailLen, tailLen, 'zip end record');
    const tv = new DataView(tail.buffer);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.#fail('no end-of-central-directory record (not a zip, or truncated)');
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locAt = src.size - tailLen + eocd - 20;
      if (locAt < 0) this.#fail('zip64 locator missing');
      const loc = new DataView(src.read(locAt, 20, 'zip64 locator').buffer);
      if (loc.getUint32(0, true) !== 0x07064b50) this.#fail('zip64 locator missing');
      const z64At = this.#num(loc.getBigUint64(8, true));
      const z = new DataView(src.read(z64At, 56, 'zip64 end record').buffer);
      if (z.getUint32(0, true) !== 0x06064b50) this.#fail('bad zip64 end record');
      count = this.#num(z.getBigUint64(32, true));
      cdSize = this.#num(z.getBigUint64(40, true));
      cdOffset = this.#num(z.getBigUint64(48, true));
    }
    if (count > cdSize / 46) this.#fail(`${count} entries cannot fit a ${cdSize}-byte central directory`);
    const cd = src.read(cdOffset, cdSize, 'central directory');
    const v = new DataView(cd.buffer);
    const utf8 = new TextDecoder('utf-8');
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || v.getUint32(p, true) !== 0x02014b50) this.#fail(`bad central directory entry ${i}`);
      const method = v.getUint16(p + 10, true);
      let compressedSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true), extraLen = v.getUint16(p + 30, true), commentLen = v.getUint16(p + 32, true);
      let headerOffset = v.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cdSize) this.#fail(`central directory entry ${i} runs past the directory`);
      const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // zip64 extra field: the 64-bit values of whichever fields are 0xffffffff, in this order.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
        const id = v.getUint16(e, true), len = v.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          const next = (): number => {
            if (q + 8 > e + 4 + len || q + 8 > cdSize) this.#fail(`short zip64 field in entry "${name}"`);
            q += 8;
            return this.#num(v.getBigUint64(q - 8, true));
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (headerOffset === 0xffffffff) headerOffset = next();
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, headerOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  #num(v: bigint): number {
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? this.#fail(`size ${v} is too large`) : Number(v);
  }

  /** The uncompressed bytes of entry `name`. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.#fail(`no entry "${name}"`);
    const h = new DataView(this.#src.read(e.headerOffset, 30, `local header of "${name}"`).buffer);
    if (h.getUint32(0, true) !== 0x04034b50) this.#fail(`bad local header for "${name}"`);
    const start = e.headerOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
    const raw = this.#src.read(start, e.compressedSize, `entry "${name}"`);
    if (e.method === 0) {
      if (e.size !== e.compressedSize) this.#fail(`stored entry "${name}" has sizes ${e.compressedSize} and ${e.size}`);
      return raw;
    }
    if (e.method !== 8) this.#fail(`entry "${name}" uses compression method ${e.method} (only stored and deflate are supported)`);
    // Deflate expands at most ~1032:1; a larger claimed size is corrupt (and must not allocate).
    if (e.size > e.compressedSize * 1032 + 1024) this.#fail(`entry "${name}" claims ${e.size} bytes from ${e.compressedSize} compressed`);
    let out: Uint8Array;
    try {
      out = inflateSync(raw, { out: new Uint8Array(e.size) });
    } catch (err) {
      this.#fail(`cannot inflate "${name}": ${(err as Error).message}`);
    }
    if (out.length !== e.size) this.#fail(`entry "${name}" inflated to ${out.length} bytes, expected ${e.size}`);
    return out;
  }
}
