import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, inject, vi } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/agent/metrics.js';
import { Reconciler, type ReconcilerOptions } from '../../../src/agent/repair/reconciler.js';
import type {
  ArchiveVerdict,
  DeepStore,
  DeepStoreCallOptions,
  ObjectRead,
  ProbeOptions,
  SegmentObjectMeta,
  StoredObject,
  SweepOptions,
  SweepResult,
} from '../../../src/deepstore/deep-store.js';
import type { ProbeMode, ProbeResult } from '../../../src/deepstore/probe.js';
import { FileDeepStore } from '../../../src/deepstore/file-deep-store.js';
import { S3DeepStore } from '../../../src/deepstore/s3-deep-store.js';
import { HostedSegments } from '../../../src/helix/hosted-segments.js';
import { readRecord } from '../../../src/helix/znode-io.js';
import type { ZkSession, ZkSessionOptions } from '../../../src/helix/zk-session.js';
import { SegmentStore } from '../../../src/segments/index.js';
import type { FaultProxy } from '../../helpers/fault-proxy.js';
import {
  connectSession,
  PinotClusterSeeder,
  uniqueClusterName,
  type SegmentFields,
  type TableOptions,
} from '../../helpers/pinot-cluster.js';
import {
  assertRepairInvariants,
  objectOpener,
  snapshotRecord,
  type RecordSnapshot,
} from '../../helpers/repair-invariants.js';
import { useProxiedS3 } from '../../helpers/proxied-s3.js';
import { FAKE_CREDENTIALS, FAKE_REGION, type S3Fake } from '../../helpers/s3-fake.js';
import { buildSegment } from '../../helpers/segment-builder.js';

/**
 * A small Pinot world for reconciler tests: a cluster of its own on a real ZooKeeper, servers with data dirs,
 * segments built on disk and committed in ZooKeeper as the controller commits them, a deep store (a file
 * folder, or S3 through the fault proxy), and sidecars (tracker + reconciler, each with its own session).
 */

export const TABLE = 'events_REALTIME';
export const RAW = 'events';
export const seg = (n: number): string => `events__0__${n}__20240101T0000Z`;

/** Fast schedules for tests: 20 ms first retry, 200 ms cap, 100 ms behind a lock. */
export const FAST: Partial<ReconcilerOptions> = {
  backoff: { minMs: 20, factor: 2, maxMs: 200 },
  lockRetryMs: 100,
  safetyPassIntervalMs: 60_000,
};

/** vi.waitFor with room for a loaded machine (its default gives up after 1 s). */
export function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 15_000): Promise<T> {
  return vi.waitFor(check, { timeout: timeoutMs, interval: 20 });
}

export class ManualClock {
  constructor(public t = Date.now()) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface LogLine {
  level: number;
  event?: string;
  table?: string;
  segment?: string;
  reason?: string;
  msg: string;
  [key: string]: unknown;
}

export interface Server {
  instance: string;
  helixSession: string;
  dataDir: string;
}

export type LocalCopySpec = 'build' | 'none' | 'unsealed';

export interface ReplicaSpec {
  server: Server;
  state?: string;
  local?: LocalCopySpec;
  payloadBytes?: number;
}

export interface Sidecar {
  server: Server;
  session: ZkSession;
  tracker: HostedSegments;
  reconciler: Reconciler;
  deepStore: DeepStore;
  metrics: Metrics;
  logs: LogLine[];
  stop(): Promise<void>;
}

export interface WorldOptions {
  /** Default: the run's shared ZooKeeper. */
  connectString?: string;
  /** Deep store: a folder, or S3 (through `s3.proxy` when given). */
  s3?: { fake: S3Fake; proxy?: FaultProxy };
}

export class RepairWorld {
  readonly cluster = uniqueClusterName('repair');
  readonly seed: PinotClusterSeeder;
  /** Records as committed, for the invariant check. */
  readonly committed = new Map<string, RecordSnapshot>();
  private readonly states = new Map<string, Record<string, string>>(); // instance -> segment -> state (one table)
  private readonly sidecars: Sidecar[] = [];
  private serverCount = 0;

  private constructor(
    readonly options: WorldOptions,
    readonly connectString: string,
    readonly seedSession: ZkSession,
    readonly dir: string,
    readonly deepStoreUri: string,
  ) {
    this.seed = new PinotClusterSeeder(seedSession, this.cluster);
  }

  static async create(options: WorldOptions = {}, table: TableOptions = {}): Promise<RepairWorld> {
    const connectString = options.connectString ?? inject('zkConnectString');
    const seedSession = await connectSession({ connectString, sessionTimeoutMs: 60_000 });
    const dir = await mkdtemp(path.join(tmpdir(), 'repair-world-'));
    let deepStoreUri: string;
    if (options.s3) {
      const bucket = `repair-${path
        .basename(dir)
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '')}`;
      await options.s3.fake.createBucket(bucket);
      deepStoreUri = `s3://${bucket}/pinot/data`;
    } else {
      await mkdir(path.join(dir, 'deepstore'));
      deepStoreUri = `file://${path.join(dir, 'deepstore')}`;
    }
    const world = new RepairWorld(options, connectString, seedSession, dir, deepStoreUri);
    await world.seed.createCluster();
    await world.seed.addTable(TABLE, table);
    return world;
  }

  /** A deep-store client as a sidecar gets it (S3 through the proxy, SDK retries off: every fault is seen). */
  newDeepStore(): DeepStore {
    if (!this.options.s3) return new FileDeepStore(this.deepStoreUri);
    const endpoint = this.options.s3.proxy?.endpoint ?? this.options.s3.fake.endpoint;
    return new S3DeepStore(this.deepStoreUri, {
      endpoint,
      region: FAKE_REGION,
      credentials: FAKE_CREDENTIALS,
      forcePathStyle: true,
      maxAttempts: 1,
    });
  }

  /** Opens what a URL points at, straight from the store (never through the proxy). */
  readonly openObject = (uri: string): Promise<Readable | null> => objectOpener(this.options.s3?.fake.client)(uri);

  segmentUri(segment: string): string {
    return `${this.deepStoreUri}/${RAW}/${segment}`;
  }

  async addServer(): Promise<Server> {
    this.serverCount += 1;
    const instance = `Server_pinot-server-${this.serverCount}_8098`;
    const helixSession = await this.seed.addInstance(instance, { host: `pinot-server-${this.serverCount}` });
    const dataDir = path.join(this.dir, `data-${this.serverCount}`);
    await mkdir(dataDir, { recursive: true });
    this.states.set(instance, {});
    return { instance, helixSession, dataDir };
  }

  /**
   * Build the segment on each replica's disk (same content, so the same CRC), write its metadata as the
   * controller does at commit end (DONE, URL "" by default), then put the replicas in their servers' current
   * states. Returns the CRC.
   */
  async commit(segment: string, replicas: ReplicaSpec[], fields: SegmentFields = {}): Promise<string> {
    let crc: string | undefined;
    for (const replica of replicas) {
      const local = replica.local ?? 'build';
      if (local === 'none') continue;
      const built = await buildSegment(path.join(replica.server.dataDir, TABLE), {
        name: segment,
        sealed: local === 'build',
        ...(replica.payloadBytes === undefined ? {} : { payloadBytes: replica.payloadBytes, payloadKind: 'random' }),
      });
      if (crc !== undefined && crc !== String(built.crc)) throw new Error('replicas built with different CRCs');
      crc = String(built.crc);
    }
    const zkFields: SegmentFields = { status: 'DONE', downloadUrl: '', crc: crc ?? '12345', ...fields };
    await this.seed.putSegment(TABLE, segment, zkFields);
    const metadataPath = this.seed.paths.segmentMetadata(TABLE, segment);
    this.committed.set(metadataPath, await snapshotRecord(this.seedSession, metadataPath));
    for (const replica of replicas) await this.setReplicaState(replica.server, segment, replica.state ?? 'ONLINE');
    return zkFields.crc!;
  }

  async setReplicaState(server: Server, segment: string, state: string): Promise<void> {
    const states = this.states.get(server.instance)!;
    states[segment] = state;
    await this.seed.setCurrentState(server.instance, server.helixSession, TABLE, states);
  }

  metadataPath(segment: string): string {
    return this.seed.paths.segmentMetadata(TABLE, segment);
  }

  async record(segment: string) {
    return readRecord(this.seedSession, this.metadataPath(segment));
  }

  async url(segment: string): Promise<string | undefined> {
    return (await this.record(segment))?.doc.record.simpleFields['segment.download.url'];
  }

  /**
   * A sidecar for `server`: its own ZooKeeper session (or `zk`, already connected), tracker and reconciler,
   * with fast schedules (FAST) unless overridden.
   */
  async startSidecar(
    server: Server,
    options: Partial<Omit<ReconcilerOptions, 'session' | 'deepStore'>> & {
      zkOptions?: Partial<ZkSessionOptions>;
      zk?: ZkSession;
      deepStore?: DeepStore;
      /** The server's storage-tier data dirs, searched after its data dir (--tier-data-dir). */
      tierDataDirs?: string[];
    } = {},
  ): Promise<Sidecar> {
    const { zkOptions: sessionOptions, zk, deepStore: givenStore, tierDataDirs, ...reconcilerOptions } = options;
    const session = zk ?? (await connectSession({ connectString: this.connectString, ...sessionOptions }));
    const tracker = new HostedSegments({
      session,
      cluster: this.cluster,
      instance: server.instance,
      retryDelayMs: 100,
    });
    await tracker.start();
    const deepStore = givenStore ?? this.newDeepStore();
    const metrics = createMetrics({ defaultMetrics: false });
    const logs: LogLine[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
    const reconciler = new Reconciler({
      session,
      hosted: tracker,
      store: new SegmentStore(server.dataDir, { tierDataDirs }),
      deepStore,
      cluster: this.cluster,
      instance: server.instance,
      metrics,
      logger,
      ...FAST,
      ...reconcilerOptions,
    });
    reconciler.start();
    let stopped: Promise<void> | undefined;
    const sidecar: Sidecar = {
      server,
      session,
      tracker,
      reconciler,
      deepStore,
      metrics,
      logs,
      stop: () =>
        (stopped ??= (async () => {
          await reconciler.stop();
          tracker.stop();
          await session.close();
          await deepStore.close();
        })()),
    };
    this.sidecars.push(sidecar);
    return sidecar;
  }

  /**
   * One server hosting seg(1) (DONE, URL ""), and its sidecar with an attempt held at the start of the upload:
   * the lock is taken and the record read; the scenario changes the world, then calls release().
   */
  async heldAttempt(
    options: { replica?: Omit<ReplicaSpec, 'server'>; sidecar?: Parameters<RepairWorld['startSidecar']>[1] } = {},
  ): Promise<{ server: Server; sidecar: Sidecar; store: GatedDeepStore; release: () => void }> {
    const server = await this.addServer();
    await this.commit(seg(1), [{ server, ...options.replica }]);
    const store = new GatedDeepStore(this.newDeepStore());
    const held = store.holdNextPut();
    const sidecar = await this.startSidecar(server, { ...options.sidecar, deepStore: store });
    await held.reached;
    return { server, sidecar, store, release: held.release };
  }

  /** The invariant check of every scenario (test/helpers/repair-invariants.ts) over every committed segment. */
  async checkInvariants(): Promise<void> {
    await assertRepairInvariants({
      session: this.seedSession,
      before: this.committed.values(),
      openObject: this.openObject,
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.sidecars.map((s) => s.stop()));
    await this.seedSession.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface TestBed {
  /** The S3 fake and the fault proxy in front of it, for the whole file; the proxy is reset after each test. */
  readonly fake: S3Fake;
  readonly proxy: FaultProxy;
  /** A new world for this test (closed after it): S3 through the proxy by default, or the file store. */
  world(options?: { store?: 's3' | 'file'; connectString?: string }, table?: TableOptions): Promise<RepairWorld>;
}

/** Registers the file's hooks: one S3 fake and fault proxy per file (useProxiedS3), one world per test. */
export function useTestBed(): TestBed {
  const proxied = useProxiedS3();
  let current: RepairWorld | undefined;
  // Registered after useProxiedS3's hooks, so it runs before them: the world is closed before the proxy resets.
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return {
    get fake() {
      return proxied.fake;
    },
    get proxy() {
      return proxied.proxy;
    },
    async world(options = {}, table = {}) {
      const s3 = (options.store ?? 's3') === 's3' ? { s3: { fake: proxied.fake, proxy: proxied.proxy } } : {};
      current = await RepairWorld.create(
        { ...s3, ...(options.connectString ? { connectString: options.connectString } : {}) },
        table,
      );
      return current;
    },
  };
}

/** The state of one segment in a sidecar's status view. */
export function entryOf(sidecar: Sidecar, segment: string) {
  return sidecar.reconciler.status().segments.find((s) => s.table === TABLE && s.segment === segment);
}

/** Counter value of pinot_sidecar_deep_store_uploads_total{table, result}. */
export async function uploads(sidecar: Sidecar, result: string): Promise<number> {
  const metric = await sidecar.metrics.uploads.get();
  return metric.values.find((v) => v.labels.table === TABLE && v.labels.result === result)?.value ?? 0;
}

/** Log lines of one event. */
export function events(sidecar: Sidecar, event: string): LogLine[] {
  return sidecar.logs.filter((l) => l.event === event);
}

type GatedCall = 'put' | 'verifyArchive';
interface Gate {
  match: (uri: string) => boolean;
  reached: () => void;
  released: Promise<void>;
}

/**
 * A deep store that can hold a put at its start until the test releases it: the scenario then changes the
 * world (deletes the znode, the local directory, sets the URL elsewhere, loses the ZK session) at a known
 * point of the attempt. Everything else goes to the real store.
 */
export class GatedDeepStore implements DeepStore {
  puts = 0;
  private readonly gates = new Map<GatedCall, Gate>();

  constructor(readonly inner: DeepStore) {}

  get baseUri(): string {
    return this.inner.baseUri;
  }

  segmentUri(rawTableName: string, segmentName: string): string {
    return this.inner.segmentUri(rawTableName, segmentName);
  }

  /** The next put (to a URI `match` accepts) waits; `reached` resolves when it does, `release()` lets it go on. */
  holdNextPut(match: (uri: string) => boolean = () => true): { reached: Promise<void>; release: () => void } {
    return this.holdNext('put', match);
  }

  /**
   * The next verifyArchive waits: the attempt holds its lock and has read the record, and has not looked at
   * the local directory again yet (the archive is planned after this check).
   */
  holdNextVerify(match: (uri: string) => boolean = () => true): { reached: Promise<void>; release: () => void } {
    return this.holdNext('verifyArchive', match);
  }

  private holdNext(call: GatedCall, match: (uri: string) => boolean): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((r) => (reached = r));
    const released = new Promise<void>((r) => (release = r));
    this.gates.set(call, { match, reached, released });
    return { reached: reachedPromise, release };
  }

  /**
   * Waits at the gate of `call` when one is set for this URI; rejects with the signal's reason if aborted meanwhile.
   */
  private async pass(call: GatedCall, uri: string, signal: AbortSignal | undefined): Promise<void> {
    const gate = this.gates.get(call);
    if (!gate?.match(uri)) return;
    this.gates.delete(call);
    gate.reached();
    const aborted = new Promise<never>((_, reject) => {
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    await Promise.race([gate.released, aborted]);
  }

  async put(
    uri: string,
    body: Readable,
    meta: SegmentObjectMeta,
    options: DeepStoreCallOptions = {},
  ): Promise<{ bytes: number }> {
    this.puts += 1;
    try {
      await this.pass('put', uri, options.signal);
    } catch (err) {
      body.destroy();
      throw err;
    }
    return this.inner.put(uri, body, meta, options);
  }

  head(uri: string, options?: DeepStoreCallOptions): Promise<StoredObject | null> {
    return this.inner.head(uri, options);
  }

  get(uri: string, options?: DeepStoreCallOptions): Promise<ObjectRead> {
    return this.inner.get(uri, options);
  }

  async verifyArchive(
    uri: string,
    expected: SegmentObjectMeta,
    options?: DeepStoreCallOptions,
  ): Promise<ArchiveVerdict> {
    await this.pass('verifyArchive', uri, options?.signal);
    return this.inner.verifyArchive(uri, expected, options);
  }

  sweepStaleTemps(options?: SweepOptions): Promise<SweepResult> {
    return this.inner.sweepStaleTemps(options);
  }

  probe(mode: ProbeMode, options?: ProbeOptions): Promise<ProbeResult> {
    return this.inner.probe(mode, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Overwrite a local segment's creation.meta CRC (the v1 layout builder puts it at the top level). */
export async function corruptLocalCrc(server: Server, segment: string, crc: number): Promise<void> {
  const meta = Buffer.alloc(16);
  meta.writeBigInt64BE(BigInt(crc), 0);
  meta.writeBigInt64BE(1_700_000_000_000n, 8);
  await writeFile(path.join(server.dataDir, TABLE, segment, 'creation.meta'), meta);
}

/** URL writes a session sent: a compare-and-set alone (setData) or with the lock's release (one multi). */
export function urlWrites(session: ZkSession): number {
  return session.requests.setData + session.requests.multi;
}
