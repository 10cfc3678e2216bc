import { tableSegmentKey } from '../../pinot-format/index.js';
import type { UnconfirmedWrite } from './errors.js';

/** The states of a repair entry; RepairState shows how they follow each other. */
export const REPAIR_STATES = [
  'pending',
  'uploading',
  'verifying',
  'committing',
  'done',
  'fixed_by_other',
  'gone',
  'skipped',
  'retrying',
  'failed',
] as const;
export type RepairStateName = (typeof REPAIR_STATES)[number];

/** Which version of a znode something was decided on: the version, and mtime to tell a recreated znode apart. */
export interface ZnodeSeen {
  version: number;
  mtimeMs: number;
}

/** Just the two facts (the callers hold a ZkStat or the tracker's metadata). */
export function seenOf(znode: ZnodeSeen): ZnodeSeen {
  return { version: znode.version, mtimeMs: znode.mtimeMs };
}

/** True when `view` is older than what was `seen` (a newer write happened since), not a recreated znode. */
export function isOlderThan(view: ZnodeSeen, seen: ZnodeSeen | null): boolean {
  return seen !== null && view.version < seen.version && view.mtimeMs <= seen.mtimeMs;
}

export type FinishedState = 'done' | 'fixed_by_other' | 'gone';
const FINISHED: ReadonlySet<RepairStateName> = new Set<RepairStateName>(['done', 'fixed_by_other', 'gone']);
/** Waiting for or undergoing repair: what pinot_sidecar_repair_queue_depth counts. */
const QUEUED: ReadonlySet<RepairStateName> = new Set<RepairStateName>([
  'pending',
  'uploading',
  'verifying',
  'committing',
  'retrying',
  'failed',
]);

export function isFinished(state: RepairStateName): state is FinishedState {
  return FINISHED.has(state);
}

export interface RepairEntry {
  table: string;
  segment: string;
  state: RepairStateName;
  /** Why it is skipped, failed or waiting (a SkipReason, an error code, `locked_by_other`); null otherwise. */
  reason: string | null;
  /** Human detail for the reason (the CRCs that differ, the replica state, the URL someone else set). */
  detail: string | null;
  /** Attempts made for this repair (lock taken or failed trying). */
  attempts: number;
  /** Consecutive failed attempts: the backoff exponent. */
  failures: number;
  lastError: string | null;
  /** Epoch ms of the next attempt when waiting (retrying, failed, pending behind a lock). */
  nextAttemptAt: number | null;
  /** The deep-store URI, once known. */
  uri: string | null;
  /**
   * An object this repair left in the deep store that no record points at (the znode was deleted, or its URL set
   * to another object, after the upload): for an operator to remove. Null when there is none.
   */
  orphanUri: string | null;
  /**
   * The segment znode the last decision was made on (read or written). A cached view older than this is
   * stale (the tracker has not caught up yet) and is not acted on.
   */
  seen: ZnodeSeen | null;
  /**
   * A URL write that was sent and never answered (AmbiguousWriteError): finding exactly this URL later means our
   * write was applied. Cleared when the repair finishes.
   */
  unconfirmedWrite: UnconfirmedWrite | null;
  updatedAt: number;
}

/** One segment in `GET /repair/status`: the entry without its internals, times as ISO 8601 (or null). */
export type RepairStatusSegment = Omit<
  RepairEntry,
  'failures' | 'seen' | 'unconfirmedWrite' | 'nextAttemptAt' | 'updatedAt'
> & {
  nextAttemptAt: string | null;
  updatedAt: string;
};

/** The JSON of `GET /repair/status`. */
export interface RepairStatus {
  segments: RepairStatusSegment[];
  /** Every state, 0 included, so dashboards and scripts see a stable shape. */
  totals: Record<RepairStateName, number>;
}

export type RepairPatch = Partial<Omit<RepairEntry, 'table' | 'segment' | 'updatedAt' | 'state'>> & {
  state: RepairStateName;
  /**
   * The instant of this change (default: now). A caller that schedules `nextAttemptAt` from its own reading of the
   * clock passes that reading, so the status shows exactly the delay chosen (updatedAt + delay = nextAttemptAt).
   */
  at?: number;
};

export interface RepairStateOptions {
  now?: () => number;
  /** Finished entries kept for operators (default 1000). */
  maxFinished?: number;
}

/**
 * Per-segment repair state for operators (`GET /repair/status`, `pinot-sidecar status`). Only segments that
 * matter are tracked — repair candidates (DONE with URL "") and, report-only, COMMITTING/IN_PROGRESS ones —
 * so memory follows what needs attention, not what the server hosts. Finished entries (done, fixed_by_other,
 * gone) are kept for operators to see, up to a bound, oldest dropped first.
 *
 *   pending ──▶ uploading ──▶ verifying ──▶ committing ──▶ done
 *      │  ▲         │              │             ├──────▶ fixed_by_other   (someone else set the URL)
 *      │  │         └──────────────┴─────────────┼──────▶ gone             (znode deleted; never recreated)
 *      │  └── retrying / failed ◀── error ───────┘
 *      └──▶ skipped (reason)     (re-evaluated whenever the segment, the table or the local copy changes)
 *
 * `pending` with nextAttemptAt set means "waiting": another sidecar holds the upload lock.
 */
export class RepairState {
  private readonly now: () => number;
  private readonly maxFinished: number;
  /** Active entries (pending ... skipped). */
  private readonly active = new Map<string, RepairEntry>();
  /** Finished entries, oldest first (Map keeps insertion order; re-finishing moves an entry to the end). */
  private readonly finished = new Map<string, RepairEntry>();
  private readonly counts = zeroTotals();

  constructor(options: RepairStateOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxFinished = options.maxFinished ?? 1000;
  }

  get(table: string, segment: string): Readonly<RepairEntry> | undefined {
    const k = tableSegmentKey(table, segment);
    return this.active.get(k) ?? this.finished.get(k);
  }

  /**
   * Move a segment to `patch.state`, creating its entry if needed. Fields not in the patch keep their values,
   * except that nextAttemptAt is cleared unless given (only waiting states have one).
   */
  update(table: string, segment: string, { at, ...patch }: RepairPatch): Readonly<RepairEntry> {
    const k = tableSegmentKey(table, segment);
    const previous = this.active.get(k) ?? this.finished.get(k);
    const entry: RepairEntry = {
      table,
      segment,
      reason: null,
      detail: null,
      attempts: 0,
      failures: 0,
      lastError: null,
      uri: null,
      orphanUri: null,
      seen: null,
      unconfirmedWrite: null,
      ...previous,
      nextAttemptAt: null,
      ...patch,
      updatedAt: at ?? this.now(),
    };
    // A finished repair has nothing left to confirm.
    if (isFinished(entry.state)) entry.unconfirmedWrite = null;
    this.remove(k);
    if (isFinished(entry.state)) {
      this.finished.set(k, entry);
      for (const oldest of this.finished.keys()) {
        if (this.finished.size <= this.maxFinished) break;
        this.remove(oldest);
      }
    } else {
      this.active.set(k, entry);
    }
    this.counts[entry.state] += 1;
    return entry;
  }

  /**
   * Drop an active entry (the segment no longer matters: not hosted any more, committed normally). Finished entries
   * stay.
   */
  forget(table: string, segment: string): void {
    const k = tableSegmentKey(table, segment);
    if (this.active.has(k)) this.remove(k);
  }

  /** Active entries (not finished). */
  activeEntries(): IterableIterator<Readonly<RepairEntry>> {
    return this.active.values();
  }

  /** The earliest nextAttemptAt of a waiting entry, or null. */
  nextDue(): number | null {
    let due: number | null = null;
    for (const entry of this.active.values()) {
      if (entry.nextAttemptAt !== null && (due === null || entry.nextAttemptAt < due)) due = entry.nextAttemptAt;
    }
    return due;
  }

  totals(): Record<RepairStateName, number> {
    return { ...this.counts };
  }

  /** Segments waiting for or undergoing repair. */
  queueDepth(): number {
    let depth = 0;
    for (const state of QUEUED) depth += this.counts[state];
    return depth;
  }

  snapshot(): RepairStatus {
    const segments = [...this.active.values(), ...this.finished.values()]
      .sort((a, b) => compare(a.table, b.table) || compare(a.segment, b.segment))
      .map((e): RepairStatusSegment => ({
        table: e.table,
        segment: e.segment,
        state: e.state,
        reason: e.reason,
        detail: e.detail,
        attempts: e.attempts,
        lastError: e.lastError,
        nextAttemptAt: e.nextAttemptAt === null ? null : new Date(e.nextAttemptAt).toISOString(),
        uri: e.uri,
        orphanUri: e.orphanUri,
        updatedAt: new Date(e.updatedAt).toISOString(),
      }));
    return { segments, totals: this.totals() };
  }

  private remove(k: string): void {
    const entry = this.active.get(k) ?? this.finished.get(k);
    if (!entry) return;
    this.active.delete(k);
    this.finished.delete(k);
    this.counts[entry.state] -= 1;
  }
}

/** Every repair state at 0. */
export function zeroTotals(): Record<RepairStateName, number> {
  return Object.fromEntries(REPAIR_STATES.map((s) => [s, 0])) as Record<RepairStateName, number>;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
