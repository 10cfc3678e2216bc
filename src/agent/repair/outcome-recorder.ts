import { isNoSpace } from '../../deepstore/index.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../metrics.js';
import { classifyFailure, retryDelayMs, type BackoffPolicy } from './backoff.js';
import { isReportOnlyReason, type SkipVerdict } from './eligibility.js';
import { AmbiguousWriteError } from './errors.js';
import type { HostedView } from './hosted-view.js';
import type { AttemptOutcome } from './repair-attempt.js';
import {
  isFinished,
  REPAIR_STATES,
  seenOf,
  type RepairEntry,
  type RepairPatch,
  type RepairState,
  type ZnodeSeen,
} from './repair-state.js';

export interface OutcomeRecorderOptions {
  /** The entries it writes (the reconciler reads them). */
  repair: RepairState;
  /** The tracker's view: a `gone` outcome marks the version it still caches as superseded. */
  hosted: Pick<HostedView, 'get'>;
  metrics: Metrics | undefined;
  logger: Logger;
  now: () => number;
  random: () => number;
  backoff: BackoffPolicy;
  /** Wait before trying again when another sidecar holds the lock (jittered to 50-100 %). */
  lockRetryMs: number;
  /** The lock node of a segment, shown to operators while another sidecar holds it. */
  lockPath: (table: string, segment: string) => string;
  /** Called whenever an entry gets a time for its next attempt (the reconciler arms its wake timer). */
  onScheduled: () => void;
}

/**
 * Where everything the repair learns about a segment is recorded: its entry in the repair state (`GET
 * /repair/status`), the metrics (pinot_sidecar_uploads_total, the state gauges, ...) and the log events operators
 * and alerts follow (upload_success, upload_failure, fixed_by_other, gone, skipped, crc_mismatch, orphan_object).
 * The reconciler decides and runs attempts; this says what came of them, the same way every time.
 */
export class OutcomeRecorder {
  private readonly repair: RepairState;
  private readonly hosted: Pick<HostedView, 'get'>;
  private readonly metrics: Metrics | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly lockRetryMs: number;
  private readonly lockPath: (table: string, segment: string) => string;
  private readonly onScheduled: () => void;

  constructor(options: OutcomeRecorderOptions) {
    this.repair = options.repair;
    this.hosted = options.hosted;
    this.metrics = options.metrics;
    this.log = options.logger;
    this.now = options.now;
    this.random = options.random;
    this.backoff = options.backoff;
    this.lockRetryMs = options.lockRetryMs;
    this.lockPath = options.lockPath;
    this.onScheduled = options.onScheduled;
  }

  /** What an attempt that ran to its end (no error thrown) came to. */
  attempted(table: string, segment: string, outcome: AttemptOutcome): void {
    const attempts = (this.repair.get(table, segment)?.attempts ?? 0) + 1;
    switch (outcome.kind) {
      case 'locked': {
        // Not an error and not an attempt: another replica's sidecar is on it. Its URL write will reach us as a
        // change (fixed_by_other); if it dies, its ephemeral lock goes with its session and we take over.
        const at = this.now();
        const nextAttemptAt = at + Math.round(this.lockRetryMs * (0.5 + this.random() / 2));
        this.setState(table, segment, {
          at,
          state: 'pending',
          reason: 'locked_by_other',
          detail: this.lockPath(table, segment),
          nextAttemptAt,
          ...(outcome.unconfirmedWrite === undefined ? {} : { unconfirmedWrite: outcome.unconfirmedWrite }),
        });
        return;
      }
      case 'done': {
        const reason = outcome.result === 'already_uploaded' ? 'already_uploaded' : null;
        this.setState(table, segment, {
          state: 'done',
          reason,
          detail: null,
          attempts,
          failures: 0,
          lastError: null,
          uri: outcome.uri,
          seen: seenOf(outcome.seen),
        });
        this.metrics?.uploads.labels(table, outcome.result).inc();
        if (outcome.bytes !== null) this.metrics?.uploadBytes.inc(outcome.bytes);
        if (outcome.uploadMs !== null) this.metrics?.uploadDuration.observe(outcome.uploadMs / 1000);
        this.metrics?.repairLastSuccess.set(this.now() / 1000);
        this.log.info(
          {
            event: 'upload_success',
            table,
            segment,
            uri: outcome.uri,
            result: outcome.result,
            bytes: outcome.bytes,
            uploadMs: outcome.uploadMs,
            attempts,
          },
          outcome.result === 'success'
            ? 'segment uploaded to the deep store and its URL set'
            : 'segment already in the deep store: URL set',
        );
        return;
      }
      case 'fixed_by_other':
        this.fixedByOther(table, segment, outcome.url, outcome.seen, { attempts, orphanUri: outcome.orphan ?? null });
        this.orphan(table, segment, outcome.orphan);
        return;
      case 'gone': {
        // Until the tracker sees the deletion its cached record is stale: mark that version as superseded (a
        // znode recreated later has a later mtime and is not).
        const cached = this.hosted.get(table, segment)?.zk;
        const seen = cached ? { version: cached.version + 1, mtimeMs: cached.mtimeMs } : null;
        this.setState(table, segment, {
          state: 'gone',
          reason: null,
          detail: 'segment znode deleted; not recreated',
          attempts,
          seen,
          orphanUri: outcome.orphan ?? null,
        });
        this.metrics?.uploads.labels(table, 'gone').inc();
        this.log.info({ event: 'gone', table, segment }, 'segment metadata deleted during repair: left deleted');
        this.orphan(table, segment, outcome.orphan);
        return;
      }
      case 'skipped': {
        const verdict =
          outcome.detail === undefined
            ? { eligible: false as const, reason: outcome.reason }
            : { eligible: false as const, reason: outcome.reason, detail: outcome.detail };
        this.skipped(table, segment, verdict, outcome.seen, {
          attempts,
          ...(outcome.unconfirmedWrite === undefined ? {} : { unconfirmedWrite: outcome.unconfirmedWrite }),
        });
        return;
      }
    }
  }

  /** A failed attempt: retrying after a backoff, or `failed` (a permanent error) at the slowest pace. */
  failed(table: string, segment: string, err: unknown): void {
    const entry = this.repair.get(table, segment);
    const failures = (entry?.failures ?? 0) + 1;
    const failure = classifyFailure(err);
    const at = this.now();
    const nextAttemptAt = at + retryDelayMs(failures, failure, this.backoff, this.random);
    const next = this.setState(table, segment, {
      at,
      state: failure.permanent ? 'failed' : 'retrying',
      reason: failure.reason,
      detail: null,
      lastError: errorMessage(err),
      attempts: (entry?.attempts ?? 0) + 1,
      failures,
      nextAttemptAt,
      ...(err instanceof AmbiguousWriteError ? { unconfirmedWrite: err.write } : {}),
    });
    this.metrics?.uploads.labels(table, isNoSpace(err) ? 'no_space' : 'error').inc();
    this.log.warn(
      {
        event: 'upload_failure',
        table,
        segment,
        reason: failure.reason,
        permanent: failure.permanent,
        attempts: next.attempts,
        nextAttemptAt: new Date(nextAttemptAt).toISOString(),
        err: errorMessage(err),
      },
      failure.permanent
        ? 'deep-store repair failed (needs an operator); retrying at the slowest pace'
        : 'deep-store repair attempt failed; will retry',
    );
  }

  /** Someone else set the URL: kept as it is, and the repair is finished. */
  fixedByOther(table: string, segment: string, url: string, seen: ZnodeSeen, extra: Partial<RepairPatch> = {}): void {
    this.setState(table, segment, {
      ...extra,
      state: 'fixed_by_other',
      reason: null,
      detail: url,
      uri: url,
      seen: seenOf(seen),
      lastError: null,
    });
    this.metrics?.uploads.labels(table, 'fixed_by_other').inc();
    this.log.info({ event: 'fixed_by_other', table, segment, url }, 'download URL set by someone else: kept');
  }

  /** Record a skip; unchanged verdicts leave the entry (and its updatedAt) alone. */
  skipped(
    table: string,
    segment: string,
    verdict: SkipVerdict,
    seen: ZnodeSeen | null,
    extra: Partial<RepairPatch> = {},
  ): void {
    const entry = this.repair.get(table, segment);
    const detail = verdict.detail ?? null;
    const same = entry?.state === 'skipped' && entry.reason === verdict.reason && entry.detail === detail;
    if (same && extra.attempts === undefined) return;
    if (verdict.reason === 'crc_mismatch') {
      if (entry?.reason !== 'crc_mismatch')
        this.log.warn(
          { event: 'crc_mismatch', table, segment, detail },
          'local copy differs from ZK segment.crc: not uploaded',
        );
    } else if (!isReportOnlyReason(verdict.reason)) {
      this.log.info({ event: 'skipped', table, segment, reason: verdict.reason, detail }, 'segment not repaired');
    }
    this.setState(table, segment, {
      ...extra,
      state: 'skipped',
      reason: verdict.reason,
      detail,
      seen: seen && seenOf(seen),
    });
  }

  /**
   * An attempt is queued. A skipped segment being looked at again stays "skipped (reason)" until it passes the local
   * check; a finished one starts a new repair with fresh counts.
   */
  queued(table: string, segment: string): void {
    const entry = this.repair.get(table, segment);
    if (entry?.state === 'skipped') return;
    const fresh: Partial<RepairPatch> =
      entry && isFinished(entry.state) ? { attempts: 0, failures: 0, lastError: null, uri: null } : {};
    this.setState(table, segment, { ...fresh, state: 'pending', reason: null, detail: null });
  }

  /** The local copy is eligible: a segment that was skipped is pending again. */
  passedLocalCheck(table: string, segment: string): void {
    if (this.repair.get(table, segment)?.state === 'skipped')
      this.setState(table, segment, { state: 'pending', reason: null, detail: null });
  }

  /** An attempt's progress for the operator view. */
  progressed(table: string, segment: string, state: 'uploading' | 'verifying' | 'committing', uri: string): void {
    this.setState(table, segment, { state, uri, reason: null, detail: null });
  }

  /** An attempt ended by stop(): pending again, for the next start. */
  stopped(table: string, segment: string, err: unknown): void {
    this.setState(table, segment, { state: 'pending', reason: 'stopped', lastError: errorMessage(err) });
  }

  /** The view shows our unanswered URL write was not applied: nothing left to confirm; state and schedule unchanged. */
  unconfirmedNotApplied(table: string, segment: string): void {
    const entry = this.repair.get(table, segment);
    if (entry)
      this.setState(table, segment, { state: entry.state, unconfirmedWrite: null, nextAttemptAt: entry.nextAttemptAt });
  }

  /** The segment no longer matters: its active entry goes (a finished one stays for the record). */
  forget(table: string, segment: string): void {
    this.repair.forget(table, segment);
    this.publishGauges();
  }

  /** Export the state counts and the queue depth (pinot_sidecar_repair_segments, pinot_sidecar_repair_queue_depth). */
  publishGauges(): void {
    if (!this.metrics) return;
    const totals = this.repair.totals();
    for (const state of REPAIR_STATES) this.metrics.repairSegments.labels(state).set(totals[state]);
    this.metrics.repairQueueDepth.set(this.repair.queueDepth());
  }

  /** An object no record points at: counted and logged once, kept in the entry (orphanUri) for operators. */
  private orphan(table: string, segment: string, uri: string | undefined): void {
    if (uri === undefined) return;
    this.metrics?.deepStoreOrphans.labels(table).inc();
    this.log.warn(
      { event: 'orphan_object', table, segment, uri },
      'deep-store object left without a ZooKeeper record pointing at it: remove it when convenient',
    );
  }

  private setState(table: string, segment: string, patch: RepairPatch): Readonly<RepairEntry> {
    const entry = this.repair.update(table, segment, patch);
    this.publishGauges();
    if (patch.nextAttemptAt !== undefined && patch.nextAttemptAt !== null) this.onScheduled();
    return entry;
  }
}
