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
 * The ZooKeeper session changed during an attempt: its lock died with the old session and what was read may be
 * stale. The attempt stops before writing; the next one starts over (an uploaded object is found by HEAD).
 */
export class SessionChangedError extends SidecarError {
  constructor(lockSession: string, current: string | null) {
    super(`ZooKeeper session changed during the repair attempt (lock taken in ${lockSession}, now ${current ?? 'none'})`, { retriable: true });
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
