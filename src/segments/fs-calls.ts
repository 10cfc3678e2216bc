// File-system calls on segment directories, and what their failures mean for a caller.

import type { BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { SegmentChangedError, SegmentReadError } from './errors.js';

/**
 * errno codes that mean "the path is not (or no longer) what it was": the file or a parent was deleted,
 * renamed, or replaced by something that is not a plain file or directory.
 */
const VANISHED_CODES = new Set(['ENOENT', 'ENOTDIR', 'ESTALE', 'ELOOP']);

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

export function isVanished(err: unknown): boolean {
  return VANISHED_CODES.has(errnoCode(err) ?? '');
}

/** lstat that answers undefined for a missing path; other failures are SegmentReadError. */
export async function lstatIfExists(p: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(p, { bigint: true });
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new SegmentReadError(p, { cause: err });
  }
}

/**
 * Runs one file-system call while a segment is being read, and says what a failure means:
 * the segment changed under us (retriable, the client asks again) or an I/O error.
 */
export async function readingSegment<T>(segmentDir: string, path: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SegmentChangedError) throw err;
    if (isVanished(err)) throw new SegmentChangedError(segmentDir, `${path} disappeared`, { cause: err });
    throw new SegmentReadError(path, { cause: err });
  }
}
