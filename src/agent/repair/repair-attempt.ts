import pRetry from 'p-retry';
import type { DeepStore } from '../../deepstore/index.js';
import {
  compareAndSetSimpleField,
  isUnanswered,
  isZkCode,
  readRecord,
  readSegmentMetadata,
  RecordNotRewritableError,
  rewriteSimpleField,
  SegmentKeys,
  ZNRecordParseError,
  type ClusterPaths,
  type VersionedRecord,
  type ZkSession,
} from '../../helix/index.js';
import type { Logger } from '../../log.js';
import { rawTableName } from '../../pinot-format/index.js';
import { planSegmentArchive, streamSegmentArchive, type CompressionPool } from '../../segments/index.js';
import { checkEligibility, type EligibilityInput, type SkipReason } from './eligibility.js';
import {
  AmbiguousWriteError,
  CasConflictError,
  DeepStoreVerifyError,
  ReconcilerStoppedError,
  SessionChangedError,
  settleUnconfirmed,
  type UnconfirmedWrite,
} from './errors.js';
import type { LocalCopy } from './local-copy.js';
import type { ZnodeSeen } from './repair-state.js';
import type { HeldLock, UploadLocks } from './upload-lock.js';

export type AttemptOutcome =
  | {
      kind: 'done';
      result: 'success' | 'already_uploaded';
      uri: string;
      seen: ZnodeSeen;
      bytes: number | null;
      uploadMs: number | null;
    }
  /** Someone else set the URL (kept as it is). */
  | { kind: 'fixed_by_other'; url: string; seen: ZnodeSeen; orphan?: string }
  /** The znode is gone. */
  | { kind: 'gone'; orphan?: string }
  /** The fresh record is not eligible (status, CRC, retention ... changed since the cached view). */
  | {
      kind: 'skipped';
      reason: SkipReason;
      detail?: string;
      seen: ZnodeSeen | null;
      unconfirmedWrite?: UnconfirmedWrite | null;
    }
  /** Another sidecar holds the upload lock. */
  | { kind: 'locked'; unconfirmedWrite?: UnconfirmedWrite | null };

export interface AttemptDeps {
  session: ZkSession;
  paths: ClusterPaths;
  deepStore: DeepStore;
  locks: UploadLocks;
  gzipLevel: number;
  compressionPool: CompressionPool | undefined;
  now: () => number;
  logger: Logger;
}

export interface AttemptRequest {
  table: string;
  segment: string;
  /** The local copy, sealed, as inspected at the start of this attempt (its CRC matched the cached ZK view). */
  local: Extract<LocalCopy, { kind: 'sealed' }>;
  /** The current non-ZK facts for the eligibility rules (replica state, table and cluster settings). */
  facts: () => Omit<EligibilityInput, 'zk' | 'nowMs'>;
  /** Aborts IO (stop, attempt deadline). */
  signal: AbortSignal;
  /** False once stop has begun: asked before every ZooKeeper write. */
  mayWrite: () => boolean;
  /** Reports progress for the operator view. */
  progress: (state: 'uploading' | 'verifying' | 'committing', uri: string) => void;
  /**
   * A URL write of an earlier attempt whose answer was lost (AmbiguousWriteError): finding exactly that URL in
   * the record means the write was applied, so the repair is done, not fixed by someone else.
   */
  unconfirmedWrite?: UnconfirmedWrite | null;
  /**
   * The tracker's copy of the znode while its watch stands (HostedSegments.watchedRecord), asked once the lock is
   * held: the attempt writes on that version instead of reading the znode again. Null → read it.
   */
  watchedRecord?: () => VersionedRecord | null;
}

/** Conflicts in a row before the attempt gives up and is retried later (each one means a fresh re-read). */
const MAX_CAS_ROUNDS = 5;

/**
 * One repair attempt for one segment, in the order docs/architecture.md, "A repair" gives:
 *
 *   lock → the znode as watched, or read (eligibility again) → HEAD the canonical key
 *        → [fresh tar stream → put → HEAD-verify]  (skipped when an object with the ZK CRC is already there)
 *        → compare-and-set segment.download.url on the version read → release the lock
 *
 * The object is complete and verified before ZooKeeper is touched; ZooKeeper is the commit marker. So every
 * failure leaves either nothing, or an object without a URL (the next attempt finds it by HEAD and only does
 * the ZK step). Nothing else in the record changes; a non-empty URL is never overwritten; a deleted znode is
 * never recreated (a versioned setData cannot create). Errors are thrown; the caller schedules the retry.
 */
export async function runRepairAttempt(deps: AttemptDeps, request: AttemptRequest): Promise<AttemptOutcome> {
  assertMayWrite(request);
  const lock = await deps.locks.tryAcquire(request.table, request.segment, request.mayWrite);
  if (!lock) return { kind: 'locked' };
  const held: LockHolder = { lock };
  try {
    return await attemptUnderLock(deps, request, held);
  } finally {
    // Deleting the lock is a ZooKeeper write too: after stop it is left to die with the session. A written URL
    // released it in the same request.
    if (!held.released && request.mayWrite()) {
      await held.lock
        .release()
        .catch((err: unknown) =>
          deps.logger.warn(
            { err, path: held.lock.path },
            'could not release the upload lock; it ends with the session',
          ),
        );
    }
  }
}

/** The lock the attempt holds now: taken again in the new session when the first one died with its own. */
interface LockHolder {
  lock: HeldLock;
  /**
   * Deleted by the write of the URL (one multi request), or possibly so (the write went unanswered): nothing to
   * release. After an unanswered write the node may be gone and another sidecar's lock may stand at the same path:
   * a delete would remove theirs. A lock still ours lives until our next attempt takes it back (it is created in
   * our session, so tryAcquire finds it ours) or our session ends.
   */
  released?: boolean;
  /** Its node vanished while its session lives (deleted by hand): take it again before writing. */
  missing?: boolean;
}

function assertMayWrite(request: AttemptRequest): void {
  if (!request.mayWrite()) throw new ReconcilerStoppedError();
}

async function attemptUnderLock(deps: AttemptDeps, request: AttemptRequest, held: LockHolder): Promise<AttemptOutcome> {
  const { table, segment, signal } = request;
  const path = deps.paths.segmentMetadata(table, segment);
  let unconfirmed = request.unconfirmedWrite ?? null;
  // A record the tracker watches is as fresh as a read (a change since would have marked it dirty), and the write
  // is a compare-and-set on its version either way. After a write whose answer was lost only a read can tell
  // whether it was applied: then read.
  const watched = unconfirmed === null ? (request.watchedRecord?.() ?? null) : null;
  const fresh = watched !== null ? { record: watched } : await readFresh(deps, path);
  if ('kind' in fresh) return fresh;
  const firstLook = recognise(fresh.record, unconfirmed);
  if (firstLook.outcome) return firstLook.outcome;
  unconfirmed = firstLook.unconfirmed;
  const early = judge(deps, request, fresh.record);
  if (early) return withUnconfirmed(early, unconfirmed);
  const record = fresh.record!;
  const zkCrc = readSegmentMetadata(record.doc.record).crc!; // judge() proved it is set and equals the local CRC
  const uri = deps.deepStore.segmentUri(rawTableName(table), segment);
  // The write must change only the URL's bytes. A record where that cannot be done exactly (the key twice, a
  // rewrite past Helix's size limit) is skipped now, before anything is uploaded: never an orphan object.
  try {
    rewriteSimpleField(record.doc, SegmentKeys.downloadUrl, uri);
  } catch (err) {
    if (err instanceof RecordNotRewritableError)
      return {
        kind: 'skipped',
        reason: 'not_rewritable',
        detail: err.reason,
        seen: record.stat,
        unconfirmedWrite: unconfirmed,
      };
    throw err;
  }

  let result: 'success' | 'already_uploaded' = 'already_uploaded';
  let bytes: number | null = null;
  let uploadMs: number | null = null;
  // An earlier attempt (ours or another replica's) may have uploaded and failed before the ZK step, or the
  // write may have succeeded while the answer was lost (ambiguous success). Such an object is adopted only when
  // it is verified as a complete archive of this segment: a cut or foreign object whose CRC metadata happens to
  // match would get its URL written, and every later download of the segment would fail. Anything else there is
  // replaced (put() overwrites).
  const existing = await deps.deepStore.verifyArchive(uri, { crc: zkCrc }, { signal });
  if (existing.kind !== 'verified') {
    if (existing.kind === 'unverified') {
      deps.logger.warn(
        { event: 'object_replaced', table, segment, uri, reason: existing.reason },
        'an object at the canonical key is not a complete archive of this segment: replacing it',
      );
    }
    result = 'success';
    request.progress('uploading', uri);
    deps.logger.info({ event: 'upload_start', table, segment, uri }, 'deep-store upload started');
    const started = deps.now();
    // A fresh archive stream per attempt; planning re-checks that the directory is still the resolved one.
    const plan = await planSegmentArchive(request.local.resolved);
    const { gzipLevel, compressionPool } = deps;
    const body = streamSegmentArchive(plan, { gzipLevel, compressionPool, signal });
    try {
      // Create-only where the store can (GCS, Azure): an object that appeared since verifyArchive() (another
      // replica finished) is never replaced; the put fails with a retriable PreconditionFailed and the next attempt
      // looks again. The unverified object seen above is replaced only as the very version that was judged.
      const replace =
        existing.kind === 'unverified' && existing.version !== undefined ? { replaceVersion: existing.version } : {};
      ({ bytes } = await deps.deepStore.put(uri, body, { crc: zkCrc }, { signal, ...replace }));
    } catch (err) {
      // When the archive itself failed (the segment changed or vanished while read: retriable), that is the
      // cause, whatever the store made of it: the file store can report a body error as its own write error.
      throw body.errored ?? err;
    }
    uploadMs = deps.now() - started;
    request.progress('verifying', uri);
    const stored = await deps.deepStore.head(uri, { signal });
    if (stored === null) throw new DeepStoreVerifyError(uri, 'no object after a successful put');
    if (stored.bytes !== bytes) throw new DeepStoreVerifyError(uri, `${stored.bytes} bytes stored, ${bytes} written`);
    if (stored.crc !== zkCrc)
      throw new DeepStoreVerifyError(uri, `stored CRC ${stored.crc ?? 'none'}, expected ${zkCrc}`);
  }

  request.progress('committing', uri);
  let current: VersionedRecord = record;
  // p-retry fits here: a short, immediate loop over one step (re-read, re-check, compare-and-set again on the
  // new version) that needs no sleep, so it holds the slot only for a few ZooKeeper round trips. Waiting
  // retries of whole attempts are scheduled by the reconciler instead (see backoff.ts).
  const rounds = pRetry(
    async (round): Promise<AttemptOutcome> => {
      // The lock lives in the session it was taken in. If that session is gone, so is the lock, and another
      // sidecar may hold it now: take it again in the live session (or leave it to the holder) and re-read,
      // since the version read under the old lock may be stale. Never write on the strength of a dead lock.
      const missing = held.missing === true;
      const regained = deps.session.sessionId !== held.lock.sessionId || missing;
      if (regained) {
        const lost = held.lock.sessionId;
        held.missing = false;
        if (missing)
          deps.logger.warn(
            { event: 'lock_missing', table, segment, path: held.lock.path },
            'the upload lock node was deleted while held: taking it again before writing',
          );
        else
          deps.logger.info(
            { event: 'lock_session_lost', table, segment, lockSession: lost },
            'the upload lock died with its ZooKeeper session: taking it again before writing',
          );
        const again = await reacquire(deps, request, lost);
        if (again === null) return { kind: 'locked', unconfirmedWrite: unconfirmed };
        held.lock = again;
      }
      if (round > 1 || regained) {
        const fresh = await readFresh(deps, path);
        if ('kind' in fresh) return withUnconfirmed(leftBehind(fresh, uri), unconfirmed);
        const reread = fresh.record;
        const look = recognise(reread, unconfirmed);
        if (look.outcome) return { ...look.outcome, bytes, uploadMs };
        unconfirmed = look.unconfirmed;
        const verdict = judge(deps, request, reread);
        if (verdict) return withUnconfirmed(leftBehind(verdict, uri), unconfirmed);
        current = reread!;
      }
      assertMayWrite(request);
      let cas: Awaited<ReturnType<typeof compareAndSetSimpleField>>;
      try {
        // Bound to the lock's session: if it ended since the check above, nothing is sent (SESSION_CHANGED).
        // The lock is released by the same request (ZooKeeper multi): one round trip fewer per repair (issue 15),
        // and the write happens only while the lock node still exists.
        cas = await compareAndSetSimpleField(deps.session, current, SegmentKeys.downloadUrl, uri, {
          onlyInSession: held.lock.sessionId,
          alsoDelete: held.lock.path,
        });
      } catch (err) {
        // A record re-read after a conflict may have become one that cannot be rewritten exactly: nothing was sent.
        if (err instanceof RecordNotRewritableError) {
          return withUnconfirmed(
            leftBehind({ kind: 'skipped', reason: 'not_rewritable', detail: err.reason, seen: current.stat }, uri),
            unconfirmed,
          );
        }
        if (isZkCode(err, 'SESSION_CHANGED'))
          throw new SessionChangedError(held.lock.sessionId, deps.session.sessionId);
        // Sent, and no answer came (connection loss, timeout, expiry): it may have been applied. Anything else
        // (refused before sending, or answered with an error) certainly was not.
        if (!isUnanswered(err)) throw err;
        held.released = true;
        unconfirmed = { uri, result, baseVersion: current.stat.version };
        throw new AmbiguousWriteError(path, unconfirmed, err);
      }
      if (cas.outcome === 'written') {
        held.released = true;
        return { kind: 'done', result, uri, seen: cas.stat, bytes, uploadMs };
      }
      if (cas.outcome === 'gone') return { kind: 'gone', orphan: uri };
      if (cas.outcome === 'also_delete_missing') {
        held.missing = true;
        throw new CasConflictError(path);
      }
      throw new CasConflictError(path);
    },
    {
      retries: MAX_CAS_ROUNDS - 1,
      minTimeout: 0,
      maxTimeout: 0,
      // A conflict or a changed session is re-read at once; so is an unanswered write once the connection is
      // back (the same client resumes the same session, or the next round finds the session gone).
      shouldRetry: ({ error }) =>
        error instanceof CasConflictError ||
        error instanceof SessionChangedError ||
        error instanceof AmbiguousWriteError,
      onFailedAttempt: async ({ error }) => {
        if (error instanceof AmbiguousWriteError || error instanceof SessionChangedError)
          await deps.session.waitConnected().catch(() => {});
      },
    },
  );
  try {
    return await rounds;
  } catch (err) {
    // Whatever ended the attempt, a write it sent unanswered stays in doubt: the next attempt must know it.
    if (unconfirmed !== null && !(err instanceof AmbiguousWriteError))
      throw new AmbiguousWriteError(path, unconfirmed, err);
    throw err;
  }
}

/**
 * The lock again, in the live session (waiting for one to connect, up to a session timeout): null when another
 * sidecar holds it now. The dead lock needs no release: its node ended with its session.
 */
async function reacquire(deps: AttemptDeps, request: AttemptRequest, lostSession: string): Promise<HeldLock | null> {
  await deps.session.waitConnected();
  assertMayWrite(request);
  const lock = await deps.locks.tryAcquire(request.table, request.segment, request.mayWrite);
  if (lock === null)
    deps.logger.info(
      { event: 'lock_taken_over', table: request.table, segment: request.segment, lockSession: lostSession },
      'another sidecar holds the upload lock now: leaving the segment to it',
    );
  return lock;
}

/**
 * The znode read again, or the skip it calls for when Helix could not read it either (it does not parse, it
 * nests too deep, it inflates past the record limit): such a record is never written.
 */
async function readFresh(
  deps: AttemptDeps,
  path: string,
): Promise<{ record: VersionedRecord | null } | Extract<AttemptOutcome, { kind: 'skipped' }>> {
  try {
    return { record: await readRecord(deps.session, path) };
  } catch (err) {
    if (err instanceof ZNRecordParseError)
      return { kind: 'skipped', reason: 'no_metadata', detail: err.message, seen: null };
    throw err;
  }
}

/**
 * An outcome reached with a verified object at `uri` (uploaded or adopted by this attempt): if no record will
 * point at it (the znode is gone, or its URL was set to another object), that object is an orphan in the deep
 * store, reported so an operator can remove it. The sidecar deletes nothing there itself.
 */
function leftBehind(outcome: AttemptOutcome, uri: string): AttemptOutcome {
  if (outcome.kind === 'gone' || (outcome.kind === 'fixed_by_other' && outcome.url !== uri))
    return { ...outcome, orphan: uri };
  return outcome;
}

/**
 * What a read says of a write sent earlier without an answer: applied (the repair is done: its object was
 * verified before the write), not applied (forgotten), or not known yet (kept).
 */
function recognise(
  read: VersionedRecord | null,
  unconfirmed: UnconfirmedWrite | null,
): { outcome?: AttemptOutcome & { kind: 'done' }; unconfirmed: UnconfirmedWrite | null } {
  if (unconfirmed === null || read === null) return { unconfirmed };
  const url = readSegmentMetadata(read.doc.record).downloadUrl;
  const verdict = settleUnconfirmed(unconfirmed, read.stat.version, url.kind === 'uri' ? url.uri : null);
  if (verdict === 'applied')
    return {
      outcome: {
        kind: 'done',
        result: unconfirmed.result,
        uri: unconfirmed.uri,
        seen: read.stat,
        bytes: null,
        uploadMs: null,
      },
      unconfirmed: null,
    };
  return { unconfirmed: verdict === 'not_applied' ? null : unconfirmed };
}

/** Outcomes that leave the segment unfinished carry what the attempt now knows of an unanswered write. */
function withUnconfirmed(outcome: AttemptOutcome, unconfirmed: UnconfirmedWrite | null): AttemptOutcome {
  return outcome.kind === 'skipped' || outcome.kind === 'locked'
    ? { ...outcome, unconfirmedWrite: unconfirmed }
    : outcome;
}

/**
 * What a fresh read of the znode says, or null to go on: gone (never recreated), a URL (someone else's fix;
 * kept), or the eligibility rules on the fresh metadata with this attempt's local copy.
 */
function judge(deps: AttemptDeps, request: AttemptRequest, read: VersionedRecord | null): AttemptOutcome | null {
  if (read === null) return { kind: 'gone' };
  const metadata = readSegmentMetadata(read.doc.record);
  const seen = read.stat;
  if (metadata.downloadUrl.kind === 'uri') return { kind: 'fixed_by_other', url: metadata.downloadUrl.uri, seen };
  const decision = checkEligibility({
    ...request.facts(),
    zk: { metadata, mtimeMs: read.stat.mtimeMs },
    local: request.local,
    nowMs: deps.now(),
  });
  if (decision.eligible) return null;
  return decision.detail === undefined
    ? { kind: 'skipped', reason: decision.reason, seen }
    : { kind: 'skipped', reason: decision.reason, detail: decision.detail, seen };
}
