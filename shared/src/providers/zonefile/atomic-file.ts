import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ProviderError } from '../provider';

/** File I/O for the zone file: errors as ProviderErrors that name the file, and a replace that is all or nothing. */

/** I/O failures that may clear up by themselves; anything else (EACCES, EISDIR, ...) needs a person. */
const TRANSIENT_IO = new Set(['EBUSY', 'EAGAIN', 'EINTR', 'EMFILE', 'ENFILE', 'EIO', 'ENOSPC', 'ETIMEDOUT', 'ESTALE']);

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const { code } = err as { code: unknown };
  return typeof code === 'string' ? code : undefined;
}

/** Runs one file operation; a failure becomes a ProviderError naming `source` and what was being done. */
export async function io<T>(source: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') throw new ProviderError(`zone file ${source}: ${what} failed: file or directory does not exist`, false);
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    throw new ProviderError(`zone file ${source}: ${what} failed: ${reason}`, code !== undefined && TRANSIENT_IO.has(code));
  }
}

export interface Replacement {
  /** The path as configured, for messages. */
  source: string;
  /** The file itself (symlinks resolved), so a link survives the rename. */
  real: string;
  /** The bytes the new content was computed from; if the file no longer has them, nothing is written. */
  original: Buffer;
  updated: Buffer;
  /** Last check before the rename (the lease): a throw leaves the file as it was. */
  beforeRename: () => Promise<void>;
}

/** Temp file in the same directory (so rename is atomic), same mode and owner, fsynced, then renamed over. */
export async function replaceFile({ source, real, original, updated, beforeRename }: Replacement): Promise<void> {
  const dir = dirname(real);
  const stat = await io(source, 'stat', () => fsp.stat(real));
  const mode = stat.mode & 0o7777;
  const tmp = join(dir, `.${basename(real)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const fh = await io(source, 'create temp file', () => fsp.open(tmp, 'wx', mode));
    created = true;
    try {
      await io(source, 'write temp file', () => fh.writeFile(updated));
      // open() applies the umask; the DNS server must still be able to read the file afterwards.
      await io(source, 'chmod temp file', () => fh.chmod(mode));
      if (stat.uid !== process.getuid?.() || stat.gid !== process.getgid?.()) {
        // Only root may give a file away; elsewhere keeping our own ownership is the best we can do.
        await fh.chown(stat.uid, stat.gid).catch(() => undefined);
      }
      await io(source, 'fsync temp file', () => fh.sync());
    } finally {
      await fh.close().catch(() => undefined);
    }
    const now = await io(source, 're-read', () => fsp.readFile(real));
    if (!now.equals(original)) throw new ProviderError(`zone file ${source} changed while it was being rewritten`, true);
    await beforeRename();
    await io(source, 'rename temp file', () => fsp.rename(tmp, real));
    created = false;
  } finally {
    if (created) await fsp.unlink(tmp).catch(() => undefined);
  }
  try {
    const dh = await fsp.open(dir, 'r');
    await dh.sync().finally(() => dh.close());
  } catch {
    // Some file systems refuse fsync on a directory; the rename has happened and is visible either way.
  }
}
