import type { Hono } from 'hono';
import type { HostedSegments } from '../../helix/index.js';
import type { Readiness } from '../http/app.js';
import type { DownloadSlots } from '../http/download-slots.js';
import { MethodNotAllowedError } from '../http/errors.js';
import { tableCommitState } from '../observability/commit-state.js';
import type { RepairStateName } from '../repair/repair-state.js';
import { repairCounts, type FleetSummary } from './summary.js';

export interface FleetSummaryDeps {
  instance: string;
  /** The zone the sidecar registered (`--zone`, else its server's failure domain), read at each answer. */
  zone: () => string | undefined;
  version: string;
  startedAt: string;
  hosted: Pick<HostedSegments, 'tables' | 'segments' | 'tableSettings' | 'clusterSettings' | 'count'>;
  /** The reconciler's totals; undefined when repair is off. */
  repairTotals: () => Record<RepairStateName, number> | undefined;
  slots: Pick<DownloadSlots, 'active' | 'queued'>;
  readiness: () => Readiness;
  now?: () => number;
}

/**
 * `GET /fleet/summary`, behind the token like every route but health and metrics. Answered from memory: the
 * missing-copy count is the commit-state collector's own rule (tableCommitState) over the tracker's view, so it
 * agrees with `pinot_sidecar_segments_missing_deep_store` without waiting for a scrape, and a frozen ZooKeeper never
 * slows the fleet view down.
 */
export function registerFleetSummary(app: Hono, deps: FleetSummaryDeps): void {
  app.get('/fleet/summary', (c) => c.json(fleetSummary(deps)));
  app.all('/fleet/summary', (c) => {
    throw new MethodNotAllowedError(c.req.method, '/fleet/summary', ['GET', 'HEAD']);
  });
}

export function fleetSummary(deps: FleetSummaryDeps): FleetSummary {
  const { hosted } = deps;
  const now = (deps.now ?? Date.now)();
  let missingDeepStore = 0;
  for (const table of hosted.tables())
    missingDeepStore += tableCommitState(
      hosted.segments(table).values(),
      hosted.tableSettings(table),
      hosted.clusterSettings,
      now,
    ).missingDeepStore;
  const readiness = deps.readiness();
  const totals = deps.repairTotals();
  return {
    instance: deps.instance,
    zone: deps.zone() ?? null,
    version: deps.version,
    startedAt: deps.startedAt,
    ready: readiness.ready,
    reasons: readiness.reasons,
    hostedSegments: hosted.count(),
    missingDeepStore,
    repairs: totals === undefined ? null : repairCounts(totals),
    downloads: { inFlight: deps.slots.active, queued: deps.slots.queued },
  };
}
