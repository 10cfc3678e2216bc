import { Hono } from 'hono';
import type { Logger } from '../../log.js';
import type { CompressionPool, SegmentStore } from '../../segments/index.js';
import type { Metrics } from '../metrics.js';
import type { DownloadSlots } from './download-slots.js';
import { errorBody, NotFoundError, toHttpError } from './errors.js';
import type { PlansFirst } from './plans-first.js';
import { isDownloadPath, registerSegmentDownloads } from './segment-download.js';
import { clientAllowList } from './tls.js';
import { scopedAuth, TokenSet } from './tokens.js';

export interface Readiness {
  ready: boolean;
  /** Why not ready (empty when ready). */
  reasons: string[];
  /** What is wrong without making the sidecar unready (the server down, the deep store out): see conditions.ts. */
  warnings?: string[];
}

export interface AppDeps {
  store: SegmentStore;
  slots: DownloadSlots;
  metrics: Metrics;
  logger: Logger;
  gzipLevel: number;
  /** Threads that compress downloads (default: the process-wide pool). */
  compressionPool?: CompressionPool;
  /** A download whose reader takes no bytes for this long is ended (default DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS, 60 s). */
  downloadIdleTimeoutMs?: number;
  /** Bearer token granting every scope; undefined (and no `tokens`) = no authentication. */
  token?: string;
  /** The scoped tokens in force at each request (tokens.ts; rotated by TokenFilesWatcher); wins over `token`. */
  tokens?: () => TokenSet;
  /** Names a client certificate must carry (--tls-client-allow); only with mutual TLS. */
  clientAllow?: readonly string[];
  /** Require the token on /health/* and /metrics too. */
  authHealth?: boolean;
  readiness: () => Readiness;
  /** False once shutdown starts. */
  accepting: () => boolean;
  /** Why a replica must not be served (see SegmentDownloadDeps.refuseReplica). */
  refuseReplica?: (tableNameWithType: string, segment: string) => string | undefined;
  /** See SegmentDownloadDeps.plansFirst (default one per app). */
  plansFirst?: PlansFirst;
  /** Brings computed gauges up to date right before /metrics renders (the commit-state collector). */
  beforeScrape?: () => Promise<void>;
  /** Extra routes (repair status, debug views), registered after authentication. */
  routes?: Array<(app: Hono) => void>;
}

const OPEN_PATHS = new Set(['/health/live', '/health/ready', '/metrics']);

/** The sidecar's HTTP surface on one port: segment downloads, health, metrics, and what `routes` adds. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const log = deps.logger.child({ component: 'http' });

  app.onError((err, c) => {
    const http = toHttpError(err);
    if (http.status === 500) log.error({ err, path: c.req.path }, 'request failed');
    return c.body(errorBody(http.status, http.message), http.status, {
      ...http.headers,
      'Content-Type': 'application/json',
    });
  });
  app.notFound((c) => {
    const http = toHttpError(new NotFoundError(`no such endpoint: ${c.req.method} ${c.req.path}`));
    return c.body(errorBody(http.status, http.message), http.status, { 'Content-Type': 'application/json' });
  });

  if (deps.clientAllow !== undefined && deps.clientAllow.length > 0) app.use('*', clientAllowList(deps.clientAllow));
  const fixed =
    deps.token === undefined ? undefined : TokenSet.of([{ token: deps.token, scopes: ['download', 'admin'] }]);
  const tokens = deps.tokens ?? (fixed && (() => fixed));
  if (tokens !== undefined) {
    app.use(
      '*',
      scopedAuth({
        tokens,
        openPaths: deps.authHealth ? new Set() : OPEN_PATHS,
        // A download refused for its token never reaches the download handler, which counts every
        // other outcome: count it here (GET only, like every other download outcome; HEAD is never counted).
        onReject: (c) => {
          if (c.req.method === 'GET' && isDownloadPath(c.req.path)) deps.metrics.downloads.labels('unauthorized').inc();
        },
      }),
    );
  }

  app.get('/health/live', (c) => c.json({ status: 'ok' }));
  app.get('/health/ready', (c) => {
    const r = deps.readiness();
    return c.json(
      { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, warnings: r.warnings ?? [] },
      r.ready ? 200 : 503,
    );
  });
  app.get('/metrics', async (c) => {
    // A scrape must answer within Prometheus's timeout whatever ZooKeeper does: a refresh that takes
    // longer keeps running and the scrape serves the values it has.
    if (deps.beforeScrape) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn('metrics refresh slower than 2 s; serving the last values');
          resolve();
        }, 2_000);
      });
      const refresh = deps
        .beforeScrape()
        .catch((err: unknown) => log.warn({ err }, 'metrics refresh failed; serving the last values'));
      await Promise.race([refresh, deadline]);
      clearTimeout(timer);
    }
    return c.body(await deps.metrics.registry.metrics(), 200, { 'Content-Type': deps.metrics.registry.contentType });
  });

  registerSegmentDownloads(app, deps);
  for (const register of deps.routes ?? []) register(app);
  return app;
}
