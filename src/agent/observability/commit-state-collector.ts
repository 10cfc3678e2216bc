import {
  clusterPaths,
  readRecord,
  readSegmentAssignment,
  SEGMENT_STATUSES,
  type HostedSegments,
  type ZkSession,
} from '../../helix/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../metrics.js';
import { pauselessErrorCounts, tableCommitState, type PauselessErrorCounts } from './commit-state.js';

export interface CommitStateCollectorOptions {
  hosted: HostedSegments;
  session: ZkSession;
  metrics: Metrics;
  cluster: string;
  instance: string;
  logger: Logger;
  /** At most one external-view read per table per interval (default 60 s). */
  externalViewIntervalMs?: number;
  now?: () => number;
}

/**
 * Sets the commit-state gauges from the tracker's view right before each scrape, so the stuck-commit
 * clock is exact at scrape time and nothing runs when nobody looks. The external view (often large,
 * often gzipped) is read only for a pauseless table where this server holds a replica in ERROR —
 * the only case in which this sidecar can own an all-replicas-in-ERROR segment — and at most once
 * per interval per table; never per segment. A table that left the server leaves every per-table
 * series too (Metrics.dropTablesOtherThan), at the same moment: right before the scrape.
 */
export class CommitStateCollector {
  private readonly paths;
  private readonly now: () => number;
  private readonly evIntervalMs: number;
  private readonly evCache = new Map<string, { at: number; counts: PauselessErrorCounts }>();
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: CommitStateCollectorOptions) {
    this.paths = clusterPaths(options.cluster);
    this.now = options.now ?? Date.now;
    this.evIntervalMs = options.externalViewIntervalMs ?? 60_000;
  }

  /** Concurrent scrapes share one refresh. */
  refresh(): Promise<void> {
    this.inFlight ??= this.compute().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async compute(): Promise<void> {
    const { hosted, metrics } = this.options;
    const now = this.now();
    const tables = new Set(hosted.tables());
    // A table no longer hosted: its series go away rather than freezing at their last value.
    await metrics.dropTablesOtherThan(tables);
    for (const table of this.evCache.keys()) if (!tables.has(table)) this.evCache.delete(table);
    for (const table of tables) {
      const settings = hosted.tableSettings(table);
      const state = tableCommitState(hosted.segments(table).values(), settings, hosted.clusterSettings, now);
      metrics.pauselessEnabled.labels(table).set(state.pauselessEnabled ? 1 : 0);
      for (const status of SEGMENT_STATUSES) metrics.segments.labels(table, status).set(state.byStatus[status]);
      metrics.segmentsMissingDeepStore.labels(table).set(state.missingDeepStore);
      metrics.segmentsInError.labels(table).set(state.inError);
      metrics.committingStuck.labels(table).set(state.committingStuck);
      let errors: PauselessErrorCounts = { inError: 0, unrecoverable: 0 };
      if (state.pauselessEnabled && state.errorSegments.length > 0) errors = await this.pauselessErrors(table, now);
      else this.evCache.delete(table);
      metrics.pauselessInError.labels(table).set(errors.inError);
      metrics.pauselessUnrecoverable.labels(table).set(errors.unrecoverable);
    }
  }

  private async pauselessErrors(table: string, now: number): Promise<PauselessErrorCounts> {
    const cached = this.evCache.get(table);
    if (cached && now - cached.at < this.evIntervalMs) return cached.counts;
    const { session, hosted, instance, logger } = this.options;
    // Without a connection a read would wait out its timeout inside the scrape: keep the last figures.
    if (session.state !== 'connected') return cached?.counts ?? { inError: 0, unrecoverable: 0 };
    try {
      const [ev, is] = await Promise.all([
        readRecord(session, this.paths.externalView(table)),
        readRecord(session, this.paths.idealState(table)),
      ]);
      const counts = pauselessErrorCounts({
        instance,
        settings: hosted.tableSettings(table),
        cluster: hosted.clusterSettings,
        externalView: ev ? readSegmentAssignment(ev.doc.record) : new Map(),
        idealStateSegments: new Set(is ? Object.keys(is.doc.record.mapFields) : []),
      });
      this.evCache.set(table, { at: now, counts });
      return counts;
    } catch (err) {
      // A scrape must not fail because ZooKeeper is away: keep the last figures, try again next interval.
      logger.warn({ err, table }, 'external view unreadable; pauseless error gauges keep their last value');
      const last = cached?.counts ?? { inError: 0, unrecoverable: 0 };
      this.evCache.set(table, { at: now, counts: last });
      return last;
    }
  }
}
