import { errorMessage } from '../errors.js';
import { createDeepStore, type DeepStore } from '../deepstore/index.js';
import { ClusterNotFoundError, HostedSegments, ZkSession } from '../helix/index.js';
import { createLogger, type Logger } from '../log.js';
import { CompressionPool, SegmentStore } from '../segments/index.js';
import { Conditions } from './conditions.js';
import { ConfigError, deepStoreOptions, type ServeConfig } from './config.js';
import { checkTierDataDirs, DATA_DIR_CHECK_INTERVAL_MS, inspectDataDir } from './data-dir.js';
import { createApp, type Readiness } from './http/app.js';
import { DownloadSlots } from './http/download-slots.js';
import { readSecurity, startListeners, type Listeners } from './http/listeners.js';
import { createMetrics, type Metrics } from './metrics.js';
import { CommitStateCollector } from './observability/commit-state-collector.js';
import { DeepStoreProbe } from './repair/deep-store-probe.js';
import { StaleTempSweep } from './repair/stale-temp-sweep.js';
import { registerPauselessDebugInfo } from './observability/pauseless-debug.js';
import { registerRepairRoutes } from './http/repair-routes.js';
import { registerDrainRoutes } from './http/drain-routes.js';
import { DrainPreparation } from './drain/prepare.js';
import { lockRootUnder, Reconciler } from './repair/index.js';
import { registrationAddress, SidecarRegistration } from './fleet/registration.js';
import { registrationPath } from './fleet/registry-record.js';
import { registerFleetSummary } from './fleet/summary-route.js';
import { version } from './version.js';

export interface SidecarParts {
  session: ZkSession;
  hosted: HostedSegments;
  store: SegmentStore;
  deepStore: DeepStore | undefined;
  /** Undefined without a deep store (repair off). */
  reconciler: Reconciler | undefined;
  metrics: Metrics;
  logger: Logger;
  config: ServeConfig;
  /** What must hold for the sidecar to do its job: readiness reasons and warnings, logged while unmet. */
  conditions: Conditions;
  /** Undefined without a deep store, or with --deep-store-probe off. */
  deepStoreProbe: DeepStoreProbe | undefined;
  /** The --compression-threads workers, shared by downloads and uploads; stopped last on shutdown. */
  compressionPool: CompressionPool;
  /** This sidecar's entry in the fleet registry; set once the port is open (the URL needs it). */
  registration?: SidecarRegistration;
}

/** A component started after the first sync and stopped first on shutdown (the reconciler, collectors). */
export interface Service {
  start(): void | Promise<void>;
  stop(): Promise<void>;
}

/**
 * The composition root (docs/architecture.md, "Layers": src/agent composes; helix, segments and
 * deepstore never meet elsewhere). Order matters: everything that can be wrong with the configuration is
 * checked before the port opens; downloads work as soon as it does, even while ZooKeeper is unreachable (a
 * peer fetching a segment needs only the disk); readiness waits for ZooKeeper and the first sync.
 */
export class Sidecar {
  private accepting = true;
  private firstSyncDone = false;
  private shuttingDown: Promise<void> | undefined;
  private syncRetry: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private syncFailures = 0;

  private constructor(
    readonly parts: SidecarParts,
    private readonly http: Listeners,
    private readonly services: Service[],
  ) {}

  get port(): number {
    return this.http.port;
  }

  /** The plain-HTTP probe port (--http-port), undefined without it. */
  get probePort(): number | undefined {
    return this.http.probePort;
  }

  /**
   * Start everything. Rejects with ConfigError (before listening) for a bad configuration. What is not there
   * yet — ZooKeeper, the cluster, the instance's registration, the data dir — is waited for, never fatal: each is
   * a condition (conditions.ts) that readiness, the logs and the gauges report until it holds.
   */
  static async start(config: ServeConfig, options: { logger?: Logger } = {}): Promise<Sidecar> {
    const logger = options.logger ?? createLogger({ level: config.logLevel });
    const startedAt = new Date().toISOString();
    // The only local writes are scratch files; with a read-only root filesystem they must go here.
    if (config.tmpDir !== undefined) process.env.TMPDIR = config.tmpDir;
    // Tokens and certificates are read before anything listens: an unusable one is a configuration error (exit 2).
    const security = await readSecurity(config, logger);
    const conditions = new Conditions({ logger });
    const dataDir = await inspectDataDir(config.dataDir);
    await checkTierDataDirs(config.tierDataDirs, logger);
    let deepStore: DeepStore | undefined;
    try {
      deepStore =
        config.deepStore === undefined
          ? undefined
          : createDeepStore(config.deepStore, { ...deepStoreOptions(config, process.env), logger });
    } catch (err) {
      throw new ConfigError([`--deep-store (PINOT_SIDECAR_DEEP_STORE): ${errorMessage(err)}`]);
    }
    if (!deepStore)
      logger.warn('no --deep-store configured: deep-store repair is off; downloads and metrics still work');

    const metrics = createMetrics();
    const session = new ZkSession({
      connectString: config.zk,
      sessionTimeoutMs: config.zkSessionTimeoutMs,
      maxRecordBytes: config.zkMaxRecordMib * 1024 * 1024,
      logger,
      onRequest: (op) => metrics.zkRequests.labels(op).inc(),
    });
    session.on('connected', () => {
      metrics.zkConnected.set(1);
      conditions.set('zookeeper', 'blocking', { ok: true });
    });
    session.on('disconnected', () => {
      metrics.zkConnected.set(0);
      conditions.set('zookeeper', 'blocking', { ok: false, reason: `disconnected from ${config.zk}; reconnecting` });
    });
    session.on('connectFailed', (reason) => conditions.set('zookeeper', 'blocking', { ok: false, reason }));
    session.on('expired', () => {
      metrics.zkConnected.set(0);
      metrics.zkExpirations.inc();
      conditions.set('zookeeper', 'blocking', { ok: false, reason: 'session expired; a new one is being made' });
    });
    const hosted = new HostedSegments({ session, cluster: config.cluster, instance: config.instance, logger });
    // The server's state: not registered at all is a configuration error (a wrong --instance) and fails readiness;
    // registered but down only warns (its segments are still on disk and served; see conditions.ts).
    hosted.on('server', (server) => {
      metrics.serverLive.set(server.state === 'live' ? 1 : 0);
      if (server.state === 'live') conditions.set('server', 'warning', { ok: true });
      else
        conditions.set('server', server.state === 'not_registered' ? 'blocking' : 'warning', {
          ok: false,
          reason: server.reason,
        });
    });
    // null settings: the table left the server; its series go at the next scrape (dropTablesOtherThan).
    hosted.on('tableSettings', (table, settings) => {
      if (settings !== null) metrics.knownTable(table);
    });
    const store = new SegmentStore(config.dataDir, { tierDataDirs: config.tierDataDirs });
    const compressionPool = new CompressionPool({ threads: config.compressionThreads });
    const commitState = new CommitStateCollector({
      hosted,
      session,
      metrics,
      cluster: config.cluster,
      instance: config.instance,
      logger,
    });
    const reconciler = deepStore
      ? new Reconciler({
          session,
          hosted,
          store,
          deepStore,
          cluster: config.cluster,
          instance: config.instance,
          metrics,
          logger,
          parallelism: config.repairParallelism,
          safetyPassIntervalMs: config.repairIntervalS * 1000,
          lockRoot: lockRootUnder(config.lockRoot, config.cluster),
          gzipLevel: config.gzipLevel,
          compressionPool,
        })
      : undefined;
    // The deep store checked before a repair needs it (bad bucket, no credentials, read-only mount, wrong endpoint):
    // a warning, not a readiness failure (downloads and metrics still work; see conditions.ts).
    const deepStoreProbe =
      deepStore && config.deepStoreProbe !== 'off'
        ? new DeepStoreProbe({ deepStore, mode: config.deepStoreProbe, probeName: config.instance, metrics, logger })
        : undefined;
    const parts: SidecarParts = {
      session,
      hosted,
      store,
      deepStore,
      reconciler,
      metrics,
      logger,
      config,
      conditions,
      deepStoreProbe,
      compressionPool,
    };
    const services: Service[] = [];
    if (reconciler) services.push({ start: () => reconciler.start(), stop: () => reconciler.stop() });
    if (deepStore) services.push(new StaleTempSweep({ deepStore, metrics, logger }));
    if (deepStoreProbe) services.push(deepStoreProbe);

    let sidecar: Sidecar | undefined;
    const slots = new DownloadSlots(config.maxDownloads, config.downloadQueue);
    const app = createApp({
      store,
      slots,
      metrics,
      logger,
      gzipLevel: config.gzipLevel,
      compressionPool,
      downloadIdleTimeoutMs: config.downloadIdleTimeoutS * 1000,
      // Pinot's own endpoint serves only segments its data manager loaded: a replica this server reports in ERROR
      // or OFFLINE may be half-built or damaged. Unknown (not synced yet, ZooKeeper away) is served: the disk is
      // all a download needs.
      refuseReplica: config.serveErrorReplicas
        ? undefined
        : (table, segment) => refusedReplicaReason(hosted.get(table, segment)?.state),
      ...(security.tokens ? { tokens: () => security.tokens!.tokens } : {}),
      clientAllow: config.tlsClientAllow,
      authHealth: config.authHealth,
      readiness: () => sidecar?.readiness() ?? { ready: false, reasons: ['starting'] },
      accepting: () => sidecar?.accepting ?? true,
      routes: [
        (a) => registerRepairRoutes(a, reconciler, logger, deepStoreProbe && (() => deepStoreProbe.status())),
        (a) =>
          registerDrainRoutes(a, {
            check: {
              session,
              hosted,
              cluster: config.cluster,
              instance: config.instance,
              ...(config.failureDomainTag === undefined ? {} : { failureDomainTagPrefix: config.failureDomainTag }),
            },
            preparation: reconciler && new DrainPreparation(reconciler, logger),
          }),
        (a) =>
          registerFleetSummary(a, {
            instance: config.instance,
            zone: () => parts.registration?.zone ?? config.zone,
            version: version(),
            startedAt,
            hosted,
            repairTotals: () => reconciler?.totals(),
            slots,
            readiness: () => sidecar?.readiness() ?? { ready: false, reasons: ['starting'] },
          }),
        (a) =>
          registerPauselessDebugInfo(a, {
            hosted,
            session,
            cluster: config.cluster,
            instance: config.instance,
            logger,
          }),
      ],
      beforeScrape: () => commitState.refresh(),
    });
    const http = await startListeners(app, security, {
      port: config.port,
      host: config.host,
      ...(config.httpPort === undefined ? {} : { httpPort: config.httpPort }),
      metrics,
      logger,
    });
    sidecar = new Sidecar(parts, http, services);
    logger.info(
      {
        port: http.port,
        tls: http.tls,
        mutualTls: config.tlsClientCaFile !== undefined,
        probePort: http.probePort ?? null,
        host: config.host,
        cluster: config.cluster,
        instance: config.instance,
        deepStore: config.deepStore ?? null,
      },
      'pinot-sidecar listening',
    );
    sidecar.noteDataDir(dataDir);
    sidecar.watch();
    metrics.registered.set(0);
    parts.registration = new SidecarRegistration({
      session,
      path: registrationPath(config.lockRoot, config.cluster, config.instance),
      address: registrationAddress({
        advertiseUrl: config.advertiseUrl,
        zone: config.zone,
        failureDomainTagPrefix: config.failureDomainTag,
        session,
        cluster: config.cluster,
        instance: config.instance,
        port: http.port,
        tls: config.tlsCertFile !== undefined,
      }),
      entry: { version: version(), startedAt, capabilities: capabilities(parts) },
      conditions,
      onRegistered: (registered) => metrics.registered.set(registered ? 1 : 0),
      logger,
    });
    // Registered as soon as ZooKeeper answers, not after the first sync: a sidecar still syncing (or waiting for its
    // cluster) is in the fleet view, not ready, rather than missing from it.
    parts.registration.start();
    // At once, not after the first sync: a deep store that cannot be used is said before any repair needs it.
    deepStoreProbe?.start();
    session.start();
    void sidecar.syncWhenConnected();
    return sidecar;
  }

  readiness(): Readiness {
    const { reasons, warnings } = this.parts.conditions.readiness();
    // The probe logs its own changes; readiness only lists it (a warning: downloads and metrics still work).
    const deepStoreNote = this.parts.deepStoreProbe?.readinessNote();
    if (deepStoreNote) warnings.push(`deep_store: ${deepStoreNote}`);
    if (!this.accepting) reasons.unshift('shutting down');
    if (!this.firstSyncDone) reasons.push('first sync of hosted segments not done');
    return { ready: reasons.length === 0, reasons, warnings };
  }

  /** The data dir's state: a gauge, and a readiness reason while it is awaited. */
  noteDataDir(state: Awaited<ReturnType<typeof inspectDataDir>>): void {
    this.parts.metrics.dataDirPresent.set(state.present ? 1 : 0);
    this.parts.conditions.set(
      'data_dir',
      'blocking',
      state.present ? { ok: true } : { ok: false, reason: state.reason },
    );
  }

  /**
   * Looks again, every DATA_DIR_CHECK_INTERVAL_MS, at what has no event to follow (the data dir appearing or
   * going), and logs again what is still wrong (Conditions.repeat).
   */
  watch(): void {
    this.watchTimer = setInterval(() => {
      this.parts.conditions.repeat();
      inspectDataDir(this.parts.config.dataDir).then(
        (state) => this.noteDataDir(state),
        (err: unknown) => this.parts.conditions.set('data_dir', 'blocking', { ok: false, reason: errorMessage(err) }),
      );
    }, DATA_DIR_CHECK_INTERVAL_MS);
    this.watchTimer.unref();
  }

  /** Resolves once the first sync is done (for tests and the demo). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.readiness().ready) {
      if (Date.now() > deadline)
        throw new Error(`not ready after ${timeoutMs} ms: ${this.readiness().reasons.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async syncWhenConnected(): Promise<void> {
    const { session, hosted, logger } = this.parts;
    const { conditions } = this.parts;
    try {
      await session.waitConnected(this.parts.config.zkSessionTimeoutMs);
      await hosted.start();
    } catch (err) {
      if (this.shuttingDown) return;
      // A cluster not created yet is normal on a fresh install (a native sidecar starts before the controller):
      // waited for with backoff and said plainly, never a crash loop that would hold the server back.
      if (err instanceof ClusterNotFoundError)
        conditions.set('cluster', 'blocking', { ok: false, reason: `${err.message}; waiting for it` });
      else if (session.state === 'connected')
        logger.warn({ event: 'first_sync_failed', err: errorMessage(err) }, 'first sync failed; retrying');
      // Not connected: the zookeeper condition already says why, once. Then the next try starts at once: it waits
      // for the connection itself, so the sync begins the moment ZooKeeper answers. Backoff is for failures while
      // connected (a cluster not created yet), which only time can fix.
      const connected = session.state === 'connected';
      this.syncFailures = connected ? this.syncFailures + 1 : 0;
      const delayMs = connected ? Math.min(SYNC_RETRY_MAX_MS, SYNC_RETRY_MIN_MS * 2 ** (this.syncFailures - 1)) : 0;
      this.syncRetry = setTimeout(() => void this.syncWhenConnected(), delayMs);
      return;
    }
    conditions.set('cluster', 'blocking', { ok: true });
    // Shutdown may have begun while the first sync ran: services are not started after their stop.
    if (this.shuttingDown) return;
    this.firstSyncDone = true;
    logger.info(
      { tables: hosted.tables().length, segments: hosted.count(), zkRequests: session.totalRequests() },
      'first sync done',
    );
    for (const service of this.services) await service.start();
  }

  /**
   * SIGTERM path: readiness false and new downloads refused first, then services stop (uploads abort,
   * no ZooKeeper write after this point), in-flight downloads drain up to the grace period, and
   * ZooKeeper closes last. Idempotent.
   */
  shutdown(graceMs = this.parts.config.shutdownGraceS * 1000): Promise<void> {
    this.shuttingDown ??= (async () => {
      const { logger, hosted, session, deepStore, compressionPool } = this.parts;
      logger.info({ graceMs }, 'shutting down');
      this.accepting = false;
      clearTimeout(this.syncRetry);
      clearInterval(this.watchTimer);
      // No re-registration from here on; the entry goes with the session, closed last.
      this.parts.registration?.stop();
      // Services (the reconciler: aborts uploads, no ZooKeeper write from here on) stop while the
      // in-flight downloads drain, not before: the two must fit in one grace period together.
      await Promise.all([
        ...this.services.map((s) => s.stop().catch((err: unknown) => logger.error({ err }, 'service stop failed'))),
        this.http.close(graceMs),
      ]);
      hosted.stop();
      await session.close();
      await deepStore?.close();
      // After the downloads drained and the uploads aborted: nothing compresses any more.
      await compressionPool.close();
      logger.info('shut down');
    })();
    return this.shuttingDown;
  }
}

/** What this sidecar answers, registered so that a newer CLI asks an older sidecar only what it can answer. */
function capabilities(parts: SidecarParts): string[] {
  const list = ['segment-download', 'fleet-summary', 'pauseless-debug', 'drain-check'];
  if (parts.reconciler) list.push('repair', 'drain-prepare');
  return list;
}

/** Why a replica in `state` is not served by default, or undefined to serve it. */
export function refusedReplicaReason(state: string | undefined): string | undefined {
  if (state !== 'ERROR' && state !== 'OFFLINE') return undefined;
  return `the replica on this server is ${state}, and Pinot serves only segments it has loaded (--serve-error-replicas serves it anyway)`;
}

/** Backoff of the first sync while ZooKeeper, the cluster or the sync itself is not there yet. */
const SYNC_RETRY_MIN_MS = 1_000;
const SYNC_RETRY_MAX_MS = 30_000;
