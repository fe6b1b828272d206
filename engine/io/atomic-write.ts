/**
 * Atomic file replacement: write a temp file in the target's folder, fsync it, rename it over the
 * target, fsync the folder. A reader sees the old file or the new one, never a partial one; if
 * anything throws, the temp file is removed and the target is left as it was.
 *
 * Failures are AtomicWriteErrors that name the target (never the temp file, whose name means
 * nothing to the caller) and say what went wrong in words, with the Node error as `cause`.
 */
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export class AtomicWriteError extends Error {
  override name = 'AtomicWriteError';
  /** The target path. */
  readonly path: string;
  /** What went wrong, without the path (e.g. `folder "/x" does not exist (ENOENT)`). */
  readonly reason: string;
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`cannot write ${JSON.stringify(path)}: ${reason}`, options);
    this.path = path;
    this.reason = reason;
  }
}

const codeOf = (e: unknown): string => String((e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? e);
const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};
const exists = (p: string): boolean => {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** Words for a failure to create a file in `dir`. */
function createReason(dir: string, e: unknown): string {
  const code = codeOf(e);
  if (code === 'ENOENT' && !exists(dir)) return `folder "${dir}" does not exist (ENOENT)`;
  if (code === 'ENOTDIR' || (exists(dir) && !isDir(dir))) return `"${dir}" is not a folder (${code})`;
  if (code === 'EACCES' || code === 'EPERM') return `no permission to create a file in "${dir}" (${code})`;
  if (code === 'EROFS') return `"${dir}" is on a read-only file system (EROFS)`;
  if (code === 'ENOSPC') return `no space left on the device of "${dir}" (ENOSPC)`;
  return `cannot create a file in "${dir}" (${code})`;
}

/** Write `chunks` (in order) to `path` atomically. */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  if (path === '') throw new AtomicWriteError(path, 'the path is empty');
  // Refuse a folder before writing what may be gigabytes into a temp file.
  if (isDir(path)) throw new AtomicWriteError(path, 'it is a folder, not a file (EISDIR)');
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | null;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (e) {
    throw new AtomicWriteError(path, createReason(dir, e), { cause: e });
  }
  let stage = 'writing';
  try {
    for (const c of chunks) {
      for (let done = 0; done < c.length; ) done += writeSync(fd, c, done, Math.min(c.length - done, 1 << 30));
    }
    stage = 'flushing to disk';
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    stage = 'replacing the target';
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    if (!(e as NodeJS.ErrnoException)?.code) throw e; // not an I/O error (e.g. thrown by the chunk producer)
    const code = codeOf(e);
    const reason =
      stage === 'replacing the target' && isDir(path) ? `it is a folder, not a file (${code})`
      : code === 'ENOSPC' ? `no space left on the device (ENOSPC) while ${stage}`
      : code === 'EDQUOT' ? `disk quota exceeded (EDQUOT) while ${stage}`
      : `${stage} failed (${code}: ${(e as Error).message.replaceAll(tmp, 'the temp file')})`;
    throw new AtomicWriteError(path, reason, { cause: e });
  }
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return; // platforms where a folder cannot be opened have no folder fsync either
  }
  try {
    fsyncSync(fd);
  } catch {
    /* some filesystems refuse fsync on a folder; the rename is still done */
  } finally {
    closeSync(fd);
  }
}
