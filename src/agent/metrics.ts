import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ZK_OPS } from '../helix/index.js';
import { REPAIR_STATES } from './repair/repair-state.js';

/** `no_space`: a failed attempt because the deep store is full (ENOSPC, EDQUOT, 507...); `error`: any other failure. */
export const UPLOAD_RESULTS = ['success', 'already_uploaded', 'fixed_by_other', 'gone', 'error', 'no_space'] as const;
export type UploadResult = (typeof UPLOAD_RESULTS)[number];

export const DOWNLOAD_RESULTS = [
  'success',
  'bad_request',
  'not_found',
  'unauthorized',
  'busy',
  'aborted',
  'error',
] as const;
export type DownloadResult = (typeof DOWNLOAD_RESULTS)[number];

const P = 'pinot_sidecar_';

/**
 * Every metric the sidecar exports (README.md, "Metrics": prefix pinot_sidecar_, base units,
 * counters end in _total, labels table/status/result/op only — never a segment name). Counters
 * with a fixed label set start at 0 so rate() works from the first scrape; table-labelled series
 * start at 0 when the table becomes known (knownTable()).
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectProcessMetrics(registry);
  const registers = [registry];

  const metrics = {
    registry,

    // --- commit state, per hosted table (gauges return to 0 when the condition clears) ---
    pauselessEnabled: new Gauge({
      name: `${P}pauseless_consumption_enabled`,
      help: 'Whether the table has pauseless consumption enabled (1) or not (0).',
      labelNames: ['table'] as const,
      registers,
    }),
    segments: new Gauge({
      name: `${P}segments`,
      help: 'Segments hosted by this server, by ZooKeeper commit status.',
      labelNames: ['table', 'status'] as const,
      registers,
    }),
    segmentsMissingDeepStore: new Gauge({
      name: `${P}segments_missing_deep_store`,
      help: 'Hosted segments committed DONE without a deep-store copy (download URL "").',
      labelNames: ['table'] as const,
      registers,
    }),
    segmentsInError: new Gauge({
      name: `${P}segments_in_error`,
      help: 'Hosted segments whose replica on this server is in ERROR.',
      labelNames: ['table'] as const,
      registers,
    }),
    committingStuck: new Gauge({
      name: `${P}committing_segments_stuck`,
      help: 'Hosted segments COMMITTING for longer than max.segment.completion.time.millis.',
      labelNames: ['table'] as const,
      registers,
    }),
    pauselessInError: new Gauge({
      name: `${P}pauseless_segments_in_error`,
      help: "Segments with every replica in ERROR (the controller's definition); each counted by one sidecar.",
      labelNames: ['table'] as const,
      registers,
    }),
    pauselessUnrecoverable: new Gauge({
      name: `${P}pauseless_segments_in_unrecoverable_error`,
      help: 'Segments with every replica in ERROR that the controller may not repair (dedup or partial upsert without disasterRecoveryMode ALWAYS).',
      labelNames: ['table'] as const,
      registers,
    }),

    // --- deep-store repair ---
    uploads: new Counter({
      name: `${P}deep_store_uploads_total`,
      help: 'Deep-store repair attempts by result.',
      labelNames: ['table', 'result'] as const,
      registers,
    }),
    uploadDuration: new Histogram({
      name: `${P}deep_store_upload_duration_seconds`,
      help: 'Time to upload one segment archive to the deep store.',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    uploadBytes: new Counter({
      name: `${P}deep_store_upload_bytes_total`,
      help: 'Bytes uploaded to the deep store.',
      registers,
    }),
    repairQueueDepth: new Gauge({
      name: `${P}repair_queue_depth`,
      help: 'Segments waiting for or undergoing repair.',
      registers,
    }),
    repairLastSuccess: new Gauge({
      name: `${P}repair_last_success_timestamp_seconds`,
      help: 'Unix time of the last successful repair (0 = none yet).',
      registers,
    }),
    deepStoreOrphans: new Counter({
      name: `${P}deep_store_orphans_total`,
      help: 'Objects the repair left in the deep store with no ZooKeeper record pointing at them (segment deleted, or its URL set elsewhere, after the upload).',
      labelNames: ['table'] as const,
      registers,
    }),
    staleTempsRemoved: new Counter({
      name: `${P}deep_store_stale_temps_removed_total`,
      help: 'Temp files of uploads whose sidecar died mid-write, removed from the deep store by the periodic sweep.',
      registers,
    }),
    deepStoreUp: new Gauge({
      name: `${P}deep_store_up`,
      help: 'Whether the last deep-store probe found the store usable (1) or not (0). Absent until the first probe answers, and when probing is off.',
      registers,
    }),
    repairSegments: new Gauge({
      name: `${P}repair_segments`,
      help: 'Segments tracked by the deep-store repair, by repair state (GET /repair/status totals).',
      labelNames: ['status'] as const,
      registers,
    }),

    // --- peer downloads ---
    downloads: new Counter({
      name: `${P}peer_downloads_total`,
      help: 'Segment download requests by result.',
      labelNames: ['result'] as const,
      registers,
    }),
    downloadBytes: new Counter({
      name: `${P}peer_download_bytes_total`,
      help: 'Compressed bytes sent to segment downloaders.',
      registers,
    }),
    downloadDuration: new Histogram({
      name: `${P}peer_download_duration_seconds`,
      help: 'Time to stream one segment archive.',
      buckets: [0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    downloadsInFlight: new Gauge({
      name: `${P}peer_downloads_in_flight`,
      help: 'Segment downloads being streamed now.',
      registers,
    }),

    // --- what the sidecar needs to do its job (issue 12: never green and idle) ---
    serverLive: new Gauge({
      name: `${P}server_live`,
      help: 'Whether the Pinot server beside the sidecar is live in the cluster (1) or not (0: down, not registered, or unknown).',
      registers,
    }),
    registered: new Gauge({
      name: `${P}registered`,
      help: 'Whether this sidecar is in the fleet registry in ZooKeeper (1) or not (0; see the registration condition).',
      registers,
    }),
    dataDirPresent: new Gauge({
      name: `${P}data_dir_present`,
      help: "Whether the server's data dir exists (1) or is still awaited (0).",
      registers,
    }),

    // --- TLS ---
    tlsCertificateExpiry: new Gauge({
      name: `${P}tls_certificate_expiry_timestamp_seconds`,
      help: 'When the certificate the HTTPS port serves expires (Unix time); absent without TLS. Follows rotation.',
      registers,
    }),

    // --- ZooKeeper ---
    zkConnected: new Gauge({
      name: `${P}zk_connected`,
      help: 'Whether the ZooKeeper session is connected (1) or not (0).',
      registers,
    }),
    zkExpirations: new Counter({
      name: `${P}zk_session_expirations_total`,
      help: 'ZooKeeper session expirations (reported by the server or detected locally).',
      registers,
    }),
    zkRequests: new Counter({
      name: `${P}zk_requests_total`,
      help: 'ZooKeeper requests sent, by operation.',
      labelNames: ['op'] as const,
      registers,
    }),

    /** Start the table's counters at 0 (Prometheus sees the series before the first event). */
    knownTable(table: string): void {
      for (const result of UPLOAD_RESULTS) metrics.uploads.labels(table, result).inc(0);
      metrics.deepStoreOrphans.labels(table).inc(0);
    },

    /**
     * Remove every series of a table not in `tables` from every metric labelled by table, gauges and
     * counters alike, so a server that sheds tables does not export them (or grow) forever. Counters
     * go too: Prometheus marks the vanished series stale and rate()/increase() use the samples they
     * saw; if the table comes back its counters restart at 0, which rate() reads as a reset. Only
     * increments after the last scrape of a table no longer hosted are lost. Any series, however it
     * was made (knownTable, a late upload result), is found here.
     */
    async dropTablesOtherThan(tables: ReadonlySet<string>): Promise<void> {
      for (const metric of perTable) {
        for (const { labels } of (await metric.get()).values) {
          if (labels.table !== undefined && !tables.has(String(labels.table))) metric.remove(labels);
        }
      }
    },
  };

  /** Every metric labelled by table (README.md, "Metrics"), found by its label names so a new one cannot be missed. */
  const perTable: TableLabelledMetric[] = Object.values(metrics).filter(
    (m): m is Counter<string> | Gauge<string> =>
      (m instanceof Counter || m instanceof Gauge) &&
      (m as unknown as { labelNames: readonly string[] }).labelNames.includes('table'),
  );

  for (const result of DOWNLOAD_RESULTS) metrics.downloads.labels(result).inc(0);
  for (const op of ZK_OPS) metrics.zkRequests.labels(op).inc(0);
  metrics.zkConnected.set(0);
  metrics.serverLive.set(0);
  metrics.dataDirPresent.set(0);
  metrics.repairQueueDepth.set(0);
  metrics.repairLastSuccess.set(0);
  for (const state of REPAIR_STATES) metrics.repairSegments.labels(state).set(0);
  metrics.downloadsInFlight.set(0);
  metrics.staleTempsRemoved.inc(0);
  // prom-client starts an unlabelled gauge at 0; "not probed (yet)" is no sample, never a 0 that reads as down.
  metrics.deepStoreUp.remove();
  // Without TLS there is no certificate: no sample, never a 0 that reads as expired in 1970.
  metrics.tlsCertificateExpiry.remove();
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The Node.js process metrics (prom-client's defaults, prefixed): CPU, memory, fds, heap, event-loop lag,
 * GC. prom-client also registers `nodejs_active_{handles,requests,resources}_total`: gauges named like
 * counters, which `promtool check metrics` refuses ("non-counter metrics should not have _total suffix",
 * exit 3) and which rate() would misread. Each is the sum of its labelled sibling
 * (`sum(pinot_sidecar_nodejs_active_handles)`), so dropping every default gauge named `_total` loses
 * nothing, and also catches such a gauge added by a later prom-client.
 */
function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: P });
  for (const metric of registry.getMetricsAsArray()) {
    if (metric instanceof Gauge && metric.name.endsWith('_total')) registry.removeSingleMetric(metric.name);
  }
}

type Labels = Partial<Record<string, string | number>>;

/** What dropTablesOtherThan needs of a gauge or counter labelled by table. */
interface TableLabelledMetric {
  get(): Promise<{ values: Array<{ labels: Labels }> }>;
  remove(labels: Labels): void;
}
