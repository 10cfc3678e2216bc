import { SidecarError } from '../../errors.js';

/**
 * After a put, HEAD did not show what was written (size, or the stored CRC). A deep store that acknowledges a
 * write it did not make ("lying") must never get a ZK URL pointing at it: retried, never committed.
 */
export class DeepStoreVerifyError extends SidecarError {
  constructor(uri: string, problem: string) {
    super(`deep-store copy at ${uri} does not verify: ${problem}`, { retriable: true });
  }
}

/**
 * The ZooKeeper session changed during an attempt and the write was not sent: its lock died with the old
 * session and what was read may be stale. The attempt takes the lock again and re-reads before any write; if it
 * cannot, the next attempt starts over (an uploaded object is found in the store).
 */
export class SessionChangedError extends SidecarError {
  constructor(lockSession: string, current: string | null) {
    super(
      `ZooKeeper session changed during the repair attempt (lock taken in ${lockSession}, now ${current ?? 'none'})`,
      { retriable: true },
    );
  }
}

/** A URL write whose answer never came: the server may or may not have applied it. */
export interface UnconfirmedWrite {
  uri: string;
  /** What the attempt that sent it had done: uploaded the archive, or adopted the object already there. */
  result: 'success' | 'already_uploaded';
  /** The version the compare-and-set named: if it was applied, every later version follows it. */
  baseVersion: number;
}

/**
 * What a read of the record (at `version`, with download URL `url`) says of an unanswered write. Only a version
 * after the one the write named can tell: the write, if applied, made the next version, so a later version
 * holding our URL is ours (or the same URL set again, the same outcome), and a later version without it means
 * ours was not applied (or was overwritten: someone else's fix either way). The same version may be a stale
 * read from a server behind the write: not known yet.
 */
export function settleUnconfirmed(
  write: UnconfirmedWrite,
  version: number,
  url: string | null,
): 'applied' | 'not_applied' | 'unknown' {
  if (version <= write.baseVersion) return 'unknown';
  return url === write.uri ? 'applied' : 'not_applied';
}

/**
 * The compare-and-set of the URL was sent, and the connection was lost (or the call timed out, or the session
 * expired) before the answer came. The record is re-read: finding exactly this URL there means the write was
 * applied (recorded as our success, not as someone else's fix); finding "" means it was not.
 */
export class AmbiguousWriteError extends SidecarError {
  constructor(
    path: string,
    readonly write: UnconfirmedWrite,
    cause: unknown,
  ) {
    super(`no answer to the URL write of ${path}: it may have been applied`, { retriable: true, cause });
  }
}

/** The versioned URL write kept meeting newer versions (each re-read still eligible): tried again later. */
export class CasConflictError extends SidecarError {
  constructor(path: string) {
    super(`${path} kept changing between read and compare-and-set`, { retriable: true });
  }
}

/** The reconciler is stopping or stopped: no new attempts, no ZooKeeper writes. */
export class ReconcilerStoppedError extends SidecarError {
  constructor() {
    super('the repair reconciler is stopped', { retriable: true });
  }
}

/** The local copy could not be read (an I/O error, not "absent"): a failed attempt, retried with backoff. */
export class LocalCopyUnreadableError extends SidecarError {
  constructor(detail: string) {
    super(`local segment copy unreadable: ${detail}`, { retriable: true });
  }
}
