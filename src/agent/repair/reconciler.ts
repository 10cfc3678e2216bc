import pLimit, { type LimitFunction } from 'p-limit';
import { isNoSpace, type DeepStore } from '../../deepstore/index.js';
import { errorMessage } from '../../errors.js';
import { clusterPaths, type ClusterPaths, type HostedSegmentChange, type HostedSegments, type ZkSession } from '../../helix/index.js';
import { silentLogger, type Logger } from '../../log.js';
import { tableSegmentKey as entryKey } from '../../pinot-format/index.js';
import { DEFAULT_GZIP_LEVEL, type SegmentStore } from '../../segments/index.js';
import type { Metrics } from '../metrics.js';
import { classifyFailure, DEFAULT_BACKOFF, retryDelayMs, type BackoffPolicy } from './backoff.js';
import { checkEligibility, checkMetadata, repairInterest, type EligibilityInput, type Eligibility } from './eligibility.js';
import { AmbiguousWriteError, LocalCopyUnreadableError, ReconcilerStoppedError, settleUnconfirmed } from './errors.js';
import { inspectLocalCopy } from './local-copy.js';
import { runRepairAttempt, type AttemptDeps, type AttemptOutcome } from './repair-attempt.js';
import {
  isFinished,
  isOlderThan,
  REPAIR_STATES,
  RepairState,
  seenOf,
  type RepairEntry,
  type RepairPatch,
  type RepairStateName,
  type RepairStatus,
  type ZnodeSeen,
} from './repair-state.js';
import { defaultLockRoot, UploadLocks } from './upload-lock.js';

/**
 * The deep-store repair engine (DESIGN.md "Deep-store repair", "Repair rules").
 *
 * What to look at comes from the hosted-segment tracker, never from a scan of ZooKeeper: its `change` events
 * mark segments dirty, and the dirty set is evaluated when the tracker reports `synced` (its view is then
 * consistent: a segment that appeared and its metadata are seen together). A safety pass every
 * `safetyPassIntervalMs` (default 10 min) re-evaluates every segment that matters from the tracker's cache —
 * no ZooKeeper reads — in case an event was missed or a local directory changed (local changes have no event).
 *
 * Evaluation is cheap and pure (eligibility.ts) until a segment is a candidate; then an attempt runs in one of
 * `parallelism` slots (p-limit, default 2): local check, lock, fresh read, HEAD, upload, verify, CAS
 * (repair-attempt.ts). A failed attempt frees its slot at once and records when to try again (backoff.ts) in
 * the repair state; a single wake timer brings due segments back. So a slow or failing segment never holds a
 * slot while it waits, and one bad segment never stops the others or a pass.
 *
 * ZooKeeper cost per repaired segment: create lock, read, compare-and-set, delete lock (plus the tracker's own
 * re-read of the znode our write changed). After stop() begins there is no ZooKeeper write at all: no lock,
 * no CAS, not even a lock delete (the ephemeral lock dies with the session the owner closes).
 */

export interface ReconcilerOptions {
  session: ZkSession;
  hosted: HostedSegments;
  store: SegmentStore;
  deepStore: DeepStore;
  cluster: string;
  /** This server's Helix instance id (written into lock nodes for operators). */
  instance: string;
  metrics?: Metrics;
  logger?: Logger;
  /** Attempts running at once (default 2). */
  parallelism?: number;
  /** Period of the safety pass (default 10 min). */
  safetyPassIntervalMs?: number;
  /** Root of the upload locks (default `/pinot-sidecar/<cluster>/locks`). */
  lockRoot?: string;
  /** gzip level of uploaded archives (default 1). */
  gzipLevel?: number;
  /** Clock for schedules, retention and timestamps (default Date.now). */
  now?: () => number;
  /** Backoff between failed attempts (default 1 s, x2, 5 min cap). */
  backoff?: Partial<BackoffPolicy>;
  /** Wait before trying again when another sidecar holds the lock (default 30 s, jittered). */
  lockRetryMs?: number;
  /** Deadline of one attempt, upload included (default 30 min). */
  attemptTimeoutMs?: number;
  /**
   * How long stop() waits for aborted attempts to settle (default 10 s). A store that ignores the abort
   * cannot hold shutdown hostage: what is still running then is abandoned, and can no longer write to ZooKeeper.
   */
  stopTimeoutMs?: number;
  /** Finished entries kept for the status view (default 1000). */
  maxFinishedEntries?: number;
  /** Jitter source (tests). */
  random?: () => number;
}

/** What requestPass() resolves with. */
export interface PassSummary {
  trigger: 'start' | 'safety' | 'request';
  startedAt: string;
  finishedAt: string;
  /** Segments the pass looked at: hosted segments that matter plus active repair entries. */
  considered: number;
  /** Attempts the pass started. */
  attempted: number;
  /** States of the considered segments when the pass ended (a segment no longer tracked is not counted). */
  totals: Record<RepairStateName, number>;
}

const REPORT_ONLY_REASONS: ReadonlySet<string> = new Set(['committing', 'in_progress']);
/** setTimeout's limit is ~24.8 days; a far wake-up simply re-arms. */
const MAX_TIMER_MS = 60 * 60 * 1000;

export class Reconciler {
  private readonly hosted: HostedSegments;
  private readonly store: SegmentStore;
  private readonly metrics: Metrics | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly safetyPassIntervalMs: number;
  private readonly lockRetryMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly paths: ClusterPaths;
  private readonly deps: AttemptDeps;
  private readonly repair: RepairState;
  private readonly limit: LimitFunction;

  /** Attempts queued or running, by entry key. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Segments that changed while their attempt was in flight: evaluated again when it settles. */
  private readonly again = new Set<string>();
  /** Changed segments waiting for the tracker's `synced`. */
  private readonly dirty = new Map<string, [table: string, segment: string]>();
  private readonly knownTables = new Set<string>();
  private readonly stopController = new AbortController();
  private stopping: Promise<void> | undefined;
  private started = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt: number | null = null;
  private safetyTimer: NodeJS.Timeout | undefined;

  constructor(options: ReconcilerOptions) {
    this.hosted = options.hosted;
    this.store = options.store;
    this.metrics = options.metrics;
    this.log = (options.logger ?? silentLogger).child({ component: 'repair' });
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.safetyPassIntervalMs = options.safetyPassIntervalMs ?? 10 * 60_000;
    this.lockRetryMs = options.lockRetryMs ?? 30_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 30 * 60_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.paths = clusterPaths(options.cluster);
    this.repair = new RepairState({ now: this.now, ...(options.maxFinishedEntries === undefined ? {} : { maxFinished: options.maxFinishedEntries }) });
    // rejectOnClear: stop() clears the queue, and the promises of attempts that never started must settle.
    this.limit = pLimit({ concurrency: options.parallelism ?? 2, rejectOnClear: true });
    this.deps = {
      session: options.session,
      paths: this.paths,
      deepStore: options.deepStore,
      locks: new UploadLocks(options.session, options.lockRoot ?? defaultLockRoot(options.cluster), options.instance),
      gzipLevel: options.gzipLevel ?? DEFAULT_GZIP_LEVEL,
      now: this.now,
      logger: this.log,
    };
  }

  /** Follow the tracker and run a first pass over what it already knows. */
  start(): void {
    if (this.started || this.stopController.signal.aborted) return;
    this.started = true;
    this.hosted.on('change', this.onChange);
    this.hosted.on('tableSettings', this.onTableSettings);
    this.hosted.on('synced', this.onSynced);
    this.safetyTimer = setInterval(() => this.backgroundPass('safety'), this.safetyPassIntervalMs);
    this.safetyTimer.unref();
    this.backgroundPass('start');
  }

  /**
   * No new attempts; in-flight uploads are aborted through their AbortSignal; resolves when every attempt has
   * settled, or after stopTimeoutMs. From the moment it is called there is no ZooKeeper write (lock, CAS,
   * lock delete): close the session after it, which also removes any lock still held. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /**
   * `POST /repair/run`: evaluate every segment that matters now and resolve when the attempts this pass started
   * have settled (done, skipped, or scheduled for a retry), with a summary. Long uploads make it slow: an HTTP
   * handler that must answer quickly can answer 202 and not await it. It never bypasses a backoff: a segment
   * retrying after a transient error (or waiting for a server's Retry-After) stays waiting. A `failed` segment
   * (a permanent error: no credentials, a blocked table folder) waits for an operator, and this call is how an
   * operator says "fixed": those are tried now. Rejects with ReconcilerStoppedError after stop().
   */
  requestPass(): Promise<PassSummary> {
    if (this.stopController.signal.aborted) return Promise.reject(new ReconcilerStoppedError());
    return this.runPass('request');
  }

  /** `GET /repair/status`: per-segment state and totals (JSON-ready). */
  status(): RepairStatus {
    return this.repair.snapshot();
  }

  // --- events -----------------------------------------------------------------------------------

  private readonly onChange = (change: HostedSegmentChange): void => {
    this.markDirty(change.table, change.segment);
  };

  private readonly onTableSettings = (table: string): void => {
    // Retention or the table type changed (or the table left the server): its segments' verdicts may change.
    for (const segment of this.hosted.segments(table).keys()) this.markDirty(table, segment);
    for (const entry of this.repair.activeEntries()) if (entry.table === table) this.markDirty(table, entry.segment);
  };

  private readonly onSynced = (): void => {
    const batch = [...this.dirty.values()];
    this.dirty.clear();
    for (const [table, segment] of batch) this.evaluate(table, segment);
  };

  private markDirty(table: string, segment: string): void {
    this.dirty.set(entryKey(table, segment), [table, segment]);
    // Changes are emitted while the tracker reads, and `synced` follows; one outside a sync is taken now.
    if (this.hosted.synced) queueMicrotask(this.onSynced);
  }

  private readonly onWake = (): void => {
    this.wakeTimer = undefined;
    this.wakeAt = null;
    const now = this.now();
    for (const entry of [...this.repair.activeEntries()]) {
      if (entry.nextAttemptAt !== null && entry.nextAttemptAt <= now) this.evaluate(entry.table, entry.segment);
    }
    this.armWake();
  };

  /** One timer for the earliest scheduled attempt: waiting segments cost no slot and no per-segment timer. */
  private armWake(): void {
    if (this.stopController.signal.aborted) return;
    const due = this.repair.nextDue();
    if (due === this.wakeAt && (due === null || this.wakeTimer !== undefined)) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.wakeAt = due;
    if (due === null) return;
    this.wakeTimer = setTimeout(this.onWake, Math.min(MAX_TIMER_MS, Math.max(0, due - this.now())));
    this.wakeTimer.unref();
  }

  // --- deciding ---------------------------------------------------------------------------------

  /** Decide what a segment needs now from the tracker's cached view; start an attempt if it is due. No I/O. */
  private evaluate(table: string, segment: string, options: { operatorAsked?: boolean } = {}): void {
    if (this.stopController.signal.aborted) return;
    const k = entryKey(table, segment);
    if (this.inFlight.has(k)) {
      this.again.add(k);
      return;
    }
    const entry = this.repair.get(table, segment);
    const hosted = this.hosted.get(table, segment);
    if (!hosted || !table.endsWith('_REALTIME')) {
      // Not (or no longer) this server's: not ours to report. Finished entries stay for the record.
      this.forget(table, segment);
      return;
    }
    const zk = hosted.zk;
    if (zk === undefined) return; // metadata not read yet; its `change` follows
    this.noteTable(table);
    if (zk === null) {
      // A record Helix could not read either (corrupt, too deep, past the record limit) is reported even if it
      // was never a candidate: it may well be one, and nothing can be decided, or written, on it.
      if (entry && isFinished(entry.state)) return;
      const unreadable = hosted.metadataError !== undefined;
      if (entry && isReportOnly(entry) && !unreadable) this.forget(table, segment);
      else if (entry || unreadable) this.skip(table, segment, { eligible: false, reason: 'no_metadata', detail: hosted.metadataError ?? 'segment metadata znode does not exist' }, null);
      return;
    }
    // The last attempt saw a newer version than the cache holds: the tracker has not caught up (typically with
    // our own write). Its change event follows; acting on the stale view would only cost requests.
    if (entry && isOlderThan(zk, entry.seen)) return;
    const url = zk.metadata.downloadUrl.kind === 'uri' ? zk.metadata.downloadUrl.uri : null;
    // A write of ours that went unanswered is settled by the first view after it (errors.ts settleUnconfirmed).
    const unconfirmed = entry && !isFinished(entry.state) ? entry.unconfirmedWrite : null;
    const settled = unconfirmed ? settleUnconfirmed(unconfirmed, zk.version, url) : 'unknown';
    if (unconfirmed && settled === 'applied') {
      this.apply(table, segment, { kind: 'done', result: unconfirmed.result, uri: unconfirmed.uri, seen: zk, bytes: null, uploadMs: null });
      return;
    }
    if (entry && settled === 'not_applied') this.setState(table, segment, { state: entry.state, unconfirmedWrite: null, nextAttemptAt: entry.nextAttemptAt });
    const interest = repairInterest(zk.metadata);
    if (interest === 'none') {
      if (!entry || isFinished(entry.state)) return;
      if (url !== null && !isReportOnly(entry)) this.fixedByOther(table, segment, url, zk);
      else this.forget(table, segment); // e.g. a COMMITTING segment committed normally: nothing to report
      return;
    }
    const verdict = checkMetadata({ ...this.facts(table, segment), zk, nowMs: this.now() });
    if (interest === 'report') {
      if (verdict) this.skip(table, segment, verdict, zk);
      return;
    }
    const waiting = entry && !isFinished(entry.state) && entry.nextAttemptAt !== null && entry.nextAttemptAt > this.now();
    if (waiting && !(options.operatorAsked && entry.state === 'failed')) return;
    if (verdict) {
      this.skip(table, segment, verdict, zk);
      return;
    }
    this.launch(table, segment);
  }

  private launch(table: string, segment: string): void {
    const k = entryKey(table, segment);
    const entry = this.repair.get(table, segment);
    // A skipped segment being looked at again stays "skipped (reason)" until it passes the local check.
    if (entry?.state !== 'skipped') {
      const fresh: Partial<RepairPatch> = entry && isFinished(entry.state) ? { attempts: 0, failures: 0, lastError: null, uri: null } : {};
      this.setState(table, segment, { ...fresh, state: 'pending', reason: null, detail: null });
    }
    const run = this.limit(() => this.attempt(table, segment));
    const settled = run
      .catch((err: unknown) => {
        if (!this.stopController.signal.aborted) this.log.error({ err, table, segment }, 'repair attempt crashed');
      })
      .finally(() => {
        this.inFlight.delete(k);
        if (this.again.delete(k)) this.evaluate(table, segment);
        this.armWake();
      });
    this.inFlight.set(k, settled);
  }

  /** Runs in a slot: local check, then the attempt proper; every outcome and failure lands in the repair state. */
  private async attempt(table: string, segment: string): Promise<void> {
    const stop = this.stopController.signal;
    if (stop.aborted) return;
    const zk = this.hosted.get(table, segment)?.zk;
    if (!zk || repairInterest(zk.metadata) !== 'candidate') {
      this.again.add(entryKey(table, segment)); // changed while queued: decide again once this slot is free
      return;
    }
    const local = await inspectLocalCopy(this.store, table, segment);
    if (stop.aborted) return;
    const decision = checkEligibility({ ...this.facts(table, segment), zk, local, nowMs: this.now() });
    if (!decision.eligible) {
      if (decision.reason === 'local_unreadable') this.fail(table, segment, new LocalCopyUnreadableError(decision.detail ?? 'unknown error'));
      else this.skip(table, segment, decision, zk);
      return;
    }
    if (local.kind !== 'sealed') return; // eligible implies sealed; narrows the type
    if (this.repair.get(table, segment)?.state === 'skipped') this.setState(table, segment, { state: 'pending', reason: null, detail: null });
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.attemptTimeoutMs)]);
    let outcome: AttemptOutcome;
    try {
      outcome = await runRepairAttempt(this.deps, {
        table,
        segment,
        local,
        facts: () => this.facts(table, segment),
        signal,
        mayWrite: () => !stop.aborted,
        progress: (state, uri) => this.setState(table, segment, { state, uri, reason: null, detail: null }),
        unconfirmedWrite: this.repair.get(table, segment)?.unconfirmedWrite ?? null,
      });
    } catch (err) {
      if (stop.aborted) {
        this.setState(table, segment, { state: 'pending', reason: 'stopped', lastError: errorMessage(err) });
        return;
      }
      this.fail(table, segment, err);
      return;
    }
    this.apply(table, segment, outcome);
  }

  private apply(table: string, segment: string, outcome: AttemptOutcome): void {
    const attempts = (this.repair.get(table, segment)?.attempts ?? 0) + 1;
    switch (outcome.kind) {
      case 'locked': {
        // Not an error and not an attempt: another replica's sidecar is on it. Its URL write will reach us as a
        // change (fixed_by_other); if it dies, its ephemeral lock goes with its session and we take over.
        const nextAttemptAt = this.now() + Math.round(this.lockRetryMs * (0.5 + this.random() / 2));
        this.setState(table, segment, {
          state: 'pending',
          reason: 'locked_by_other',
          detail: this.deps.locks.lockPath(table, segment),
          nextAttemptAt,
          ...(outcome.unconfirmedWrite === undefined ? {} : { unconfirmedWrite: outcome.unconfirmedWrite }),
        });
        return;
      }
      case 'done': {
        const reason = outcome.result === 'already_uploaded' ? 'already_uploaded' : null;
        this.setState(table, segment, { state: 'done', reason, detail: null, attempts, failures: 0, lastError: null, uri: outcome.uri, seen: seenOf(outcome.seen) });
        this.metrics?.uploads.labels(table, outcome.result).inc();
        if (outcome.bytes !== null) this.metrics?.uploadBytes.inc(outcome.bytes);
        if (outcome.uploadMs !== null) this.metrics?.uploadDuration.observe(outcome.uploadMs / 1000);
        this.metrics?.repairLastSuccess.set(this.now() / 1000);
        this.log.info(
          { event: 'upload_success', table, segment, uri: outcome.uri, result: outcome.result, bytes: outcome.bytes, uploadMs: outcome.uploadMs, attempts },
          outcome.result === 'success' ? 'segment uploaded to the deep store and its URL set' : 'segment already in the deep store: URL set',
        );
        return;
      }
      case 'fixed_by_other':
        this.fixedByOther(table, segment, outcome.url, outcome.seen, { attempts, orphanUri: outcome.orphan ?? null });
        this.recordOrphan(table, segment, outcome.orphan);
        return;
      case 'gone': {
        // Until the tracker sees the deletion its cached record is stale: mark that version as superseded (a
        // znode recreated later has a later mtime and is not).
        const cached = this.hosted.get(table, segment)?.zk;
        const seen = cached ? { version: cached.version + 1, mtimeMs: cached.mtimeMs } : null;
        this.setState(table, segment, { state: 'gone', reason: null, detail: 'segment znode deleted; not recreated', attempts, seen, orphanUri: outcome.orphan ?? null });
        this.metrics?.uploads.labels(table, 'gone').inc();
        this.log.info({ event: 'gone', table, segment }, 'segment metadata deleted during repair: left deleted');
        this.recordOrphan(table, segment, outcome.orphan);
        return;
      }
      case 'skipped': {
        const verdict = outcome.detail === undefined ? { eligible: false as const, reason: outcome.reason } : { eligible: false as const, reason: outcome.reason, detail: outcome.detail };
        this.skip(table, segment, verdict, outcome.seen, { attempts, ...(outcome.unconfirmedWrite === undefined ? {} : { unconfirmedWrite: outcome.unconfirmedWrite }) });
        return;
      }
    }
  }

  /** An object no record points at: counted and logged once, kept in the entry (orphanUri) for operators. */
  private recordOrphan(table: string, segment: string, uri: string | undefined): void {
    if (uri === undefined) return;
    this.metrics?.deepStoreOrphans.labels(table).inc();
    this.log.warn({ event: 'orphan_object', table, segment, uri }, 'deep-store object left without a ZooKeeper record pointing at it: remove it when convenient');
  }

  private fail(table: string, segment: string, err: unknown): void {
    const entry = this.repair.get(table, segment);
    const failures = (entry?.failures ?? 0) + 1;
    const failure = classifyFailure(err);
    const nextAttemptAt = this.now() + retryDelayMs(failures, failure, this.backoff, this.random);
    const next = this.setState(table, segment, {
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
      { event: 'upload_failure', table, segment, reason: failure.reason, permanent: failure.permanent, attempts: next.attempts, nextAttemptAt: new Date(nextAttemptAt).toISOString(), err: errorMessage(err) },
      failure.permanent ? 'deep-store repair failed (needs an operator); retrying at the slowest pace' : 'deep-store repair attempt failed; will retry',
    );
  }

  private fixedByOther(table: string, segment: string, url: string, seen: ZnodeSeen, extra: Partial<RepairPatch> = {}): void {
    this.setState(table, segment, { ...extra, state: 'fixed_by_other', reason: null, detail: url, uri: url, seen: seenOf(seen), lastError: null });
    this.metrics?.uploads.labels(table, 'fixed_by_other').inc();
    this.log.info({ event: 'fixed_by_other', table, segment, url }, 'download URL set by someone else: kept');
  }

  /** Record a skip; unchanged verdicts leave the entry (and its updatedAt) alone. */
  private skip(table: string, segment: string, verdict: Exclude<Eligibility, { eligible: true }>, seen: ZnodeSeen | null, extra: Partial<RepairPatch> = {}): void {
    const entry = this.repair.get(table, segment);
    const detail = verdict.detail ?? null;
    const same = entry?.state === 'skipped' && entry.reason === verdict.reason && entry.detail === detail;
    if (same && extra.attempts === undefined) return;
    if (verdict.reason === 'crc_mismatch') {
      if (entry?.reason !== 'crc_mismatch') this.log.warn({ event: 'crc_mismatch', table, segment, detail }, 'local copy differs from ZK segment.crc: not uploaded');
    } else if (!REPORT_ONLY_REASONS.has(verdict.reason)) {
      this.log.info({ event: 'skipped', table, segment, reason: verdict.reason, detail }, 'segment not repaired');
    }
    this.setState(table, segment, { ...extra, state: 'skipped', reason: verdict.reason, detail, seen: seen && seenOf(seen) });
  }

  private forget(table: string, segment: string): void {
    this.repair.forget(table, segment);
    this.updateGauges();
  }

  private setState(table: string, segment: string, patch: RepairPatch): Readonly<RepairEntry> {
    const entry = this.repair.update(table, segment, patch);
    this.updateGauges();
    if (patch.nextAttemptAt != null) this.armWake();
    return entry;
  }

  private updateGauges(): void {
    if (!this.metrics) return;
    const totals = this.repair.totals();
    for (const state of REPAIR_STATES) this.metrics.repairSegments.labels(state).set(totals[state]);
    this.metrics.repairQueueDepth.set(this.repair.queueDepth());
  }

  private noteTable(table: string): void {
    if (this.knownTables.has(table)) return;
    this.knownTables.add(table);
    this.metrics?.knownTable(table);
  }

  private facts(table: string, segment: string): Omit<EligibilityInput, 'zk' | 'nowMs'> {
    return {
      tableNameWithType: table,
      replicaState: this.hosted.get(table, segment)?.state,
      tableSettings: this.hosted.tableSettings(table),
      cluster: this.hosted.clusterSettings,
    };
  }

  // --- passes and shutdown ----------------------------------------------------------------------

  private backgroundPass(trigger: PassSummary['trigger']): void {
    this.runPass(trigger).catch((err: unknown) => {
      if (!this.stopController.signal.aborted) this.log.error({ err, trigger }, 'repair pass failed');
    });
  }

  private async runPass(trigger: PassSummary['trigger']): Promise<PassSummary> {
    const startedAt = this.now();
    const keys = new Map<string, [string, string]>();
    for (const hosted of this.hosted.all()) {
      const matters = hosted.zk ? repairInterest(hosted.zk.metadata) !== 'none' : hosted.zk === null && hosted.metadataError !== undefined;
      if (hosted.table.endsWith('_REALTIME') && matters) {
        keys.set(entryKey(hosted.table, hosted.segment), [hosted.table, hosted.segment]);
      }
    }
    for (const entry of this.repair.activeEntries()) keys.set(entryKey(entry.table, entry.segment), [entry.table, entry.segment]);
    let attempted = 0;
    for (const [k, [table, segment]] of keys) {
      const busy = this.inFlight.has(k);
      this.evaluate(table, segment, { operatorAsked: trigger === 'request' });
      if (!busy && this.inFlight.has(k)) attempted += 1;
    }
    // Attempts re-evaluated when they settle (the segment changed meanwhile) may go round again; a few rounds.
    for (let round = 0; round < 3; round++) {
      const waits = [...keys.keys()].flatMap((k) => this.inFlight.get(k) ?? []);
      if (waits.length === 0) break;
      await Promise.allSettled(waits);
    }
    const totals = Object.fromEntries(REPAIR_STATES.map((s) => [s, 0])) as Record<RepairStateName, number>;
    for (const [table, segment] of keys.values()) {
      const entry = this.repair.get(table, segment);
      if (entry) totals[entry.state] += 1;
    }
    const summary: PassSummary = {
      trigger,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(this.now()).toISOString(),
      considered: keys.size,
      attempted,
      totals,
    };
    this.log.debug({ event: 'pass', ...summary }, 'repair pass finished');
    return summary;
  }

  private async shutdown(): Promise<void> {
    this.stopController.abort(new ReconcilerStoppedError());
    this.hosted.off('change', this.onChange);
    this.hosted.off('tableSettings', this.onTableSettings);
    this.hosted.off('synced', this.onSynced);
    clearInterval(this.safetyTimer);
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.limit.clearQueue();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), this.stopTimeoutMs);
    });
    const settled = Promise.allSettled([...this.inFlight.values()]).then(() => false as const);
    if (await Promise.race([settled, timedOut])) {
      this.log.warn({ segments: [...this.inFlight.keys()], waitedMs: this.stopTimeoutMs }, 'repair attempts did not stop in time: abandoned (they can no longer write to ZooKeeper)');
    }
    clearTimeout(timer);
    this.updateGauges();
  }
}

function isReportOnly(entry: Readonly<RepairEntry>): boolean {
  return entry.state === 'skipped' && entry.reason !== null && REPORT_ONLY_REASONS.has(entry.reason);
}
