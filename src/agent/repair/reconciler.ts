import type { DeepStore } from '../../deepstore/index.js';
import { clusterPaths, type HostedSegmentChange, type ZkSession } from '../../helix/index.js';
import { silentLogger, type Logger } from '../../log.js';
import { tableSegmentKey } from '../../pinot-format/index.js';
import { DEFAULT_GZIP_LEVEL, type CompressionPool, type SegmentStore } from '../../segments/index.js';
import type { Metrics } from '../metrics.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { concernsRepair, decide, type DecideContext, type RepairDecision, type RepairFacts } from './decide.js';
import { checkEligibility, repairInterest } from './eligibility.js';
import { LocalCopyUnreadableError, ReconcilerStoppedError } from './errors.js';
import type { HostedView } from './hosted-view.js';
import { inspectLocalCopy } from './local-copy.js';
import { OutcomeRecorder } from './outcome-recorder.js';
import { runRepairAttempt, type AttemptDeps, type AttemptOutcome } from './repair-attempt.js';
import { RepairState, zeroTotals, type RepairStateName, type RepairStatus } from './repair-state.js';
import { RepairSlots } from './slots.js';
import { defaultLockRoot, UploadLocks } from './upload-lock.js';

export interface ReconcilerOptions {
  session: ZkSession;
  /** The hosted-segment tracker (helix HostedSegments): what to look at, and its cached metadata. */
  hosted: HostedView;
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
  /** Threads that compress uploaded archives (default: the process-wide pool). */
  compressionPool?: CompressionPool;
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
  trigger: 'start' | 'safety' | 'request' | 'drain';
  startedAt: string;
  finishedAt: string;
  /** Segments the pass looked at: hosted segments that matter plus active repair entries. */
  considered: number;
  /** Attempts the pass started. */
  attempted: number;
  /** States of the considered segments when the pass ended (a segment no longer tracked is not counted). */
  totals: Record<RepairStateName, number>;
}

/** setTimeout's limit is ~24.8 days; a far wake-up simply re-arms. */
const MAX_TIMER_MS = 60 * 60 * 1000;

/**
 * The deep-store repair engine (docs/architecture.md, "A repair").
 *
 * What to look at comes from the hosted-segment tracker, never from a scan of ZooKeeper: its `change` events
 * mark segments dirty, and the dirty set is evaluated when the tracker reports `synced` (its view is then
 * consistent: a segment that appeared and its metadata are seen together). A safety pass every
 * `safetyPassIntervalMs` (default 10 min) re-evaluates every segment that matters from the tracker's cache —
 * no ZooKeeper reads — in case an event was missed or a local directory changed (local changes have no event).
 *
 * Deciding is pure and costs no I/O (decide.ts, on the rules of eligibility.ts) until a segment is a candidate; then an
 * attempt runs in one of `parallelism` slots (slots.ts, default 2; a drain's segments first): local check, lock, the
 * record (the tracker's watched copy, or a fresh read), HEAD, upload, verify, CAS (repair-attempt.ts). What comes of it
 * is recorded in one place (outcome-recorder.ts: repair state, metrics, log events). A failed attempt frees its slot at
 * once and records when to try again (backoff.ts); a single wake timer brings due segments back. So a slow or failing
 * segment never holds a slot while it waits, and one bad segment never stops the others or a pass.
 *
 * ZooKeeper cost per repaired segment: create the lock, then one multi (compare-and-set of the URL on the version the
 * tracker watches, and the lock's delete), plus the tracker's own re-read of the znode our write changed
 * (docs/architecture.md, bench/repair.ts: 5.05 requests in all). After stop() begins there is no ZooKeeper write at
 * all: no lock, no CAS, not even a lock delete (the ephemeral lock dies with the session the owner closes).
 */
export class Reconciler {
  private readonly hosted: HostedView;
  private readonly store: SegmentStore;
  private readonly metrics: Metrics | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly safetyPassIntervalMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly deps: AttemptDeps;
  private readonly repair: RepairState;
  private readonly outcomes: OutcomeRecorder;
  private readonly slots: RepairSlots;

  /** Attempts queued or running, by entry key. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Segments that changed while their attempt was in flight: evaluated again when it settles. */
  private readonly again = new Set<string>();
  /** Changed segments waiting for the tracker's `synced`. */
  private readonly dirty = new Map<string, [table: string, segment: string]>();
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
    this.safetyPassIntervalMs = options.safetyPassIntervalMs ?? 10 * 60_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 30 * 60_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    // stop() clears the queue, and the promises of attempts that never started settle (rejected).
    this.slots = new RepairSlots(options.parallelism ?? 2);
    const locks = new UploadLocks(
      options.session,
      options.lockRoot ?? defaultLockRoot(options.cluster),
      options.instance,
    );
    this.deps = {
      session: options.session,
      paths: clusterPaths(options.cluster),
      deepStore: options.deepStore,
      locks,
      gzipLevel: options.gzipLevel ?? DEFAULT_GZIP_LEVEL,
      compressionPool: options.compressionPool,
      now: this.now,
      logger: this.log,
    };
    this.repair = new RepairState({
      now: this.now,
      ...(options.maxFinishedEntries === undefined ? {} : { maxFinished: options.maxFinishedEntries }),
    });
    this.outcomes = new OutcomeRecorder({
      repair: this.repair,
      hosted: this.hosted,
      metrics: this.metrics,
      logger: this.log,
      now: this.now,
      random: options.random ?? Math.random,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      lockRetryMs: options.lockRetryMs ?? 30_000,
      lockPath: (table, segment) => locks.lockPath(table, segment),
      onScheduled: () => this.armWake(),
    });
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

  /**
   * `POST /drain/prepare`: the segments a drain would lose, repaired ahead of the normal queue. Each is evaluated
   * now as an operator's request would be (a `failed` one is tried again, a backoff is still honoured) and its
   * attempt takes the next free slot before any waiting normal one; one already waiting in line moves up. Resolves
   * like requestPass(), when those attempts have settled. Rejects with ReconcilerStoppedError after stop().
   */
  requestPriority(segments: ReadonlyArray<{ table: string; segment: string }>): Promise<PassSummary> {
    if (this.stopController.signal.aborted) return Promise.reject(new ReconcilerStoppedError());
    return this.runPass('drain', segments);
  }

  /** Segments by repair state, without the per-segment list (`GET /fleet/summary`). */
  totals(): Record<RepairStateName, number> {
    return this.repair.totals();
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
    this.dirty.set(tableSegmentKey(table, segment), [table, segment]);
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

  /** Decide what a segment needs now from the tracker's cached view (decide.ts) and act on it. No I/O. */
  private evaluate(
    table: string,
    segment: string,
    context: DecideContext = {},
    launch: { urgent?: boolean } = {},
  ): void {
    if (this.stopController.signal.aborted) return;
    const k = tableSegmentKey(table, segment);
    if (this.inFlight.has(k)) {
      this.again.add(k);
      return;
    }
    const decision = decide(
      this.repair.get(table, segment),
      this.hosted.get(table, segment),
      this.facts(table, segment),
      this.now(),
      context,
    );
    this.act(table, segment, decision, launch);
  }

  /** Carry out what decide() said: record it, or queue an attempt (`urgent`: ahead of the waiting ones). */
  private act(table: string, segment: string, decision: RepairDecision, launch: { urgent?: boolean } = {}): void {
    switch (decision.kind) {
      case 'not_ours':
      case 'forget':
        this.outcomes.forget(table, segment);
        return;
      case 'await_metadata':
      case 'wait':
      case 'none':
        return;
      case 'clear_unconfirmed':
        this.outcomes.unconfirmedNotApplied(table, segment);
        this.act(table, segment, decision.then, launch);
        return;
      case 'skip':
        this.outcomes.skipped(table, segment, decision.verdict, decision.seen);
        return;
      case 'record_done':
        this.outcomes.attempted(table, segment, {
          kind: 'done',
          result: decision.write.result,
          uri: decision.write.uri,
          seen: decision.seen,
          bytes: null,
          uploadMs: null,
        });
        return;
      case 'fixed_by_other':
        this.outcomes.fixedByOther(table, segment, decision.url, decision.seen);
        return;
      case 'launch':
        this.launch(table, segment, launch);
        return;
    }
  }

  private launch(table: string, segment: string, options: { urgent?: boolean }): void {
    const k = tableSegmentKey(table, segment);
    this.outcomes.queued(table, segment);
    const run = this.slots.run(k, () => this.attempt(table, segment), options);
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
      this.again.add(tableSegmentKey(table, segment)); // changed while queued: decide again once this slot is free
      return;
    }
    const local = await inspectLocalCopy(this.store, table, segment);
    if (stop.aborted) return;
    const decision = checkEligibility({ ...this.facts(table, segment), zk, local, nowMs: this.now() });
    if (!decision.eligible) {
      if (decision.reason === 'local_unreadable')
        this.outcomes.failed(table, segment, new LocalCopyUnreadableError(decision.detail ?? 'unknown error'));
      else this.outcomes.skipped(table, segment, decision, zk);
      return;
    }
    if (local.kind !== 'sealed') return; // eligible implies sealed; narrows the type
    this.outcomes.passedLocalCheck(table, segment);
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.attemptTimeoutMs)]);
    const previous = this.repair.get(table, segment);
    let outcome: AttemptOutcome;
    try {
      outcome = await runRepairAttempt(this.deps, {
        table,
        segment,
        local,
        facts: () => this.facts(table, segment),
        signal,
        mayWrite: () => !stop.aborted,
        progress: (state, uri) => this.outcomes.progressed(table, segment, state, uri),
        unconfirmedWrite: previous?.unconfirmedWrite ?? null,
        // After another sidecar held the lock, it has likely just written: read rather than send a write that
        // its compare-and-set would refuse (the watched copy may not have seen that write yet).
        watchedRecord:
          previous?.reason === 'locked_by_other' ? undefined : () => this.hosted.watchedRecord(table, segment),
      });
    } catch (err) {
      if (stop.aborted) this.outcomes.stopped(table, segment, err);
      else this.outcomes.failed(table, segment, err);
      return;
    }
    this.outcomes.attempted(table, segment, outcome);
  }

  private facts(table: string, segment: string): RepairFacts {
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

  /** A pass over every segment that matters, or over `only` (a drain's at-risk segments, urgent). */
  private async runPass(
    trigger: PassSummary['trigger'],
    only?: ReadonlyArray<{ table: string; segment: string }>,
  ): Promise<PassSummary> {
    const startedAt = this.now();
    const keys = new Map<string, [string, string]>();
    if (only) for (const { table, segment } of only) keys.set(tableSegmentKey(table, segment), [table, segment]);
    else {
      for (const hosted of this.hosted.all()) {
        if (concernsRepair(hosted))
          keys.set(tableSegmentKey(hosted.table, hosted.segment), [hosted.table, hosted.segment]);
      }
      for (const entry of this.repair.activeEntries())
        keys.set(tableSegmentKey(entry.table, entry.segment), [entry.table, entry.segment]);
    }
    const urgent = trigger === 'drain';
    let attempted = 0;
    for (const [k, [table, segment]] of keys) {
      const busy = this.inFlight.has(k);
      if (busy && urgent) this.slots.promote(k);
      this.evaluate(table, segment, { operatorAsked: trigger === 'request' || urgent }, { urgent });
      if (!busy && this.inFlight.has(k)) attempted += 1;
    }
    // Attempts re-evaluated when they settle (the segment changed meanwhile) may go round again; a few rounds.
    for (let round = 0; round < 3; round++) {
      const waits = [...keys.keys()].flatMap((k) => this.inFlight.get(k) ?? []);
      if (waits.length === 0) break;
      await Promise.allSettled(waits);
    }
    const totals = zeroTotals();
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
    this.slots.clearQueue();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), this.stopTimeoutMs);
    });
    const settled = Promise.allSettled([...this.inFlight.values()]).then(() => false as const);
    if (await Promise.race([settled, timedOut])) {
      this.log.warn(
        { segments: [...this.inFlight.keys()], waitedMs: this.stopTimeoutMs },
        'repair attempts did not stop in time: abandoned (they can no longer write to ZooKeeper)',
      );
    }
    clearTimeout(timer);
    this.outcomes.publishGauges();
  }
}
