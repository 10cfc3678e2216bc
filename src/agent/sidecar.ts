import { access, constants, readFile, stat } from 'node:fs/promises';
import type { Hono } from 'hono';
import { errorMessage } from '../errors.js';
import { createDeepStore, type DeepStore } from '../deepstore/index.js';
import { ClusterNotFoundError } from '../helix/errors.js';
import { HostedSegments } from '../helix/hosted-segments.js';
import { ZkSession } from '../helix/zk-session.js';
import { createLogger, type Logger } from '../log.js';
import { SegmentStore } from '../segments/index.js';
import { ConfigError, type ServeConfig } from './config.js';
import { createApp, type Readiness } from './http/app.js';
import { DownloadSlots } from './http/download-slots.js';
import { startHttpServer, type HttpServer } from './http/server.js';
import { createMetrics, type Metrics } from './metrics.js';
import { CommitStateCollector } from './observability/commit-state-collector.js';
import { StaleTempSweep } from './repair/stale-temp-sweep.js';
import { registerPauselessDebugInfo } from './observability/pauseless-debug.js';
import { registerRepairRoutes } from './http/repair-routes.js';
import { Reconciler } from './repair/index.js';

/**
 * The composition root (DESIGN.md: src/agent composes; helix, segments and deepstore never meet
 * elsewhere). Order matters: everything that can be wrong with the configuration is checked before
 * the port opens; downloads work as soon as it does, even while ZooKeeper is unreachable (a peer
 * fetching a segment needs only the disk); readiness waits for ZooKeeper and the first sync.
 */
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
}

/** A component started after the first sync and stopped first on shutdown (the reconciler, collectors). */
export interface Service {
  start(): void | Promise<void>;
  stop(): Promise<void>;
  routes?: (app: Hono) => void;
}

export type ServiceFactory = (parts: SidecarParts) => Service;

export class Sidecar {
  private accepting = true;
  private firstSyncDone = false;
  private shuttingDown: Promise<void> | undefined;
  private syncRetry: NodeJS.Timeout | undefined;

  private constructor(
    readonly parts: SidecarParts,
    private readonly http: HttpServer,
    private readonly services: Service[],
    private readonly fail: (err: Error) => void,
  ) {}

  get port(): number {
    return this.http.port;
  }

  /**
   * Start everything. Rejects with ConfigError (before listening) for a bad configuration; a cluster
   * that does not exist is reported through `onFatal` once ZooKeeper says so.
   */
  static async start(
    config: ServeConfig,
    options: { logger?: Logger; services?: ServiceFactory[]; onFatal?: (err: Error) => void } = {},
  ): Promise<Sidecar> {
    const logger = options.logger ?? createLogger({ level: config.logLevel });
    // The only local writes are scratch files; with a read-only root filesystem they must go here.
    if (config.tmpDir !== undefined) process.env.TMPDIR = config.tmpDir;
    const token = config.tokenFile === undefined ? undefined : await readToken(config.tokenFile);
    await checkDataDir(config.dataDir, logger);
    await checkTierDataDirs(config.tierDataDirs, logger);
    let deepStore: DeepStore | undefined;
    try {
      deepStore =
        config.deepStore === undefined
          ? undefined
          : createDeepStore(config.deepStore, {
              logger,
              s3: {
                endpoint: config.s3Endpoint,
                region: config.s3Region ?? process.env.AWS_REGION ?? 'us-east-1',
                forcePathStyle: config.s3PathStyle,
                checksums: config.s3Checksums ?? (config.s3Endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED'),
              },
            });
    } catch (err) {
      throw new ConfigError([`--deep-store (PINOT_SIDECAR_DEEP_STORE): ${errorMessage(err)}`]);
    }
    if (!deepStore) logger.warn('no --deep-store configured: deep-store repair is off; downloads and metrics still work');

    const metrics = createMetrics();
    const session = new ZkSession({
      connectString: config.zk,
      sessionTimeoutMs: config.zkSessionTimeoutMs,
      maxRecordBytes: config.zkMaxRecordMib * 1024 * 1024,
      logger,
      onRequest: (op) => metrics.zkRequests.labels(op).inc(),
    });
    session.on('connected', () => metrics.zkConnected.set(1));
    session.on('disconnected', () => metrics.zkConnected.set(0));
    session.on('expired', () => {
      metrics.zkConnected.set(0);
      metrics.zkExpirations.inc();
    });
    const hosted = new HostedSegments({ session, cluster: config.cluster, instance: config.instance, logger });
    // null settings: the table left the server; its series go at the next scrape (dropTablesOtherThan).
    hosted.on('tableSettings', (table, settings) => {
      if (settings !== null) metrics.knownTable(table);
    });
    const store = new SegmentStore(config.dataDir, { tierDataDirs: config.tierDataDirs });
    const commitState = new CommitStateCollector({ hosted, session, metrics, cluster: config.cluster, instance: config.instance, logger });
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
          lockRoot: `${config.lockRoot.replace(/\/+$/, '')}/${config.cluster}/locks`,
          gzipLevel: config.gzipLevel,
        })
      : undefined;
    const parts: SidecarParts = { session, hosted, store, deepStore, reconciler, metrics, logger, config };
    const services = (options.services ?? []).map((make) => make(parts));
    if (reconciler) services.unshift({ start: () => reconciler.start(), stop: () => reconciler.stop() });
    if (deepStore) services.push(new StaleTempSweep({ deepStore, metrics, logger }));

    let sidecar: Sidecar | undefined;
    const slots = new DownloadSlots(config.maxDownloads, config.downloadQueue);
    const app = createApp({
      store,
      slots,
      metrics,
      logger,
      gzipLevel: config.gzipLevel,
      downloadIdleTimeoutMs: config.downloadIdleTimeoutS * 1000,
      token,
      authHealth: config.authHealth,
      readiness: () => sidecar?.readiness() ?? { ready: false, reasons: ['starting'] },
      accepting: () => sidecar?.accepting ?? true,
      routes: [
        (a) => registerRepairRoutes(a, reconciler, logger),
        (a) => registerPauselessDebugInfo(a, { hosted, session, cluster: config.cluster, instance: config.instance, logger }),
        ...services.flatMap((s) => (s.routes ? [s.routes] : [])),
      ],
      beforeScrape: () => commitState.refresh(),
    });
    const http = await startHttpServer(app, { port: config.port, host: config.host });
    const fail = options.onFatal ?? ((err: Error) => logger.fatal({ err }, 'fatal'));
    sidecar = new Sidecar(parts, http, services, fail);
    logger.info({ port: http.port, host: config.host, cluster: config.cluster, instance: config.instance, deepStore: config.deepStore ?? null }, 'pinot-sidecar listening');
    session.start();
    void sidecar.syncWhenConnected();
    return sidecar;
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (!this.accepting) reasons.push('shutting down');
    if (this.parts.session.state !== 'connected') reasons.push(`zookeeper ${this.parts.session.state}`);
    if (!this.firstSyncDone) reasons.push('first sync of hosted segments not done');
    return { ready: reasons.length === 0, reasons };
  }

  /** Resolves once the first sync is done (for tests and the demo). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.readiness().ready) {
      if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms: ${this.readiness().reasons.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async syncWhenConnected(): Promise<void> {
    const { session, hosted, logger } = this.parts;
    try {
      await session.waitConnected(this.parts.config.zkSessionTimeoutMs);
      await hosted.start();
    } catch (err) {
      if (this.shuttingDown) return;
      if (err instanceof ClusterNotFoundError) {
        this.fail(err);
        return;
      }
      logger.warn({ err }, 'first sync failed; retrying');
      this.syncRetry = setTimeout(() => void this.syncWhenConnected(), 2_000);
      return;
    }
    // Shutdown may have begun while the first sync ran: services are not started after their stop.
    if (this.shuttingDown) return;
    this.firstSyncDone = true;
    logger.info({ tables: hosted.tables().length, segments: hosted.count(), zkRequests: session.totalRequests() }, 'first sync done');
    for (const service of this.services) await service.start();
  }

  /**
   * SIGTERM path: readiness false and new downloads refused first, then services stop (uploads abort,
   * no ZooKeeper write after this point), in-flight downloads drain up to the grace period, and
   * ZooKeeper closes last. Idempotent.
   */
  shutdown(graceMs = this.parts.config.shutdownGraceS * 1000): Promise<void> {
    this.shuttingDown ??= (async () => {
      const { logger, hosted, session, deepStore } = this.parts;
      logger.info({ graceMs }, 'shutting down');
      this.accepting = false;
      clearTimeout(this.syncRetry);
      // Services (the reconciler: aborts uploads, no ZooKeeper write from here on) stop while the
      // in-flight downloads drain, not before: the two must fit in one grace period together.
      await Promise.all([
        ...this.services.map((s) => s.stop().catch((err: unknown) => logger.error({ err }, 'service stop failed'))),
        this.http.close(graceMs),
      ]);
      hosted.stop();
      await session.close();
      await deepStore?.close();
      logger.info('shut down');
    })();
    return this.shuttingDown;
  }
}

async function readToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new ConfigError([`--token-file (PINOT_SIDECAR_TOKEN_FILE): cannot read ${file}: ${errorMessage(err)}`]);
  }
  if (token === '' || /\s/.test(token)) throw new ConfigError([`--token-file (PINOT_SIDECAR_TOKEN_FILE): ${file} must hold one non-empty token without spaces`]);
  return token;
}

/**
 * A data dir that does not exist yet is normal on a fresh volume: the server creates it on start,
 * and a native sidecar starts before the server (DESIGN.md deployment). Downloads answer 503 until it
 * appears. Something there that is not a readable directory is a configuration error.
 */
async function checkDataDir(dir: string, logger: Logger): Promise<void> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      logger.warn({ dataDir: dir }, 'data dir does not exist yet; segments are served once the server creates it');
      return;
    }
    throw new ConfigError([`--data-dir (PINOT_SIDECAR_DATA_DIR): cannot stat ${dir}: ${errorMessage(err)}`]);
  }
  try {
    if (!info.isDirectory()) throw new Error('not a directory');
    await access(dir, constants.R_OK | constants.X_OK);
  } catch (err) {
    throw new ConfigError([`--data-dir (PINOT_SIDECAR_DATA_DIR): ${dir} is not a readable directory: ${errorMessage(err)}`]);
  }
}

/**
 * Pinot creates a tier's data dir when it first moves a segment there (TierBasedSegmentDirectoryLoader), so
 * one that does not exist yet is normal and its segments are served once it appears. Something there that is
 * not a readable directory is a configuration error, as for --data-dir.
 */
async function checkTierDataDirs(dirs: readonly string[], logger: Logger): Promise<void> {
  const problems: string[] = [];
  for (const dir of dirs) {
    try {
      const info = await stat(dir);
      if (!info.isDirectory()) throw new Error('not a directory');
      await access(dir, constants.R_OK | constants.X_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        logger.info({ tierDataDir: dir }, 'tier data dir does not exist yet; its segments are served once Pinot moves segments there');
        continue;
      }
      problems.push(`--tier-data-dir (PINOT_SIDECAR_TIER_DATA_DIRS): ${dir} is not a readable directory: ${errorMessage(err)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
