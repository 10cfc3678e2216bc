import { SidecarError, type SidecarErrorOptions } from '../errors.js';

/** ZooKeeper outcomes callers branch on. Everything the server can say maps to one of these. */
export type ZooKeeperErrorCode =
  | 'NO_NODE'
  | 'BAD_VERSION'
  | 'NODE_EXISTS'
  | 'NOT_EMPTY'
  | 'CONNECTION_LOSS'
  | 'SESSION_EXPIRED'
  /**
   * A write bound to one session (`onlyInSession`) found another session, or none, live: it was not sent. Never
   * ambiguous: the server did not see it.
   */
  | 'SESSION_CHANGED'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'OTHER';

const RETRIABLE: ReadonlySet<ZooKeeperErrorCode> = new Set([
  'CONNECTION_LOSS',
  'SESSION_EXPIRED',
  'SESSION_CHANGED',
  'TIMEOUT',
]);

export interface ZooKeeperErrorOptions extends SidecarErrorOptions {
  /** False when the request never left the process (refused before it was handed to the client). Default true. */
  sent?: boolean;
}

export class ZooKeeperError extends SidecarError {
  /**
   * Whether the request may have reached the server. A write that failed unsent certainly did not happen; one
   * that was sent and got no answer (connection loss, timeout, expiry) may have.
   */
  readonly sent: boolean;

  constructor(
    readonly code: ZooKeeperErrorCode,
    readonly op: string,
    readonly path: string,
    options: ZooKeeperErrorOptions = {},
  ) {
    const { sent, ...rest } = options;
    super(`ZooKeeper ${op} ${path}: ${code}`, { retriable: RETRIABLE.has(code), ...rest });
    this.sent = sent ?? true;
  }
}

/** Codes of a sent request that got no answer: the server may or may not have applied it. */
const UNANSWERED: ReadonlySet<ZooKeeperErrorCode> = new Set([
  'CONNECTION_LOSS',
  'TIMEOUT',
  'SESSION_EXPIRED',
  'CLOSED',
]);

/** True when `err` leaves it open whether the request was applied (sent, then no answer). */
export function isUnanswered(err: unknown): boolean {
  return err instanceof ZooKeeperError && err.sent && UNANSWERED.has(err.code);
}

export function isZkCode(err: unknown, code: ZooKeeperErrorCode): err is ZooKeeperError {
  return err instanceof ZooKeeperError && err.code === code;
}

/** A znode whose bytes are not a ZNRecord Helix could read (bad JSON, corrupt gzip, wrong shape). */
export class ZNRecordParseError extends SidecarError {
  constructor(
    readonly path: string,
    message: string,
    options: SidecarErrorOptions = {},
  ) {
    super(`${path}: ${message}`, options);
  }
}

/** The configured cluster has no znode under the connect string's chroot: a configuration error. */
export class ClusterNotFoundError extends SidecarError {
  constructor(
    readonly cluster: string,
    readonly connectString: string,
  ) {
    super(
      `Pinot cluster "${cluster}" does not exist in ZooKeeper ${connectString} (no /${cluster} znode; check --cluster and the chroot in --zk)`,
    );
  }
}

/**
 * A compare-and-set that cannot change just the one field it means to change (the key is absent or
 * repeated, or the record repeats a field of its own), or whose result Helix would refuse to write.
 * Not retriable: the record has to change first. Thrown before any write, so a caller can check it
 * before doing work whose result it would write (checkSimpleFieldRewritable).
 */
export class RecordNotRewritableError extends SidecarError {
  constructor(
    readonly path: string,
    readonly key: string,
    readonly reason: string,
  ) {
    super(`${path}: simpleFields[${JSON.stringify(key)}] cannot be rewritten exactly: ${reason}`);
  }
}
