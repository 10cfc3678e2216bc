import { SidecarError } from '../../errors.js';
import { isZkCode, parentPath, ZooKeeperError, type ZkSession } from '../../helix/index.js';
import { sidecarClusterRoot } from '../fleet/registry-record.js';

/** The sidecar's own ZooKeeper root (`--lock-root`): every cluster's locks live below it. */
export const DEFAULT_SIDECAR_ROOT = '/pinot-sidecar';

/** `<sidecarRoot>/<cluster>/locks`, the root of one cluster's upload locks. */
export function lockRootUnder(sidecarRoot: string, cluster: string): string {
  return `${sidecarClusterRoot(sidecarRoot, cluster)}/locks`;
}

/** The lock root of `cluster` under DEFAULT_SIDECAR_ROOT. */
export function defaultLockRoot(cluster: string): string {
  return lockRootUnder(DEFAULT_SIDECAR_ROOT, cluster);
}

export interface HeldLock {
  readonly path: string;
  /** The ZooKeeper session that owns the ephemeral node. */
  readonly sessionId: string;
  /**
   * Delete the node if this session still owns it. After a session change the node died with the old
   * session, and another sidecar may own a node at the same path now: it is left alone.
   */
  release(): Promise<void>;
}

/**
 * One uploader per segment across the replicas' sidecars: an ephemeral znode
 * `<root>/<tableNameWithType>/<segment>`, under the sidecar's own root (default
 * `/pinot-sidecar/<cluster>/locks`), never inside the Pinot cluster tree, where Helix and Pinot own every
 * node. Ephemeral, so a sidecar that dies releases its locks when its session ends.
 *
 * The lock only saves work (one upload instead of one per replica). Correctness never depends on it: the ZK
 * write is a compare-and-set of the version read, and a lock lost with an expired session is simply gone.
 */
export class UploadLocks {
  constructor(
    private readonly session: ZkSession,
    private readonly root: string,
    /** Written into the node so an operator can see who holds it. */
    private readonly owner: string,
  ) {}

  lockPath(table: string, segment: string): string {
    return `${this.root}/${table}/${segment}`;
  }

  /**
   * The lock, or null when another session holds it (not an error: try later). ZooKeeper failures reject.
   * One request when the table's folder exists (create); three when only the table's folder is new.
   */
  async tryAcquire(table: string, segment: string, mayWrite: () => boolean = () => true): Promise<HeldLock | null> {
    const path = this.lockPath(table, segment);
    // The lock belongs to the session it is created in, so it is created only in the session read here: a create
    // queued while a replacement client connects would otherwise land in a session the HeldLock does not name.
    const sessionId = this.session.sessionId;
    if (sessionId === null)
      throw new ZooKeeperError('SESSION_CHANGED', 'create', path, { cause: new Error('no live ZooKeeper session') });
    const data = Buffer.from(JSON.stringify({ owner: this.owner, acquiredAt: new Date().toISOString() }));
    // Every create is a write; the caller may forbid writes at any point (stop), so it is asked before each.
    const create = async (p: string, bytes: Buffer | null, mode: 'persistent' | 'ephemeral'): Promise<void> => {
      if (!mayWrite()) throw new LockWriteRefusedError(p);
      await this.session.create(p, bytes, mode, { onlyInSession: sessionId });
    };
    for (let tries = 0; ; tries++) {
      try {
        await create(path, data, 'ephemeral');
        return this.held(path, sessionId);
      } catch (err) {
        if (isZkCode(err, 'NO_NODE') && tries === 0) {
          await this.createFolders(parentPath(path), create);
          continue;
        }
        if (!isZkCode(err, 'NODE_EXISTS')) throw err;
      }
      // Held. By us, if an earlier release never reached the server (this session still owns the node).
      const stat = await this.session.exists(path);
      if (stat === null && tries === 0) continue; // released in between: try once more
      if (stat !== null && stat.ephemeralOwner === sessionId) return this.held(path, sessionId);
      return null;
    }
  }

  /**
   * Create `dir` and whatever is missing above it, bottom-up: the usual case (only the table's folder is new)
   * costs one request, where checking every level from the root would cost one per level.
   */
  private async createFolders(
    dir: string,
    create: (p: string, bytes: null, mode: 'persistent') => Promise<void>,
  ): Promise<void> {
    try {
      await create(dir, null, 'persistent');
    } catch (err) {
      if (isZkCode(err, 'NODE_EXISTS')) return;
      if (!isZkCode(err, 'NO_NODE') || parentPath(dir) === '/') throw err;
      await this.createFolders(parentPath(dir), create);
      await this.createFolders(dir, create);
    }
  }

  private held(path: string, sessionId: string): HeldLock {
    const session = this.session;
    return {
      path,
      sessionId,
      async release() {
        try {
          // Bound to the lock's session: once it is gone, so is the node, and the path may be another sidecar's.
          await session.delete(path, -1, { onlyInSession: sessionId });
        } catch (err) {
          // Already gone (deleted, or died with its session): nothing to release.
          if (!isZkCode(err, 'NO_NODE') && !isZkCode(err, 'SESSION_CHANGED')) throw err;
        }
      },
    };
  }
}

/** The caller withdrew permission to write (the reconciler is stopping) while the lock was being taken. */
export class LockWriteRefusedError extends SidecarError {
  constructor(path: string) {
    super(`not creating ${path}: ZooKeeper writes are no longer allowed`, { retriable: true });
  }
}
