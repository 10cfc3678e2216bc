// `POST /drain/prepare` (issue 16): repair, ahead of the normal queue, the segments a drain of this server would
// lose, and say how far that got. The repairs themselves are the reconciler's (repair/reconciler.ts,
// requestPriority); this keeps only which segments the last preparation asked for and when.

import type { Logger } from '../../log.js';
import type { PassSummary, Reconciler, RepairStatusSegment } from '../repair/index.js';
import type { SegmentAtRisk } from './assess.js';

/** One segment of a preparation, with its repair entry as `GET /repair/status` shows it (null: none yet). */
export interface PreparedSegment {
  table: string;
  segment: string;
  reason: SegmentAtRisk['reason'];
  repair: Pick<RepairStatusSegment, 'state' | 'reason' | 'attempts' | 'lastError' | 'nextAttemptAt' | 'uri'> | null;
}

export interface PreparationProgress {
  startedAt: string;
  /** When the attempts it started had all settled; null while they run. */
  finishedAt: string | null;
  segments: PreparedSegment[];
  /** The pass's summary once finished. */
  summary: PassSummary | null;
}

/** The current (or last) preparation of this server for a drain; one at a time, a new one replaces it. */
export class DrainPreparation {
  private last:
    | { startedAt: string; segments: SegmentAtRisk[]; finishedAt: string | null; summary: PassSummary | null }
    | undefined;

  constructor(
    private readonly reconciler: Reconciler,
    private readonly logger: Logger,
  ) {}

  /** Start repairing `atRisk` first; resolves with the pass summary when its attempts have settled. */
  start(atRisk: readonly SegmentAtRisk[]): Promise<PassSummary> {
    const run = { startedAt: new Date().toISOString(), segments: [...atRisk], finishedAt: null, summary: null };
    this.last = run;
    const pass = this.reconciler.requestPriority(atRisk.map(({ table, segment }) => ({ table, segment })));
    pass.then(
      (summary) => {
        Object.assign(run, { finishedAt: new Date().toISOString(), summary });
        this.logger.info({ event: 'drain_prepared', ...summary }, 'drain preparation finished');
      },
      (err: unknown) => this.logger.warn({ err }, 'drain preparation failed'),
    );
    return pass;
  }

  /** The last preparation, each segment with its repair state now; null when none was asked for. */
  progress(): PreparationProgress | null {
    if (!this.last) return null;
    const entries = new Map(this.reconciler.status().segments.map((s) => [`${s.table}/${s.segment}`, s]));
    return {
      startedAt: this.last.startedAt,
      finishedAt: this.last.finishedAt,
      summary: this.last.summary,
      segments: this.last.segments.map(({ table, segment, reason }) => {
        const e = entries.get(`${table}/${segment}`);
        return {
          table,
          segment,
          reason,
          repair: e
            ? {
                state: e.state,
                reason: e.reason,
                attempts: e.attempts,
                lastError: e.lastError,
                nextAttemptAt: e.nextAttemptAt,
                uri: e.uri,
              }
            : null,
        };
      }),
    };
  }
}
