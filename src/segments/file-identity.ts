import { constants, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import { CorruptSegmentError } from './errors.js';

/**
 * What identifies one version of a file: same device and inode (not replaced by a rename), same size
 * and nanosecond mtime (not rewritten in place). ctime is left out on purpose: it also moves on chmod
 * or when a hard link is added, which does not change the bytes.
 */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

export function identityOf(stats: BigIntStats): FileIdentity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs };
}

/** Undefined when both describe the same version, otherwise what differs (for error messages). */
export function identityChange(before: FileIdentity, after: FileIdentity): string | undefined {
  if (before.dev !== after.dev || before.ino !== after.ino) return 'replaced (inode changed)';
  if (before.size !== after.size) return `size changed from ${before.size} to ${after.size}`;
  if (before.mtimeNs !== after.mtimeNs) return 'modified (mtime changed)';
  return undefined;
}

/** A small file's identity and bytes, taken from one open file descriptor so they belong together. */
export interface FileSnapshot {
  path: string;
  identity: FileIdentity;
  bytes: Buffer;
}

/**
 * Reads a small regular file without following a symlink at its last component (O_NOFOLLOW makes
 * open fail with ELOOP instead). Files over `maxBytes` are refused rather than read.
 */
export async function readFileSnapshot(path: string, maxBytes: number): Promise<FileSnapshot> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) throw new CorruptSegmentError(path, 'not a regular file');
    if (stats.size > BigInt(maxBytes)) {
      throw new CorruptSegmentError(path, `${stats.size} bytes, more than the ${maxBytes} expected`);
    }
    const bytes = Buffer.alloc(Number(stats.size));
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    return { path, identity: identityOf(stats), bytes: bytes.subarray(0, bytesRead) };
  } finally {
    await handle.close();
  }
}

/** Undefined when the two snapshots are the same version with the same bytes. */
export function snapshotChange(before: FileSnapshot, after: FileSnapshot): string | undefined {
  return (
    identityChange(before.identity, after.identity) ?? (before.bytes.equals(after.bytes) ? undefined : 'bytes changed')
  );
}
