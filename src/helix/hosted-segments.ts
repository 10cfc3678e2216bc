import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { isRealtimeTable, splitTableSegmentKey, tableSegmentKey } from '../pinot-format/index.js';
import {
  readClusterSettings,
  readCurrentState,
  readLiveInstanceSession,
  type ClusterSettings,
  type CurrentStateEntries,
  type ReplicaState,
} from './cluster-records.js';
import { ClusterNotFoundError, isZkCode, ZooKeeperError } from './errors.js';
import { clusterPaths, namePreview, type ClusterPaths } from './paths.js';
import { readSegmentMetadata, type SegmentMetadata } from './segment-metadata.js';
import { readTableSettings, type TableSettings } from './table-config.js';
import { readRecord, type VersionedRecord } from './znode-io.js';
import type { WatchEvent, ZkSession, ZkStat } from './zk-session.js';

export interface ZkSegmentMetadata {
  metadata: SegmentMetadata;
  /** Version of the znode the metadata came from; mtime is the controller's stuck-commit clock. */
  version: number;
  mtimeMs: number;
}

export interface HostedSegment {
  table: string;
  segment: string;
  /** CURRENT_STATE of this server's replica. */
  state: ReplicaState;
  /**
   * REALTIME tables only: the segment's ZK metadata; null when the znode is missing or unreadable
   * (see metadataError); undefined until first read.
   */
  zk?: ZkSegmentMetadata | null;
  /**
   * Why the znode could not be read (it does not parse, nests too deep, inflates past the record limit, ...);
   * unset when it was read, or simply does not exist (deleted, or not created yet).
   */
  metadataError?: string;
}

export type HostedSegmentChange = { kind: 'added' | 'state' | 'metadata' | 'removed'; table: string; segment: string };

/**
 * Whether this server's current states can be located. `not_live`: no LIVEINSTANCES znode (Helix's
 * own word that the server is down). `unknown`: the znode is there but unusable (it does not parse,
 * its SESSION_ID cannot name a folder, ZooKeeper refuses the read) or has not been read yet. Either
 * way the server is treated as hosting nothing, and `reason` says why.
 */
export type ServerLiveness =
  | { state: 'live'; sessionId: string }
  /**
   * No instance config (CONFIGS/PARTICIPANT/<instance>) either: no server of that id ever joined the cluster.
   * A wrong --instance (a typo, a Kubernetes id built from the wrong domain), or a server that has not joined yet.
   */
  | { state: 'not_registered'; reason: string }
  | { state: 'not_live' | 'unknown'; reason: string };

interface HostedSegmentsEvents {
  change: [HostedSegmentChange];
  /** A table's settings were read or changed (or the table is no longer hosted: settings null). */
  tableSettings: [table: string, settings: TableSettings | null];
  /** Every dirty node has been read: the view matches ZooKeeper as of the last notification. */
  synced: [];
  /** The server's liveness changed (emitted before the view follows it). */
  server: [ServerLiveness];
}

export interface HostedSegmentsOptions {
  session: ZkSession;
  cluster: string;
  instance: string;
  logger?: Logger;
  /** Reads in flight at once during a sync (pipelined on the one ZooKeeper connection). */
  readConcurrency?: number;
  /** Delay before retrying reads that failed for a retriable reason. */
  retryDelayMs?: number;
}

/**
 * What this server hosts (docs/architecture.md, "What the sidecar knows, and what it costs ZooKeeper"):
 * LIVEINSTANCES/<instance> gives the server's session; CURRENTSTATES/<session>/* give
 * table -> segment -> state; hosted REALTIME segments have their PROPERTYSTORE metadata cached.
 * Everything is read once and then watched, so ZooKeeper cost follows what changes: with nothing
 * changing there are zero reads. After a ZooKeeper session expiry (every watch is gone) or a
 * server restart (new Helix session id) everything affected is read once more.
 *
 * Watches only mark things dirty; one pump drains the dirty sets, reading many nodes at once. Two
 * notifications for the same node while its read is pending cost one read, not two.
 *
 * One bad node never holds up the rest: a record that does not parse, a node ZooKeeper refuses to
 * read, or a current-state entry whose segment name cannot be a path component is skipped with one
 * log line and the sync completes without it. Only a lost connection or session stops a sync (and
 * it resumes by itself).
 */
export class HostedSegments extends EventEmitter<HostedSegmentsEvents> {
  readonly paths: ClusterPaths;
  private readonly session: ZkSession;
  private readonly instance: string;
  private readonly log: Logger;
  private readonly readConcurrency: number;
  private readonly retryDelayMs: number;

  private readonly view = new Map<string, Map<string, HostedSegmentEntry>>();
  private readonly settings = new Map<string, TableSettings | null>();
  private cluster: ClusterSettings = readClusterSettings(null);
  private serverSession: string | null = null;
  private liveness: ServerLiveness = { state: 'unknown', reason: 'live instance not read yet' };
  /**
   * Tables of the server session's CURRENTSTATES folder whose node has a data watch armed (or a read
   * queued): a re-list reads only tables not in here, because changes to these are reported by their
   * own watches. Emptied whenever those watches are gone (ZooKeeper session renewal, new server session).
   */
  private readonly watchedTables = new Set<string>();
  /** Per table, the current-state entries skipped (and logged) already: each is logged once. */
  private readonly skippedEntries = new Map<string, Set<string>>();

  // Dirty sets, drained by pump().
  private liveDirty = false;
  private childrenDirty = false;
  private clusterDirty = false;
  private readonly tablesDirty = new Set<string>();
  private readonly settingsDirty = new Set<string>();
  /** tableSegmentKey()s of the hosted REALTIME segments whose metadata must be read. */
  private readonly metadataDirty = new Set<string>();

  private pumping: Promise<void> | undefined;
  private rerun = false;
  private stopped = false;
  private isSynced = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(options: HostedSegmentsOptions) {
    super();
    this.session = options.session;
    this.instance = options.instance;
    this.paths = clusterPaths(options.cluster);
    this.log = (options.logger ?? silentLogger).child({ component: 'hosted-segments' });
    this.readConcurrency = options.readConcurrency ?? 256;
    this.retryDelayMs = options.retryDelayMs ?? 1_000;
  }

  /** True once a sync has completed and nothing is waiting to be read. */
  get synced(): boolean {
    return this.isSynced;
  }

  /** The server's Helix session id (names its CURRENTSTATES folder); null when it is not live. */
  get serverSessionId(): string | null {
    return this.serverSession;
  }

  /** Whether the server's current states can be located, with the reason when they cannot. */
  get server(): ServerLiveness {
    return this.liveness;
  }

  get clusterSettings(): ClusterSettings {
    return this.cluster;
  }

  /**
   * Check the cluster exists, read everything once, and resolve when the first sync is done.
   * On a ZooKeeper session renewal everything is read again (watches died with the session).
   */
  async start(): Promise<void> {
    if (!(await this.session.exists(this.paths.root))) {
      throw new ClusterNotFoundError(this.paths.root.slice(1), this.session.connectString);
    }
    this.session.on('renewed', this.onRenewed);
    this.markEverythingDirty();
    await this.waitSynced();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.session.off('renewed', this.onRenewed);
  }

  /** Resolves once nothing is dirty (immediately when already synced). */
  async waitSynced(): Promise<void> {
    this.schedule();
    while (this.pumping) await this.pumping;
    if (!this.isSynced && !this.stopped) await new Promise<void>((resolve) => this.once('synced', resolve));
  }

  tables(): string[] {
    return [...this.view.keys()];
  }

  segments(table: string): ReadonlyMap<string, HostedSegment> {
    return this.view.get(table) ?? new Map();
  }

  get(table: string, segment: string): HostedSegment | undefined {
    return this.view.get(table)?.get(segment);
  }

  /**
   * The segment's metadata record exactly as last read — bytes and version — while that read is still the
   * latest word: its watch was set in the live session, has not fired since (nothing marked it dirty) and no re-read
   * is in flight. Null otherwise, and for any segment whose URL is not empty (only repair candidates keep their bytes,
   * so memory follows the number of missing deep-store copies, not of hosted segments).
   *
   * The repair writes on this version instead of reading the znode once more (issue 15: a request that carries
   * no information). It stays safe when a change is already on its way: the write is a compare-and-set on this
   * version, and a conflict makes the repair read again.
   */
  watchedRecord(table: string, segment: string): VersionedRecord | null {
    const entry = this.view.get(table)?.get(segment);
    if (!entry?.record || this.metadataDirty.has(tableSegmentKey(table, segment))) return null;
    if (entry.recordSession !== this.session.sessionId) return null;
    return entry.record;
  }

  *all(): IterableIterator<HostedSegment> {
    for (const segments of this.view.values()) yield* segments.values();
  }

  count(): number {
    let n = 0;
    for (const segments of this.view.values()) n += segments.size;
    return n;
  }

  tableSettings(table: string): TableSettings | null | undefined {
    return this.settings.get(table);
  }

  private readonly onRenewed = (): void => {
    this.log.info('zk session renewed: resyncing hosted segments');
    this.markEverythingDirty();
  };

  private markEverythingDirty(): void {
    this.liveDirty = true;
    this.clusterDirty = true;
    // No watch survives a session: the re-list that follows the live instance reads every table once.
    this.watchedTables.clear();
    // Tables and metadata are re-read from the (possibly unchanged) current states after the live
    // instance; everything cached needs a fresh read and a fresh watch.
    for (const [table, segments] of this.view) {
      this.tablesDirty.add(table);
      this.settingsDirty.add(table);
      if (isRealtimeTable(table))
        for (const segment of segments.keys()) this.metadataDirty.add(tableSegmentKey(table, segment));
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.isSynced = false;
    if (this.pumping) {
      this.rerun = true;
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  private hasDirty(): boolean {
    return (
      this.liveDirty ||
      this.childrenDirty ||
      this.clusterDirty ||
      this.tablesDirty.size > 0 ||
      this.settingsDirty.size > 0 ||
      this.metadataDirty.size > 0
    );
  }

  private async pump(): Promise<void> {
    do {
      this.rerun = false;
      try {
        if (this.liveDirty) await this.readLiveInstance();
        if (this.childrenDirty) await this.readTableList();
        if (this.clusterDirty) await this.readClusterConfig();
        await this.drain(this.tablesDirty, (table) => this.readTable(table));
        await this.drain(this.settingsDirty, (table) => this.readTableConfig(table));
        await this.drain(this.metadataDirty, (k) => this.readMetadata(k));
      } catch (err) {
        this.onReadFailure(err);
        return;
      }
    } while ((this.rerun || this.hasDirty()) && !this.stopped);
    if (!this.stopped && !this.isSynced) {
      this.isSynced = true;
      this.emit('synced');
    }
  }

  /**
   * Read every item of a dirty set with a fixed number of workers (many requests in flight on the
   * one connection, without a promise per item up front); items that fail stay dirty.
   */
  private async drain(set: Set<string>, read: (item: string) => Promise<void>): Promise<void> {
    if (set.size === 0) return;
    const items = [...set];
    set.clear();
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          await read(item);
        } catch (err) {
          set.add(item);
          failure ??= { error: err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.readConcurrency, items.length) }, worker));
    if (failure) throw failure.error;
  }

  private onReadFailure(err: unknown): void {
    if (this.stopped) return;
    // Session expiry: onRenewed marks everything dirty when the new session is up. Other retriable
    // failures (timeouts, connection loss): try the dirty nodes again shortly.
    if (err instanceof ZooKeeperError && err.code === 'CLOSED') return;
    this.log.warn({ err }, 'hosted-segment sync interrupted; retrying');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.schedule(), this.retryDelayMs);
    this.retryTimer.unref();
  }

  // --- readers -------------------------------------------------------------------------------

  private async readLiveInstance(): Promise<void> {
    this.liveDirty = false;
    const path = this.paths.liveInstance(this.instance);
    let next: ServerLiveness;
    let failure: unknown;
    try {
      const live = await readRecord(this.session, path, this.onLiveEvent);
      if (live) next = { state: 'live', sessionId: readLiveInstanceSession(live.doc.record, path) };
      else {
        next = (await this.registration()) ?? {
          state: 'not_live',
          reason: `no live instance znode ${path}: the server is not running or not connected to ZooKeeper`,
        };
        // Watch for the server coming up. Created between the read and this call, it is there now and
        // the watch is only a data watch: read it again, or it would be missed until it next changes.
        if (await this.session.exists(path, this.onLiveEvent)) this.liveDirty = true;
      }
    } catch (err) {
      if (interruptsSync(err)) {
        this.liveDirty = true;
        throw err;
      }
      failure = err;
      next = { state: 'unknown', reason: `cannot locate the server's current states: ${errorMessage(err)}` };
    }
    this.setLiveness(next, path, failure);
    // Always re-list: after a ZooKeeper session renewal the children watch must be re-armed too.
    this.childrenDirty = true;
  }

  /**
   * When the server is not live: is it registered at all? Null when its instance config exists; else the
   * not_registered state, naming a few registered server ids (a typo is then plain to see). The instance config
   * is watched for its creation, so a server joining later is noticed at once. Costs two requests, and only
   * while the server is not live.
   */
  private async registration(): Promise<Extract<ServerLiveness, { state: 'not_registered' }> | null> {
    const configPath = this.paths.instanceConfig(this.instance);
    if (await this.session.exists(configPath, this.onLiveEvent)) return null;
    let known: string[] = [];
    try {
      known = (await this.session.getChildren(this.paths.instanceConfigs)).children
        .filter((id) => id.startsWith('Server_'))
        .sort();
    } catch (err) {
      if (interruptsSync(err)) throw err;
    }
    const shown = known.slice(0, MAX_INSTANCES_NAMED);
    const list =
      known.length === 0
        ? 'no server is registered'
        : `registered servers: ${shown.join(', ')}${known.length > shown.length ? `, ... (${known.length} in all)` : ''}`;
    return {
      state: 'not_registered',
      reason: `instance ${this.instance} is not registered in cluster ${this.paths.root.slice(1)} (no ${configPath}): check --instance; ${list}`,
    };
  }

  /** One log line and one `server` event per change; a new server session forgets the old watches. */
  private setLiveness(next: ServerLiveness, path: string, err: unknown): void {
    if (sameLiveness(this.liveness, next)) return;
    this.liveness = next;
    const session = next.state === 'live' ? next.sessionId : null;
    if (session !== this.serverSession) this.watchedTables.clear(); // another folder: none of its nodes is watched
    const fields = { instance: this.instance, previous: this.serverSession };
    this.serverSession = session;
    if (next.state === 'live') this.log.info({ ...fields, event: 'server_live', session }, 'server session');
    else if (next.state === 'not_live')
      this.log.info({ ...fields, event: 'server_not_live', reason: next.reason }, 'server not live: hosting nothing');
    else if (next.state === 'not_registered')
      this.log.error(
        { ...fields, event: 'server_not_registered', reason: next.reason },
        'instance not registered in the cluster: hosting nothing',
      );
    else
      this.log.warn(
        { ...fields, event: 'server_unknown', path, reason: next.reason, err },
        'live instance record unusable: treating the server as hosting nothing',
      );
    this.emit('server', next);
  }

  private async readTableList(): Promise<void> {
    this.childrenDirty = false;
    let tables: string[] = [];
    if (this.serverSession) {
      const dir = this.paths.currentStates(this.instance, this.serverSession);
      try {
        tables = (await this.session.getChildren(dir, this.onTablesEvent)).children;
      } catch (err) {
        if (interruptsSync(err)) {
          this.childrenDirty = true;
          throw err;
        }
        if (isZkCode(err, 'NO_NODE')) {
          // Helix creates the folder with the first current state: watch for it.
          if (await this.session.exists(dir, this.onTablesEvent)) this.childrenDirty = true;
        } else {
          // Refused for good (no watch armed): nothing is visible until the next resync.
          this.log.error({ err, path: dir }, 'current states folder unreadable: hosting nothing');
        }
      }
    }
    const current = new Set(tables);
    for (const table of new Set([...this.view.keys(), ...this.watchedTables]))
      if (!current.has(table)) this.dropTable(table);
    // Only new tables are read: a table already watched reports its own changes, so the cost follows
    // what changes, not how many tables the server hosts
    // (docs/architecture.md, "What the sidecar knows, and what it costs ZooKeeper").
    for (const table of tables) {
      if (this.watchedTables.has(table)) continue;
      this.watchedTables.add(table);
      this.tablesDirty.add(table);
    }
  }

  private async readTable(table: string): Promise<void> {
    if (!this.serverSession) return;
    const path = this.paths.currentState(this.instance, this.serverSession, table);
    let entries: CurrentStateEntries;
    try {
      const record = await readRecord(this.session, path, this.onTableEvent);
      if (!record) {
        // No watch is left on a missing node: the children watch reports it if it comes back.
        this.dropTable(table);
        return;
      }
      this.watchedTables.add(table);
      entries = readCurrentState(record.doc.record);
    } catch (err) {
      if (interruptsSync(err)) throw err;
      // A refused read arms no watch: the next listing reads the table again. A record that does not
      // parse was read (and is watched): its next version is read when it is written.
      if (err instanceof ZooKeeperError) this.watchedTables.delete(table);
      else this.watchedTables.add(table);
      // One bad record never stops the rest: log it with its path and keep the previous view.
      this.log.error({ err, path, table }, 'unreadable current state record: skipped');
      return;
    }
    this.noteSkippedEntries(table, path, entries);
    const { states } = entries;
    let segments = this.view.get(table);
    if (!segments) {
      segments = new Map();
      this.view.set(table, segments);
      this.settingsDirty.add(table);
    }
    for (const [segment, entry] of segments) {
      if (!states.has(segment)) {
        segments.delete(segment);
        this.metadataDirty.delete(tableSegmentKey(table, segment));
        this.emit('change', { kind: 'removed', table, segment });
      } else if (states.get(segment) !== entry.state) {
        entry.state = states.get(segment)!;
        this.emit('change', { kind: 'state', table, segment });
      }
    }
    for (const [segment, state] of states) {
      if (segments.has(segment)) continue;
      segments.set(segment, { table, segment, state });
      if (isRealtimeTable(table)) this.metadataDirty.add(tableSegmentKey(table, segment));
      this.emit('change', { kind: 'added', table, segment });
    }
  }

  /**
   * Entries left out of the view are logged once each (Helix rewrites a current state at every
   * transition of any of its segments; the bad entry would otherwise be logged every time).
   */
  private noteSkippedEntries(table: string, path: string, { skipped }: CurrentStateEntries): void {
    const logged = this.skippedEntries.get(table);
    if (skipped.length === 0) {
      this.skippedEntries.delete(table);
      return;
    }
    const now = new Set<string>();
    for (const { segment, reason } of skipped) {
      now.add(segment);
      if (logged?.has(segment)) continue;
      this.log.warn(
        { event: 'current_state_entry_skipped', table, path, segment: namePreview(segment), reason },
        'current state entry skipped',
      );
    }
    this.skippedEntries.set(table, now);
  }

  private async readTableConfig(table: string): Promise<void> {
    if (!this.view.has(table)) return;
    const path = this.paths.tableConfig(table);
    let settings: TableSettings | null = null;
    try {
      const record = await readRecord(this.session, path, this.onTableConfigEvent);
      if (record) settings = readTableSettings(record.doc.record, path);
      else if (await this.session.exists(path, this.onTableConfigEvent)) this.settingsDirty.add(table); // created meanwhile
    } catch (err) {
      if (interruptsSync(err)) throw err;
      this.log.error({ err, path, table }, 'unreadable table config: skipped');
    }
    this.settings.set(table, settings);
    this.emit('tableSettings', table, settings);
  }

  private async readClusterConfig(): Promise<void> {
    this.clusterDirty = false;
    const path = this.paths.clusterConfig();
    try {
      const record = await readRecord(this.session, path, this.onClusterEvent);
      if (!record && (await this.session.exists(path, this.onClusterEvent))) this.clusterDirty = true; // created meanwhile
      this.cluster = readClusterSettings(record?.doc.record ?? null);
    } catch (err) {
      if (interruptsSync(err)) {
        this.clusterDirty = true;
        throw err;
      }
      this.log.error(
        { err, path },
        'unreadable cluster config: keeping the settings in use (defaults when none were read)',
      );
    }
  }

  private async readMetadata(k: string): Promise<void> {
    const [table, segment] = splitTableSegmentKey(k);
    if (!this.view.get(table)?.has(segment)) return; // no longer hosted
    const path = this.paths.segmentMetadata(table, segment);
    // The key left the dirty set when this read was taken from it: until the read is done the kept copy is older
    // than what ZooKeeper holds, so watchedRecord() must not hand it out (it read the set only).
    const reading = this.view.get(table)?.get(segment);
    if (reading) reading.record = undefined;
    let zk: ZkSegmentMetadata | null = null;
    let stat: ZkStat | undefined;
    let error: string | undefined;
    let kept: VersionedRecord | undefined;
    const readInSession = this.session.sessionId;
    try {
      const record = await readRecord(this.session, path, this.onMetadataEvent);
      if (record) {
        stat = record.stat;
        kept = record;
        zk = {
          metadata: readSegmentMetadata(record.doc.record),
          version: record.stat.version,
          mtimeMs: record.stat.mtimeMs,
        };
      } else {
        if (await this.session.exists(path, this.onMetadataEvent)) this.metadataDirty.add(k); // created meanwhile
      }
    } catch (err) {
      if (interruptsSync(err)) throw err;
      error = errorMessage(err);
      this.log.error({ err, path, table, segment }, 'unreadable segment metadata: skipped');
    }
    const entry = this.view.get(table)?.get(segment);
    if (!entry) return; // dropped while reading
    const previous = entry.zk;
    // A read overtaken by a newer one for the same znode must not win (mzxid orders writes).
    if (stat && previous && entry.mzxid !== undefined && stat.mzxid < entry.mzxid) return;
    entry.mzxid = stat?.mzxid;
    entry.zk = zk;
    entry.record = zk?.metadata.downloadUrl.kind === 'empty' ? kept : undefined;
    entry.recordSession = readInSession;
    entry.metadataError = error;
    if (previous === undefined || previous?.version !== zk?.version || (previous === null) !== (zk === null)) {
      this.emit('change', { kind: 'metadata', table, segment });
    }
  }

  private dropTable(table: string): void {
    const segments = this.view.get(table);
    this.view.delete(table);
    this.tablesDirty.delete(table);
    this.watchedTables.delete(table);
    this.skippedEntries.delete(table);
    if (this.settings.delete(table)) this.emit('tableSettings', table, null);
    if (!segments) return;
    for (const segment of segments.keys()) {
      this.metadataDirty.delete(tableSegmentKey(table, segment));
      this.emit('change', { kind: 'removed', table, segment });
    }
  }

  // --- watchers: mark dirty, never read here ---------------------------------------------------

  private readonly onLiveEvent = (): void => {
    this.liveDirty = true;
    this.schedule();
  };

  private readonly onTablesEvent = (event: WatchEvent): void => {
    if (!this.serverSession || event.path !== this.paths.currentStates(this.instance, this.serverSession)) return;
    this.childrenDirty = true;
    this.schedule();
  };

  private readonly onTableEvent = (event: WatchEvent): void => {
    if (!this.serverSession) return;
    const dir = this.paths.currentStates(this.instance, this.serverSession);
    if (!event.path.startsWith(`${dir}/`)) return; // a previous server session's folder
    this.tablesDirty.add(event.path.slice(dir.length + 1));
    this.schedule();
  };

  private readonly onTableConfigEvent = (event: WatchEvent): void => {
    const table = event.path.slice(event.path.lastIndexOf('/') + 1);
    if (!this.view.has(table)) return;
    this.settingsDirty.add(table);
    this.schedule();
  };

  private readonly onClusterEvent = (): void => {
    this.clusterDirty = true;
    this.schedule();
  };

  private readonly onMetadataEvent = (event: WatchEvent): void => {
    const parts = event.path.split('/');
    const segment = parts[parts.length - 1]!;
    const table = parts[parts.length - 2]!;
    if (!this.view.get(table)?.has(segment)) return; // stale watch of a segment no longer hosted
    this.metadataDirty.add(tableSegmentKey(table, segment));
    this.schedule();
  };
}

/** The view's own entries also remember the mzxid their metadata was read at. */
interface HostedSegmentEntry extends HostedSegment {
  mzxid?: bigint;
  /** The record as read, kept only while its URL is empty (a repair candidate): see watchedRecord(). */
  record?: VersionedRecord;
  /** The session the record was read (and its watch set) in. */
  recordSession?: string | null;
}

/** How many registered server ids a not_registered reason names. */
const MAX_INSTANCES_NAMED = 5;

function sameLiveness(a: ServerLiveness, b: ServerLiveness): boolean {
  if (a.state === 'live' || b.state === 'live')
    return a.state === b.state && (a as { sessionId: string }).sessionId === (b as { sessionId: string }).sessionId;
  return a.state === b.state && a.reason === b.reason;
}

/**
 * A failure of the connection or the session (lost, expired, timed out, closed): the sync stops and
 * resumes by itself (retry timer, or the resync after a renewal). Any other failure belongs to the
 * one node read (a record that does not parse, a read ZooKeeper refuses): retrying cannot fix it.
 */
function interruptsSync(err: unknown): boolean {
  return err instanceof ZooKeeperError && (err.retriable || err.code === 'CLOSED');
}

/** The error's message, with its cause's (a ZooKeeper code such as NO_AUTH is only in the cause). */
function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}
