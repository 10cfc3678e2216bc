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

const RETRIABLE: ReadonlySet<ZooKeeperErrorCode> = new Set(['CONNECTION_LOSS', 'SESSION_EXPIRED', 'SESSION_CHANGED', 'TIMEOUT']);

export class ZooKeeperError extends SidecarError {
  constructor(
    readonly code: ZooKeeperErrorCode,
    readonly op: string,
    readonly path: string,
    options: SidecarErrorOptions = {},
  ) {
    super(`ZooKeeper ${op} ${path}: ${code}`, { retriable: RETRIABLE.has(code), ...options });
  }
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
