import type { HostedSegment, ZkSegmentMetadata } from '../../helix/index.js';
import { isRealtimeTable } from '../../pinot-format/index.js';
import {
  checkMetadata,
  isReportOnlyReason,
  repairInterest,
  type EligibilityInput,
  type SkipVerdict,
} from './eligibility.js';
import { settleUnconfirmed, type UnconfirmedWrite } from './errors.js';
import { isFinished, isOlderThan, seenOf, type RepairEntry, type ZnodeSeen } from './repair-state.js';

/** What decide() needs besides the znode: the replica's state and the table's and cluster's settings. */
export type RepairFacts = Omit<EligibilityInput, 'zk' | 'nowMs'>;

/** How the segment came to be looked at. */
export interface DecideContext {
  /**
   * `POST /repair/run`: an operator saying "fixed". A `failed` entry (a permanent error) is tried now instead of
   * at the slowest pace; a transient backoff is never bypassed.
   */
  operatorAsked?: boolean;
}

/** What the reconciler does for one segment, after looking at the tracker's cached view and the repair entry. */
export type RepairAction =
  /** Not (or no longer) a hosted REALTIME segment: its active entry is dropped; a finished one stays for the record. */
  | { kind: 'not_ours' }
  /** The tracker has not read the segment's metadata yet: its `change` event follows. */
  | { kind: 'await_metadata' }
  /**
   * Not now. `tracker`: the last attempt saw a newer znode version than the cache holds (typically our own write)
   * and the tracker's change event follows; acting on the stale view would only cost requests. `retry`: the entry
   * waits for its nextAttemptAt (a backoff, or another sidecar's lock); the wake timer brings it back.
   */
  | { kind: 'wait'; for: 'tracker' | 'retry' }
  /** Nothing to do or report (a finished entry, a segment that does not need the repair). */
  | { kind: 'none' }
  /** The segment stopped mattering (a COMMITTING segment that committed normally): its active entry is dropped. */
  | { kind: 'forget' }
  /** Not repairable now, for `verdict`'s reason; `seen` is the znode version it was decided on (null: no znode). */
  | { kind: 'skip'; verdict: SkipVerdict; seen: ZnodeSeen | null }
  /**
   * The view shows our unanswered URL write applied (errors.ts settleUnconfirmed): the repair is done, ours,
   * without another attempt.
   */
  | { kind: 'record_done'; write: UnconfirmedWrite; seen: ZnodeSeen }
  /** Someone else (the controller, another sidecar) set the URL while the entry was active: kept as it is. */
  | { kind: 'fixed_by_other'; url: string; seen: ZnodeSeen }
  /** A candidate that is due: an attempt is queued (local check, lock, fresh read, upload, compare-and-set). */
  | { kind: 'launch' };

/**
 * decide()'s answer: an action, or, when the view shows our unanswered URL write was not applied, forgetting that
 * write first and then an action (the view is decided on as if the write had never been sent).
 */
export type RepairDecision = RepairAction | { kind: 'clear_unconfirmed'; then: RepairAction };

/**
 * What one segment needs now, from the tracker's cached view of it (`hosted`), its repair entry, and the facts the
 * eligibility rules read. Pure: the reconciler applies the answer. The metadata rules themselves are
 * checkMetadata's (eligibility.ts); this adds what the repair's own record says: finished, waiting, stale, a write
 * awaiting confirmation, report-only.
 */
export function decide(
  entry: Readonly<RepairEntry> | undefined,
  hosted: HostedSegment | undefined,
  facts: RepairFacts,
  now: number,
  context: DecideContext = {},
): RepairDecision {
  if (!hosted || !isRealtimeTable(hosted.table)) return { kind: 'not_ours' };
  const zk = hosted.zk;
  if (zk === undefined) return { kind: 'await_metadata' };
  if (zk === null) return decideWithoutRecord(entry, hosted.metadataError);
  if (entry && isOlderThan(zk, entry.seen)) return { kind: 'wait', for: 'tracker' };
  const url = zk.metadata.downloadUrl.kind === 'uri' ? zk.metadata.downloadUrl.uri : null;
  // A write of ours that went unanswered is settled by the first view after it (errors.ts settleUnconfirmed).
  const unconfirmed = entry && !isFinished(entry.state) ? entry.unconfirmedWrite : null;
  const settled = unconfirmed ? settleUnconfirmed(unconfirmed, zk.version, url) : 'unknown';
  if (unconfirmed && settled === 'applied') return { kind: 'record_done', write: unconfirmed, seen: seenOf(zk) };
  const action = decideOnRecord(entry, zk, url, facts, now, context);
  return settled === 'not_applied' ? { kind: 'clear_unconfirmed', then: action } : action;
}

/**
 * No znode, or one Helix could not read either (corrupt, too deep, past the record limit). An unreadable one is
 * reported even if it was never a candidate: it may well be one, and nothing can be decided, or written, on it.
 */
function decideWithoutRecord(
  entry: Readonly<RepairEntry> | undefined,
  metadataError: string | undefined,
): RepairAction {
  if (entry && isFinished(entry.state)) return { kind: 'none' };
  const unreadable = metadataError !== undefined;
  if (entry && isReportOnly(entry) && !unreadable) return { kind: 'forget' };
  if (!entry && !unreadable) return { kind: 'none' };
  return {
    kind: 'skip',
    verdict: {
      eligible: false,
      reason: 'no_metadata',
      detail: metadataError ?? 'segment metadata znode does not exist',
    },
    seen: null,
  };
}

function decideOnRecord(
  entry: Readonly<RepairEntry> | undefined,
  zk: ZkSegmentMetadata,
  url: string | null,
  facts: RepairFacts,
  now: number,
  context: DecideContext,
): RepairAction {
  const interest = repairInterest(zk.metadata);
  if (interest === 'none') {
    if (!entry || isFinished(entry.state)) return { kind: 'none' };
    if (url !== null && !isReportOnly(entry)) return { kind: 'fixed_by_other', url, seen: seenOf(zk) };
    return { kind: 'forget' }; // e.g. a COMMITTING segment committed normally: nothing to report
  }
  const verdict = checkMetadata({ ...facts, zk, nowMs: now });
  if (interest === 'report') return verdict ? { kind: 'skip', verdict, seen: seenOf(zk) } : { kind: 'none' };
  const waiting = entry && !isFinished(entry.state) && entry.nextAttemptAt !== null && entry.nextAttemptAt > now;
  if (waiting && !(context.operatorAsked && entry.state === 'failed')) return { kind: 'wait', for: 'retry' };
  if (verdict) return { kind: 'skip', verdict, seen: seenOf(zk) };
  return { kind: 'launch' };
}

/**
 * Whether a pass looks at a hosted segment even without a repair entry: a REALTIME segment that is a candidate or
 * report-only (repairInterest), or whose record could not be read (it may well be a candidate). The rest is none
 * of the repair's business until an event says otherwise.
 */
export function concernsRepair(hosted: HostedSegment): boolean {
  if (!isRealtimeTable(hosted.table)) return false;
  return hosted.zk
    ? repairInterest(hosted.zk.metadata) !== 'none'
    : hosted.zk === null && hosted.metadataError !== undefined;
}

function isReportOnly(entry: Readonly<RepairEntry>): boolean {
  return entry.state === 'skipped' && entry.reason !== null && isReportOnlyReason(entry.reason);
}
