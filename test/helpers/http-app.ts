import { createApp, type AppDeps } from '../../src/agent/http/app.js';
import { DownloadSlots } from '../../src/agent/http/download-slots.js';
import { startHttpServer } from '../../src/agent/http/server.js';
import { createMetrics, type Metrics } from '../../src/agent/metrics.js';
import { silentLogger } from '../../src/log.js';
import { SegmentStore } from '../../src/segments/index.js';

export interface TestHttpServer {
  port: number;
  url: (path: string) => string;
  metrics: Metrics;
  slots: DownloadSlots;
  close: () => Promise<void>;
}

/** The sidecar's HTTP app on a loopback port over a data dir (or a given store), with test-sized limits. */
export async function startTestHttpServer(
  options: {
    dataDir: string;
    maxDownloads?: number;
    queue?: number;
    headersTimeoutMs?: number;
    timeoutCheckIntervalMs?: number;
  } & Partial<Omit<AppDeps, 'slots' | 'logger'>>,
): Promise<TestHttpServer> {
  const metrics = options.metrics ?? createMetrics({ defaultMetrics: false });
  const slots = new DownloadSlots(options.maxDownloads ?? 4, options.queue ?? 4);
  const app = createApp({
    store: options.store ?? new SegmentStore(options.dataDir),
    slots,
    metrics,
    logger: silentLogger,
    gzipLevel: options.gzipLevel ?? 1,
    downloadIdleTimeoutMs: options.downloadIdleTimeoutMs,
    token: options.token,
    authHealth: options.authHealth,
    readiness: options.readiness ?? (() => ({ ready: true, reasons: [] })),
    accepting: options.accepting ?? (() => true),
    routes: options.routes,
    beforeScrape: options.beforeScrape,
    plansFirst: options.plansFirst,
  });
  const server = await startHttpServer(app, {
    port: 0,
    host: '127.0.0.1',
    ...(options.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: options.headersTimeoutMs }),
    ...(options.timeoutCheckIntervalMs === undefined ? {} : { timeoutCheckIntervalMs: options.timeoutCheckIntervalMs }),
  });
  return {
    port: server.port,
    url: (path) => `http://127.0.0.1:${server.port}${path}`,
    metrics,
    slots,
    close: () => server.close(1_000),
  };
}

/** Current value of a metric series (0 when absent). */
export async function metricValue(
  metrics: Metrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}
