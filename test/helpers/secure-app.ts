import type { Hono } from 'hono';
import { createApp } from '../../src/agent/http/app.js';
import { DownloadSlots } from '../../src/agent/http/download-slots.js';
import { readSecurity, startListeners, type Listeners, type SecurityConfig } from '../../src/agent/http/listeners.js';
import { createMetrics, type Metrics } from '../../src/agent/metrics.js';
import { SegmentStore } from '../../src/segments/index.js';
import { captureLogs, type CapturedLogs } from './log-capture.js';

export interface SecureTestServer {
  listeners: Listeners;
  logs: CapturedLogs;
  metrics: Metrics;
  close: () => Promise<void>;
}

/**
 * The sidecar's HTTP app behind its real listeners (sidecar.ts's composition without ZooKeeper): HTTPS, mutual TLS,
 * the probe port and the token files exactly as `serve` reads them, logging into captured lines.
 */
export async function startSecureTestServer(
  dataDir: string,
  config: SecurityConfig & {
    tlsClientAllow?: string[];
    httpPort?: number;
    readiness?: () => { ready: boolean; reasons: string[] };
    routes?: Array<(app: Hono, logs: CapturedLogs) => void>;
  },
): Promise<SecureTestServer> {
  const logs = captureLogs();
  const metrics = createMetrics({ defaultMetrics: false });
  const security = await readSecurity(config, logs.logger);
  const app = createApp({
    store: new SegmentStore(dataDir),
    slots: new DownloadSlots(4, 4),
    metrics,
    logger: logs.logger,
    gzipLevel: 1,
    ...(security.tokens ? { tokens: () => security.tokens!.tokens } : {}),
    clientAllow: config.tlsClientAllow ?? [],
    readiness: config.readiness ?? (() => ({ ready: true, reasons: [] })),
    accepting: () => true,
    routes: (config.routes ?? []).map((r) => (a: Hono) => r(a, logs)),
  });
  const listeners = await startListeners(app, security, {
    host: '127.0.0.1',
    port: 0,
    ...(config.httpPort === undefined ? {} : { httpPort: config.httpPort }),
    metrics,
    logger: logs.logger,
  });
  return { listeners, logs, metrics, close: () => listeners.close(1_000) };
}
