import { createMetrics, type Metrics } from '../../src/agent/metrics.js';
import { SEGMENT_STATUSES } from '../../src/helix/index.js';

/**
 * The sidecar's metrics as a running sidecar exposes them (`createMetrics()`, default process metrics included)
 * with a value set for every table-labelled series the way the commit-state collector and the reconciler set
 * them, so each labelled family has samples. Counters and gauges with fixed label sets are started by
 * createMetrics/knownTable.
 */
export function populatedMetrics(table = 'events_REALTIME'): Metrics {
  const metrics = createMetrics();
  metrics.knownTable(table);
  metrics.pauselessEnabled.labels(table).set(1);
  for (const status of SEGMENT_STATUSES) metrics.segments.labels(table, status).set(1);
  metrics.segmentsMissingDeepStore.labels(table).set(1);
  metrics.segmentsInError.labels(table).set(0);
  metrics.committingStuck.labels(table).set(0);
  metrics.pauselessInError.labels(table).set(0);
  metrics.pauselessUnrecoverable.labels(table).set(0);
  metrics.uploadDuration.observe(2);
  metrics.uploadBytes.inc(1024);
  metrics.downloadDuration.observe(0.5);
  metrics.downloadBytes.inc(1024);
  metrics.zkExpirations.inc(0);
  // Absent until the deep-store probe's first answer: a running sidecar has one.
  metrics.deepStoreUp.set(1);
  // Absent without TLS: a sidecar serving HTTPS has one.
  metrics.tlsCertificateExpiry.set(1_900_000_000);
  return metrics;
}
