import { EventEmitter } from 'node:events';
import zookeeper from 'node-zookeeper-client';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { ZooKeeperError, type ZooKeeperErrorCode } from './errors.js';
import { DEFAULT_MAX_RECORD_BYTES } from './znrecord.js';

export type ZkOp = 'getData' | 'getChildren' | 'exists' | 'setData' | 'create' | 'delete' | 'multi';
export const ZK_OPS: readonly ZkOp[] = ['getData', 'getChildren', 'exists', 'setData', 'create', 'delete', 'multi'];

export interface ZkStat {
  version: number;
  cversion: number;
  /**
   * Last modification time, ms since epoch: the controller's stuck-commit clock
   * (PinotLLCRealtimeSegmentManager.isExceededMaxSegmentCompletionTime).
   */
  mtimeMs: number;
  ctimeMs: number;
  /** Monotonic across the ensemble: orders two reads of the same node. */
  mzxid: bigint;
  czxid: bigint;
  /** Session id (hex) owning an ephemeral node, or null. */
  ephemeralOwner: string | null;
  dataLength: number;
  numChildren: number;
}

export type WatchEventType = 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';
export interface WatchEvent {
  type: WatchEventType;
  path: string;
}
export type Watcher = (event: WatchEvent) => void;

export type CreateMode = 'persistent' | 'ephemeral';

/** One write of a multi(): a versioned setData (never -1, as setData()) or a versioned delete. */
export type ZkMultiOp =
  { op: 'setData'; path: string; data: Buffer; version: number } | { op: 'delete'; path: string; version: number };

/** What a multi() applied, op by op: the new stat of each setData, null for each delete. */
export type ZkMultiResult = Array<ZkStat | null>;

/** Options of the write operations. */
export interface ZkWriteOptions {
  /**
   * Send the write only while this session (hex id) is the live one: a session that is connected, or
   * disconnected but still resumable by the same client. Otherwise the call rejects with SESSION_CHANGED and
   * nothing is sent. Without it, a write issued while a replacement client is still connecting would be queued
   * by the library and sent on the new session once it connects, where whatever the caller holds in the old
   * one (an ephemeral lock) no longer exists.
   */
  onlyInSession?: string;
}

export interface ZkSessionOptions {
  /** host:port[,host:port][/chroot] */
  connectString: string;
  sessionTimeoutMs?: number;
  /** Deadline for every operation, including time spent queued while disconnected. */
  operationTimeoutMs?: number;
  /** Backoff between client re-creations after an expiry. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  logger?: Logger;
  /** Called once per request sent, by operation: feeds pinot_sidecar_zk_requests_total{op}. */
  onRequest?: (op: ZkOp) => void;
  /**
   * The most JSON bytes a record read through this session may hold once inflated (gzip bombs stop
   * here); every read passes through the session, so the limit lives with it. Default
   * DEFAULT_MAX_RECORD_BYTES (znrecord.ts says why).
   */
  maxRecordBytes?: number;
}

export type ZkSessionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

interface ZkSessionEvents {
  connected: [sessionId: string];
  disconnected: [];
  /** The session is gone (reported by the server, or detected locally); watches with it. */
  expired: [reason: 'server' | 'local'];
  /** A new session after an expiry: every watch is gone, owners resync. */
  renewed: [sessionId: string];
  /**
   * A connection attempt failed, said plainly ("connection refused by 127.0.0.1:2181", "cannot resolve zk-0"):
   * emitted once per distinct cause until a connection succeeds.
   */
  connectFailed: [reason: string];
  closed: [];
}

interface Pending {
  reject: (err: Error) => void;
  op: ZkOp;
  path: string;
}

const LIBRARY_CODES: Record<number, ZooKeeperErrorCode> = {
  [-101]: 'NO_NODE',
  [-103]: 'BAD_VERSION',
  [-110]: 'NODE_EXISTS',
  [-111]: 'NOT_EMPTY',
  [-4]: 'CONNECTION_LOSS',
  [-112]: 'SESSION_EXPIRED',
  [-7]: 'TIMEOUT',
};

const EVENT_TYPES: Record<number, WatchEventType> = {
  1: 'created',
  2: 'deleted',
  3: 'dataChanged',
  4: 'childrenChanged',
};

/**
 * A promise API over node-zookeeper-client 1.1.3 that survives what the library does not: it has no
 * operation timeouts, operations queued while disconnected never complete if the session expires,
 * and after expiry the client is dead. Here every operation has a deadline; operations in flight when
 * the session dies fail at once with a typed error; expiry is also detected locally when the server
 * cannot be reached for a whole session timeout (the library only learns of expiry from a server);
 * and a dead client is replaced with a new one, with backoff. `renewed` tells owners that every watch
 * is gone and they must resync.
 */
export class ZkSession extends EventEmitter<ZkSessionEvents> {
  readonly requests: Record<ZkOp, number> = {
    getData: 0,
    getChildren: 0,
    exists: 0,
    setData: 0,
    create: 0,
    delete: 0,
    multi: 0,
  };
  private readonly options: Required<Omit<ZkSessionOptions, 'onRequest' | 'logger'>>;
  private readonly log: Logger;
  private client: zookeeper.Client | undefined;
  private generation = 0;
  private everConnected = false;
  private stateValue: ZkSessionState = 'connecting';
  private currentSessionId: string | null = null;
  private readonly pending = new Set<Pending>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private recreateTimer: NodeJS.Timeout | undefined;
  private recreateAttempt = 0;
  private connectedWaiters: Array<() => void> = [];
  private lastHeardAt = 0;
  /** When the current connection's TCP handshake completed: its ZooKeeper handshake is timed from here. */
  private socketOpenedAt = 0;
  /** When a socket last failed (connect refused, reset...), and the cause last reported. */
  private lastSocketErrorAt = 0;
  private reportedConnectFailure: string | null = null;
  private negotiatedTimeoutMs: number | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(private readonly settings: ZkSessionOptions) {
    super();
    this.options = {
      connectString: settings.connectString,
      sessionTimeoutMs: settings.sessionTimeoutMs ?? 30_000,
      operationTimeoutMs: settings.operationTimeoutMs ?? 15_000,
      reconnectMinMs: settings.reconnectMinMs ?? 250,
      reconnectMaxMs: settings.reconnectMaxMs ?? 30_000,
      maxRecordBytes: settings.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    };
    this.log = (settings.logger ?? silentLogger).child({ component: 'zk' });
  }

  get state(): ZkSessionState {
    return this.stateValue;
  }

  /**
   * The live session's hex id (as Helix names CURRENTSTATES folders): the session this client holds, connected
   * or resumable after a disconnection. Null before the first connection and from an expiry until the next
   * client has connected (its session is a new one: nothing held in the old one carries over).
   */
  get sessionId(): string | null {
    return this.currentSessionId;
  }

  get connectString(): string {
    return this.options.connectString;
  }

  get sessionTimeoutMs(): number {
    return this.options.sessionTimeoutMs;
  }

  /** Read by readRecord: a record larger than this once inflated is refused (ZNRecordParseError). */
  get maxRecordBytes(): number {
    return this.options.maxRecordBytes;
  }

  totalRequests(): number {
    return ZK_OPS.reduce((sum, op) => sum + this.requests[op], 0);
  }

  /** Start connecting; the session keeps (re)connecting in the background until close(). */
  start(): void {
    if (this.client || this.stateValue === 'closed') return;
    this.createClient();
  }

  /** Resolves once connected; rejects with TIMEOUT after `timeoutMs`. Starts the session if needed. */
  async waitConnected(timeoutMs = this.options.sessionTimeoutMs): Promise<void> {
    this.start();
    if (this.stateValue === 'connected') return;
    if (this.stateValue === 'closed') throw new ZooKeeperError('CLOSED', 'connect', this.options.connectString);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectedWaiters = this.connectedWaiters.filter((w) => w !== done);
        reject(new ZooKeeperError('TIMEOUT', 'connect', this.options.connectString));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.connectedWaiters.push(done);
    });
  }

  /**
   * End the session. When connected, resolves once the server has closed the connection after the
   * closeSession request (so the session's ephemeral nodes, its locks and fleet registration, are gone
   * when this resolves: a process that exits right after sees them gone at once, not a session timeout
   * later), or after CLOSE_WAIT_MS when the server does not answer.
   */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    const wasConnected = this.stateValue === 'connected';
    this.stateValue = 'closed';
    clearTimeout(this.expiryTimer);
    clearTimeout(this.recreateTimer);
    clearInterval(this.watchdog);
    this.failPending('CLOSED');
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      const closed = wasConnected ? socketClosed(client, CLOSE_WAIT_MS) : Promise.resolve();
      closeQuietly(client);
      await closed;
    }
    this.emit('closed');
  }

  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer | null; stat: ZkStat }> {
    return this.call('getData', path, {}, (client, done) => {
      const cb = (err: ZkCallbackError, data: Buffer | undefined, stat: zookeeper.Stat) =>
        done(err, () => ({ data: data ?? null, stat: toStat(stat) }));
      if (watcher) client.getData(path, this.wrapWatcher(watcher), cb);
      else client.getData(path, cb);
    });
  }

  getChildren(path: string, watcher?: Watcher): Promise<{ children: string[]; stat: ZkStat }> {
    return this.call('getChildren', path, {}, (client, done) => {
      const cb = (err: ZkCallbackError, children: string[], stat: zookeeper.Stat) =>
        done(err, () => ({ children, stat: toStat(stat) }));
      if (watcher) client.getChildren(path, this.wrapWatcher(watcher), cb);
      else client.getChildren(path, cb);
    });
  }

  /** Stat or null; with a watcher, a missing node is watched for creation. */
  exists(path: string, watcher?: Watcher): Promise<ZkStat | null> {
    return this.call('exists', path, {}, (client, done) => {
      const cb = (err: ZkCallbackError, stat: zookeeper.Stat | null) => done(err, () => (stat ? toStat(stat) : null));
      if (watcher) client.exists(path, this.wrapWatcher(watcher), cb);
      else client.exists(path, cb);
    });
  }

  /**
   * Versioned write. `version` is the version that was read; -1 is refused here because every write
   * the sidecar makes must be a compare-and-set (docs/architecture.md, "A repair").
   */
  setData(path: string, data: Buffer, version: number, options: ZkWriteOptions = {}): Promise<ZkStat> {
    if (!Number.isInteger(version) || version < 0) {
      return Promise.reject(
        new ZooKeeperError('OTHER', 'setData', path, {
          sent: false,
          cause: new Error(`refusing unconditional write (version ${version})`),
        }),
      );
    }
    return this.call('setData', path, options, (client, done) => {
      client.setData(path, data, version, (err: ZkCallbackError, stat: zookeeper.Stat) =>
        done(err, () => toStat(stat)),
      );
    });
  }

  create(
    path: string,
    data: Buffer | null,
    mode: CreateMode = 'persistent',
    options: ZkWriteOptions = {},
  ): Promise<string> {
    return this.call('create', path, options, (client, done) => {
      const m = mode === 'ephemeral' ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT;
      client.create(path, data ?? Buffer.alloc(0), OPEN_ACL_UNSAFE, m, (err: ZkCallbackError, p: string) =>
        done(err, () => p),
      );
    });
  }

  /** Versioned delete (-1 allowed: deleting is only used on the sidecar's own nodes). */
  delete(path: string, version = -1, options: ZkWriteOptions = {}): Promise<void> {
    return this.call('delete', path, options, (client, done) => {
      client.remove(path, version, (err: ZkCallbackError) => done(err, () => undefined));
    });
  }

  /**
   * Several writes as ONE request (ZooKeeper's multi, ZooKeeper 3.4+): all applied or none. Counted once, as
   * `multi`. When one op fails, the call rejects with that op's ZooKeeperError (its code, `op` and `path` name the
   * op that failed) and nothing was applied. The repair uses it to write a segment's URL and release its upload
   * lock in one round trip (issue 15).
   */
  multi(ops: readonly ZkMultiOp[], options: ZkWriteOptions = {}): Promise<ZkMultiResult> {
    const first = ops[0]?.path ?? '/';
    const unconditional = ops.find((o) => o.op === 'setData' && (!Number.isInteger(o.version) || o.version < 0));
    if (ops.length === 0 || unconditional) {
      const why = unconditional ? `refusing unconditional write (version ${unconditional.version})` : 'no ops';
      return Promise.reject(
        new ZooKeeperError('OTHER', 'multi', unconditional?.path ?? first, { sent: false, cause: new Error(why) }),
      );
    }
    return this.call('multi', first, options, (client, done) => {
      const tx = client.transaction();
      for (const o of ops) {
        if (o.op === 'setData') tx.setData(o.path, o.data, o.version);
        else tx.remove(o.path, o.version);
      }
      pinTransactionVersions(tx, ops);
      tx.commit((err: ZkCallbackError, results?: Array<{ err?: number; stat?: zookeeper.Stat }>) => {
        if (err) {
          // The failing op is the first result with a code other than OK (0); ops after it report
          // RUNTIME_INCONSISTENCY (-2). Without results the request itself failed (connection loss, ...).
          const failed = results?.findIndex((r) => r.err !== undefined && r.err !== 0) ?? -1;
          const culprit = failed >= 0 ? ops[failed] : undefined;
          done(culprit ? toZkError(err, culprit.op, culprit.path) : err, () => []);
          return;
        }
        done(null, () =>
          ops.map((o, i) => (o.op === 'setData' && results?.[i]?.stat ? toStat(results[i].stat) : null)),
        );
      });
    });
  }

  /** Create every missing node on the way (persistent, empty); NODE_EXISTS races are fine. */
  async ensurePath(path: string): Promise<void> {
    let current = '';
    for (const part of path.split('/').filter(Boolean)) {
      current += `/${part}`;
      if (await this.exists(current)) continue;
      try {
        await this.create(current, null);
      } catch (err) {
        if (!(err instanceof ZooKeeperError && err.code === 'NODE_EXISTS')) throw err;
      }
    }
  }

  private call<T>(
    op: ZkOp,
    path: string,
    options: ZkWriteOptions,
    run: (client: zookeeper.Client, done: (err: ZkCallbackError, value: () => T) => void) => void,
  ): Promise<T> {
    if (this.stateValue === 'closed') return Promise.reject(new ZooKeeperError('CLOSED', op, path, { sent: false }));
    const client = this.client;
    // Between an expiry and the next client there is no session to queue on: fail fast.
    if (!client) return Promise.reject(new ZooKeeperError('SESSION_EXPIRED', op, path, { sent: false }));
    // currentSessionId is cleared on expiry, so equality means this very client holds that session: the library
    // sends the request on it, or fails it if the session turns out to be gone. Never on another session.
    if (options.onlyInSession !== undefined && options.onlyInSession !== this.currentSessionId) {
      return Promise.reject(
        new ZooKeeperError('SESSION_CHANGED', op, path, {
          sent: false,
          cause: new Error(
            `bound to session ${options.onlyInSession}, live session ${this.currentSessionId ?? 'none'}`,
          ),
        }),
      );
    }
    this.requests[op] += 1;
    this.settings.onRequest?.(op);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const entry: Pending = {
        op,
        path,
        reject: (err) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.pending.delete(entry);
          reject(err);
        },
      };
      const timer = setTimeout(
        () => entry.reject(new ZooKeeperError('TIMEOUT', op, path)),
        this.options.operationTimeoutMs,
      );
      this.pending.add(entry);
      try {
        run(client, (err, value) => {
          if (settled) return;
          if (err) {
            // A ZooKeeperError already names its op (multi() names the op of the transaction that failed).
            entry.reject(err instanceof ZooKeeperError ? err : toZkError(err, op, path));
            return;
          }
          settled = true;
          clearTimeout(timer);
          this.pending.delete(entry);
          resolve(value());
        });
      } catch (err) {
        // The library throws synchronously on invalid paths.
        entry.reject(new ZooKeeperError('OTHER', op, path, { cause: err, sent: false }));
      }
    });
  }

  private wrapWatcher(watcher: Watcher): (event: zookeeper.Event) => void {
    // The library de-duplicates watchers per path by function identity; keep one wrapper per watcher.
    let wrapped = WRAPPED.get(watcher);
    if (!wrapped) {
      wrapped = (event: zookeeper.Event) => {
        const type = EVENT_TYPES[event.getType()];
        if (type) watcher({ type, path: event.getPath() });
      };
      WRAPPED.set(watcher, wrapped);
    }
    return wrapped;
  }

  private createClient(): void {
    // start() during the backoff after an expiry must not leave the pending re-creation to make a
    // second client beside this one (an orphaned session, with any ephemeral lock it takes).
    clearTimeout(this.recreateTimer);
    this.recreateTimer = undefined;
    const generation = ++this.generation;
    const client = zookeeper.createClient(this.options.connectString, {
      sessionTimeout: this.options.sessionTimeoutMs,
      spinDelay: 200,
      // Retries are ours to decide: the library's retry loop hides connection loss for up to a session.
      retries: 0,
    });
    this.client = client;
    this.stateValue = 'connecting';
    this.watchServerLiveness(client, generation);
    this.log.debug({ generation }, 'zk client created');
    client.on('state', (state: zookeeper.State) => {
      this.log.debug({ generation, current: this.generation, state: String(state) }, 'zk client state');
      if (generation !== this.generation) return;
      if (state === zookeeper.State.SYNC_CONNECTED || state === zookeeper.State.CONNECTED_READ_ONLY)
        this.onConnected(client);
      else if (state === zookeeper.State.DISCONNECTED) this.onDisconnected();
      else if (state === zookeeper.State.EXPIRED) this.onExpired('server');
      else if (state === zookeeper.State.AUTH_FAILED) this.onExpired('server');
    });
    client.connect();
    // A client that never reaches the server has no session to lose; it keeps trying (spinDelay).
  }

  /**
   * The library pings every third of the session timeout but never notices that no answer comes
   * back: against a frozen server (SIGSTOP, a GC pause, a half-open connection) it stays
   * "connected" forever, and neither disconnection nor expiry is ever reported. Its handshake has
   * the same gap: once TCP is up, a ConnectRequest the server never answers (seen against a
   * ZooKeeper that is still starting) waits forever. Like the Java client's read timeout (2/3 of
   * the session timeout), we record when the server last said anything and drop the connection
   * when it has been silent too long; the library then reconnects and our expiry timer runs. This
   * hooks one internal method of node-zookeeper-client 1.1.3 (pinned); the frozen-server and
   * restart tests fail if another version changes it.
   */
  private watchServerLiveness(client: zookeeper.Client, generation: number): void {
    const manager = (client as unknown as { connectionManager: LibraryConnection }).connectionManager;
    const onSocketData = manager.onSocketData;
    manager.onSocketData = (buffer: Buffer) => {
      if (generation === this.generation) this.lastHeardAt = Date.now();
      try {
        onSocketData.call(manager, buffer);
      } catch (err) {
        // The library parses replies inside the socket's 'data' handler: bytes it cannot parse (an unknown
        // error code, a torn frame) would be an uncaught exception that ends the process. A connection that
        // says something unreadable is dropped instead; the library reconnects and resumes the session.
        this.log.warn({ event: 'zk_protocol_error', err }, 'zk reply could not be parsed: dropping the connection');
        manager.pendingBuffer = null;
        manager.socket?.destroy();
      }
    };
    // The library keeps a partial frame in pendingBuffer across connections: after a connection is cut in the
    // middle of a reply, the next connection's handshake answer would be parsed behind the stale bytes, and the
    // session could never resume. Every new connection starts with an empty buffer.
    const onSocketConnected = manager.onSocketConnected;
    manager.onSocketConnected = () => {
      manager.pendingBuffer = null;
      if (generation === this.generation) this.socketOpenedAt = Date.now();
      onSocketConnected.call(manager);
    };
    // The library swallows socket errors (it just reconnects): report what they say, once per cause.
    const onSocketError = manager.onSocketError;
    manager.onSocketError = (error: Error) => {
      if (generation === this.generation) this.noteSocketError(error);
      onSocketError.call(manager, error);
    };
    this.lastHeardAt = Date.now();
    clearInterval(this.watchdog);
    this.watchdog = setInterval(
      () => {
        if (generation !== this.generation) return;
        // The library pings every third of the *negotiated* timeout (the server may raise a requested
        // one to its minimum), so the read timeout follows what was negotiated, not what was asked.
        const readTimeoutMs = Math.floor((this.effectiveTimeoutMs() * 2) / 3);
        // A healthy server answers a handshake in milliseconds; a stalled one should cost seconds, not
        // two thirds of a long session timeout.
        const handshakeTimeoutMs = Math.min(readTimeoutMs, 5_000);
        // A connection opened since the server last spoke is timed from its opening, not from the last reply.
        const since = Math.max(this.lastHeardAt, this.socketOpenedAt);
        const silentMs = Date.now() - since;
        if (silentMs <= (this.stateValue === 'connected' ? readTimeoutMs : handshakeTimeoutMs)) return;
        // No connection open: the last attempt was refused or is unreachable, already said (connectFailed), and
        // the library is already retrying. Once a later attempt's TCP connection is up, its silent handshake is
        // ours to drop: a ZooKeeper restarting after refusals can accept a connection and never answer its
        // ConnectRequest, and the library's connect timeout stops at the TCP handshake (a session stuck
        // 'disconnected' for good, seen about once in 15 restarts on a loaded machine).
        if (this.stateValue !== 'connected' && this.lastSocketErrorAt > since) return;
        this.log.warn(
          { silentMs, state: this.stateValue },
          'zk server silent past the read timeout: dropping the connection',
        );
        this.lastHeardAt = Date.now();
        manager.socket?.destroy();
      },
      Math.max(50, Math.min(1_000, Math.floor(this.options.sessionTimeoutMs / 6))),
    );
    this.watchdog.unref();
  }

  /** The session timeout the server granted (it may raise a requested one to its minimum). */
  private effectiveTimeoutMs(): number {
    return Math.max(this.options.sessionTimeoutMs, this.negotiatedTimeoutMs ?? 0);
  }

  private noteSocketError(error: Error): void {
    this.lastSocketErrorAt = Date.now();
    if (this.stateValue === 'connected') return; // a dropped connection: 'disconnected' says it
    const reason = describeSocketError(error);
    if (reason === this.reportedConnectFailure) return;
    this.reportedConnectFailure = reason;
    // Debug only: the owner reports it (the agent's zookeeper condition says it once, as the operator reads it).
    this.log.debug({ event: 'zk_connect_failed', reason, connectString: this.options.connectString }, `zk: ${reason}`);
    this.emit('connectFailed', reason);
  }

  private onConnected(client: zookeeper.Client): void {
    this.reportedConnectFailure = null;
    this.negotiatedTimeoutMs = client.getSessionTimeout();
    this.lastHeardAt = Date.now();
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const sessionId = client
      .getSessionId()
      .toString('hex')
      .replace(/^0+(?=.)/, '');
    const renewed = this.everConnected && sessionId !== this.currentSessionId;
    this.everConnected = true;
    this.currentSessionId = sessionId;
    this.stateValue = 'connected';
    this.recreateAttempt = 0;
    this.log.info(
      { event: renewed ? 'zk_session_renewed' : 'zk_connected', sessionId, renewed },
      renewed ? 'zk session renewed' : 'zk connected',
    );
    this.emit('connected', sessionId);
    if (renewed) this.emit('renewed', sessionId);
    const waiters = this.connectedWaiters;
    this.connectedWaiters = [];
    for (const w of waiters) w();
  }

  private onDisconnected(): void {
    if (this.stateValue !== 'connected') return;
    this.stateValue = 'disconnected';
    this.log.warn({ event: 'zk_disconnected', sessionId: this.currentSessionId }, 'zk disconnected');
    this.emit('disconnected');
    // The server expires us after a session timeout without hearing from us. If we cannot reach it
    // for that long, the session is as good as gone, even though the library would never say so.
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => this.onExpired('local'), this.effectiveTimeoutMs());
  }

  private onExpired(reason: 'server' | 'local'): void {
    if (this.stateValue === 'closed' || !this.client) return;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.log.warn({ event: 'zk_session_lost', sessionId: this.currentSessionId, reason }, 'zk session expired');
    const client = this.client;
    this.client = undefined;
    this.generation += 1;
    this.stateValue = 'disconnected';
    // The session is gone: no caller may take a write sent from now on as made in it (see ZkWriteOptions).
    this.currentSessionId = null;
    this.failPending('SESSION_EXPIRED');
    client.removeAllListeners();
    closeQuietly(client);
    this.emit('expired', reason);
    const delay = Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** this.recreateAttempt);
    this.recreateAttempt += 1;
    this.recreateTimer = setTimeout(
      () => {
        if (this.stateValue !== 'closed') this.createClient();
      },
      delay * (0.5 + Math.random() / 2),
    );
  }

  private failPending(code: ZooKeeperErrorCode): void {
    for (const p of [...this.pending]) p.reject(new ZooKeeperError(code, p.op, p.path));
  }
}

type ZkCallbackError = Error | zookeeper.Exception | null;

/**
 * node-zookeeper-client 1.1.3's Transaction.setData/remove/check default the version with `version || -1`, so
 * version 0 — the first write after a znode's creation — becomes -1, an UNCONDITIONAL write (found by the repair's
 * "another writer sets the URL first" test). Client.setData does not have the bug. This sets each queued op's
 * version to the one asked for, and refuses to send (throws; call() rejects unsent) when the library's queued ops
 * do not have the shape this relies on, so a changed library can never turn a compare-and-set into an overwrite.
 */
function pinTransactionVersions(tx: zookeeper.Transaction, ops: readonly ZkMultiOp[]): void {
  const queued = (tx as unknown as { ops?: unknown }).ops;
  if (!Array.isArray(queued) || queued.length !== ops.length)
    throw new Error('unexpected node-zookeeper-client Transaction shape: not sending');
  ops.forEach((o, i) => {
    const entry = queued[i] as { path?: unknown; version?: unknown };
    if (entry.path !== o.path || typeof entry.version !== 'number')
      throw new Error('unexpected node-zookeeper-client Transaction op: not sending');
    entry.version = o.version;
  });
}

/** A socket error as an operator reads it: what failed, and where. */
export function describeSocketError(error: Error): string {
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const where =
    e.address !== undefined ? `${e.address}${e.port === undefined ? '' : `:${e.port}`}` : (e.hostname ?? 'the server');
  switch (e.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where} (is ZooKeeper running there? is --zk right?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${e.hostname ?? where} (is --zk right?)`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach ${where} (${e.code})`;
    case 'ECONNRESET':
      return `connection reset by ${where}`;
    default:
      return `connection to ${where} failed: ${e.code ?? e.message}`;
  }
}

/**
 * The internals of node-zookeeper-client 1.1.3's ConnectionManager that the session guards (see watchServerLiveness).
 */
interface LibraryConnection {
  onSocketData: (buffer: Buffer) => void;
  onSocketConnected: () => void;
  onSocketError: (error: Error) => void;
  pendingBuffer: Buffer | null;
  socket?: { destroy(): void };
}

/**
 * How long close() waits for the server to end the connection: ZooKeeper answers a closeSession in
 * milliseconds; a frozen or unreachable one must not hold a shutdown for long (the session then ends by timeout).
 */
const CLOSE_WAIT_MS = 2_000;

/** Resolves when the library reports the connection gone (the server closed it), or after `timeoutMs`. */
function socketClosed(client: zookeeper.Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.removeListener('state', onState);
      resolve();
    };
    const onState = (state: zookeeper.State) => {
      if (state === zookeeper.State.DISCONNECTED) done();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.on('state', onState);
  });
}

/** The library's close() throws when its socket does not exist yet (closed in the tick it started). */
function closeQuietly(client: zookeeper.Client): void {
  try {
    client.close();
  } catch {
    // Nothing was sent, so there is no session to close.
  }
}
// Present at runtime, missing from @types/node-zookeeper-client.
const OPEN_ACL_UNSAFE = (zookeeper.ACL as unknown as { OPEN_ACL_UNSAFE: zookeeper.ACL[] }).OPEN_ACL_UNSAFE;

const WRAPPED = new WeakMap<Watcher, (event: zookeeper.Event) => void>();

function toZkError(err: Error | zookeeper.Exception, op: ZkOp | ZkMultiOp['op'], path: string): ZooKeeperError {
  const code = (err as { code?: number }).code;
  return new ZooKeeperError((code !== undefined && LIBRARY_CODES[code]) || 'OTHER', op, path, { cause: err });
}

function long(buf: Buffer | undefined): bigint {
  return buf && buf.length === 8 ? buf.readBigInt64BE(0) : 0n;
}

/** Session ids are unsigned in their hex form (servers with myid >= 128 set the top bit). */
function unsignedLong(buf: Buffer | undefined): bigint {
  return buf && buf.length === 8 ? buf.readBigUInt64BE(0) : 0n;
}

function toStat(stat: zookeeper.Stat): ZkStat {
  const owner = unsignedLong(stat.ephemeralOwner);
  return {
    version: stat.version,
    cversion: stat.cversion,
    mtimeMs: Number(long(stat.mtime)),
    ctimeMs: Number(long(stat.ctime)),
    mzxid: long(stat.mzxid),
    czxid: long(stat.czxid),
    ephemeralOwner: owner === 0n ? null : owner.toString(16),
    dataLength: stat.dataLength,
    numChildren: stat.numChildren,
  };
}
