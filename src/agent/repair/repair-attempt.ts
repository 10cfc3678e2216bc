import pRetry from 'p-retry';
import type { DeepStore } from '../../deepstore/index.js';
import type { ClusterPaths } from '../../helix/paths.js';
import { readSegmentMetadata, SegmentKeys } from '../../helix/segment-metadata.js';
import { compareAndSetSimpleField, readRecord, type VersionedRecord } from '../../helix/znode-io.js';
import type { ZkSession } from '../../helix/zk-session.js';
import type { Logger } from '../../log.js';
import { planSegmentArchive, rawTableName, streamSegmentArchive } from '../../segments/index.js';
import { checkEligibility, type EligibilityInput, type SkipReason } from './eligibility.js';
import { CasConflictError, DeepStoreVerifyError, ReconcilerStoppedError, SessionChangedError } from './errors.js';
import type { LocalCopy } from './local-copy.js';
import type { ZnodeSeen } from './repair-state.js';
import type { HeldLock, UploadLocks } from './upload-lock.js';

/**
 * One repair attempt for one segment, in the order DESIGN.md "Repair rules" fixes:
 *
 *   lock → fresh read of the znode (eligibility again) → HEAD the canonical key
 *        → [fresh tar stream → put → HEAD-verify]  (skipped when an object with the ZK CRC is already there)
 *        → compare-and-set segment.download.url on the version read → release the lock
 *
 * The object is complete and verified before ZooKeeper is touched; ZooKeeper is the commit marker. So every
 * failure leaves either nothing, or an object without a URL (the next attempt finds it by HEAD and only does
 * the ZK step). Nothing else in the record changes; a non-empty URL is never overwritten; a deleted znode is
 * never recreated (a versioned setData cannot create). Errors are thrown; the caller schedules the retry.
 */

export type AttemptOutcome =
  | { kind: 'done'; result: 'success' | 'already_uploaded'; uri: string; seen: ZnodeSeen; bytes: number | null; uploadMs: number | null }
  /** Someone else set the URL (kept as it is). */
  | { kind: 'fixed_by_other'; url: string; seen: ZnodeSeen }
  /** The znode is gone. */
  | { kind: 'gone' }
  /** The fresh record is not eligible (status, CRC, retention ... changed since the cached view). */
  | { kind: 'skipped'; reason: SkipReason; detail?: string; seen: ZnodeSeen }
  /** Another sidecar holds the upload lock. */
  | { kind: 'locked' };

export interface AttemptDeps {
  session: ZkSession;
  paths: ClusterPaths;
  deepStore: DeepStore;
  locks: UploadLocks;
  gzipLevel: number;
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
}

/** Conflicts in a row before the attempt gives up and is retried later (each one means a fresh re-read). */
const MAX_CAS_ROUNDS = 5;

export async function runRepairAttempt(deps: AttemptDeps, request: AttemptRequest): Promise<AttemptOutcome> {
  assertMayWrite(request);
  const lock = await deps.locks.tryAcquire(request.table, request.segment, request.mayWrite);
  if (!lock) return { kind: 'locked' };
  try {
    return await attemptUnderLock(deps, request, lock);
  } finally {
    // Deleting the lock is a ZooKeeper write too: after stop it is left to die with the session.
    if (request.mayWrite()) {
      await lock.release().catch((err: unknown) => deps.logger.warn({ err, path: lock.path }, 'could not release the upload lock; it ends with the session'));
    }
  }
}

function assertMayWrite(request: AttemptRequest): void {
  if (!request.mayWrite()) throw new ReconcilerStoppedError();
}

async function attemptUnderLock(deps: AttemptDeps, request: AttemptRequest, lock: HeldLock): Promise<AttemptOutcome> {
  const { table, segment, signal } = request;
  const path = deps.paths.segmentMetadata(table, segment);
  const fresh = await readRecord(deps.session, path);
  const early = judge(deps, request, fresh);
  if (early) return early;
  const record = fresh!;
  const zkCrc = readSegmentMetadata(record.doc.record).crc!; // judge() proved it is set and equals the local CRC
  const uri = deps.deepStore.segmentUri(rawTableName(table), segment);

  let result: 'success' | 'already_uploaded' = 'already_uploaded';
  let bytes: number | null = null;
  let uploadMs: number | null = null;
  // An earlier attempt (ours or another replica's) may have uploaded and failed before the ZK step, or the
  // write may have succeeded while the answer was lost (ambiguous success): the same CRC means the same segment.
  const existing = await deps.deepStore.head(uri, { signal });
  if (existing === null || existing.crc !== zkCrc) {
    result = 'success';
    request.progress('uploading', uri);
    deps.logger.info({ event: 'upload_start', table, segment, uri }, 'deep-store upload started');
    const started = deps.now();
    // A fresh archive stream per attempt; planning re-checks that the directory is still the resolved one.
    const plan = await planSegmentArchive(request.local.resolved);
    const body = streamSegmentArchive(plan, { gzipLevel: deps.gzipLevel, signal });
    try {
      ({ bytes } = await deps.deepStore.put(uri, body, { crc: zkCrc }, { signal }));
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
    if (stored.crc !== zkCrc) throw new DeepStoreVerifyError(uri, `stored CRC ${stored.crc ?? 'none'}, expected ${zkCrc}`);
  }

  request.progress('committing', uri);
  let current: VersionedRecord = record;
  // p-retry fits here: a short, immediate loop over one step (re-read, re-check, compare-and-set again on the
  // new version) that needs no sleep, so it holds the slot only for a few ZooKeeper round trips. Waiting
  // retries of whole attempts are scheduled by the reconciler instead (see backoff.ts).
  return pRetry(
    async (round): Promise<AttemptOutcome> => {
      if (round > 1) {
        const reread = await readRecord(deps.session, path);
        const verdict = judge(deps, request, reread);
        if (verdict) return verdict;
        current = reread!;
      }
      assertMayWrite(request);
      // The version was read under the lock's session. If that session is gone, so is the lock, and another
      // sidecar may be mid-attempt: stop here and start over rather than write on the strength of it.
      if (deps.session.sessionId !== lock.sessionId) throw new SessionChangedError(lock.sessionId, deps.session.sessionId);
      const cas = await compareAndSetSimpleField(deps.session, current, SegmentKeys.downloadUrl, uri);
      if (cas.outcome === 'written') return { kind: 'done', result, uri, seen: cas.stat, bytes, uploadMs };
      if (cas.outcome === 'gone') return { kind: 'gone' };
      throw new CasConflictError(path);
    },
    { retries: MAX_CAS_ROUNDS - 1, minTimeout: 0, maxTimeout: 0, shouldRetry: ({ error }) => error instanceof CasConflictError },
  );
}

/**
 * What a fresh read of the znode says, or null to go on: gone (never recreated), a URL (someone else fixed it;
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
