// May the sidecar repair this segment's deep-store copy now? The rules of docs/architecture.md, "A repair", pure:
// facts in, a decision out, no I/O. The reconciler applies them twice: on what it knows (the tracker's
// cached metadata) before spending anything, and again on a fresh read of the znode before it writes.
//
// Everything not eligible carries a reason an operator can act on; nothing here ever decides to write
// COMMITTING or IN_PROGRESS metadata (the controller replaces every simpleField of a COMMITTING segment when
// it repairs it, in PinotLLCRealtimeSegmentManager.uploadToDeepStoreIfMissing, and any write restarts its
// stuck-commit clock, isExceededMaxSegmentCompletionTime: docs/pinot-interop.md, "Pauseless").

import type { ClusterSettings, ReplicaState, SegmentMetadata, TableSettings } from '../../helix/index.js';
import { tableTypeOf } from '../../pinot-format/index.js';

export type SkipReason =
  /** The table is OFFLINE: Pinot's deep-store repair is for realtime (LLC) segments only. */
  | 'offline_table'
  /** The segment znode is missing or unreadable. */
  | 'no_metadata'
  /** Consuming: no segment yet. Reported, never written. */
  | 'in_progress'
  /** Pauseless commit under way (or stuck). Reported, never written. */
  | 'committing'
  /** Pushed/uploaded segment (also the status Pinot reads when the key is missing or invalid). */
  | 'uploaded'
  /**
   * DONE without the URL key: not what Pinot repairs (PinotLLCRealtimeSegmentManager.shouldSkipForNonPauselessMode
   * needs "" exactly).
   */
  | 'no_url_key'
  /** DONE with a URL: nothing to repair. */
  | 'has_url'
  /**
   * Encrypted: ZK `segment.crypter` or the table's `segmentsConfig.crypterClassName` is set. Pinot decrypts what it
   * downloads from the deep store with that crypter (BaseTableDataManager, the minion executors); the sidecar can
   * only write a plain archive, which such a reader could not use.
   */
  | 'encrypted'
  /** ZK holds no valid `segment.crc`: a copy could not be verified against it. */
  | 'no_zk_crc'
  /** The table config is missing (or not read yet): retention unknown. */
  | 'no_table_config'
  /** Within 1 h of retention expiry: the retention manager is about to delete it. */
  | 'near_retention'
  /** No replica on this server (not in its current state). */
  | 'not_hosted'
  /** This server's replica is not ONLINE (CONSUMING, OFFLINE, ERROR, ...). */
  | 'not_online'
  /** No directory for it in the data dir. */
  | 'not_local'
  /** The directory has no creation.meta: still being built or copied. */
  | 'not_sealed'
  /** creation.meta is malformed. */
  | 'corrupt_local'
  /** A name the local store refuses (outside [A-Za-z0-9._-]). */
  | 'invalid_name'
  /** The local copy could not be read (I/O error): tried again later. */
  | 'local_unreadable'
  /**
   * The record cannot be rewritten with only the URL's bytes changed (the URL key twice, a rewrite past
   * Helix's size limit): never written, so nothing is uploaded for it either.
   */
  | 'not_rewritable'
  /** creation.meta CRC differs from ZK segment.crc: uploading it would point ZK at other data. */
  | 'crc_mismatch';

/** What the local store says about the replica's directory (local-copy.ts produces it). */
export type LocalCheck =
  | { kind: 'sealed'; crc: string }
  | { kind: 'absent' | 'unsealed' | 'corrupt' | 'invalid_name' | 'unreadable'; detail?: string };

export interface EligibilityInput {
  tableNameWithType: string;
  /** CURRENT_STATE of this server's replica; undefined when the server does not host it. */
  replicaState: ReplicaState | undefined;
  /** The segment's ZK metadata and znode mtime; null when the znode is missing or unreadable. */
  zk: { metadata: SegmentMetadata; mtimeMs: number } | null | undefined;
  tableSettings:
    Pick<TableSettings, 'tableType' | 'retentionMs' | 'pauselessEnabled' | 'crypterClassName'> | null | undefined;
  cluster: Pick<ClusterSettings, 'maxSegmentCompletionTimeMs'>;
  nowMs: number;
}

export type Eligibility = { eligible: true } | { eligible: false; reason: SkipReason; detail?: string };
/** A "no" with its reason. */
export type SkipVerdict = Exclude<Eligibility, { eligible: true }>;

/**
 * Pinot's MIN_TIME_BEFORE_SEGMENT_EXPIRATION_FOR_FIXING_DEEP_STORE_COPY_MILLIS
 * (PinotLLCRealtimeSegmentManager.uploadToDeepStoreIfMissing).
 */
export const RETENTION_MARGIN_MS = 60 * 60 * 1000;

/**
 * Which segments the repair keeps an eye on at all: DONE with URL exactly "" are candidates; COMMITTING and
 * IN_PROGRESS are reported (never written); everything else (a URL, no URL key, UPLOADED) is none of its
 * business. Keeps the repair state proportional to what needs attention, not to what the server hosts.
 */
export function repairInterest(metadata: SegmentMetadata): 'candidate' | 'report' | 'none' {
  if (metadata.status === 'COMMITTING' || metadata.status === 'IN_PROGRESS') return 'report';
  if (metadata.status === 'DONE' && metadata.downloadUrl.kind === 'empty') return 'candidate';
  return 'none';
}

const REPORT_ONLY_REASONS: ReadonlySet<string> = new Set<SkipReason>(['committing', 'in_progress']);

/**
 * Whether a skip reason is one of the segments repairInterest only reports (COMMITTING, IN_PROGRESS): such skips
 * are routine, not logged, and the entry is forgotten once the segment leaves those states.
 */
export function isReportOnlyReason(reason: string): boolean {
  return REPORT_ONLY_REASONS.has(reason);
}

/**
 * The rules that need no disk access, in the order an operator would want to hear about them: what ZK says
 * about the segment, then the table, then this server's replica. Null means "now look at the local copy".
 */
export function checkMetadata(input: EligibilityInput): SkipVerdict | null {
  const { zk, tableSettings } = input;
  if (tableTypeOf(input.tableNameWithType) === 'OFFLINE' || tableSettings?.tableType === 'OFFLINE')
    return skip('offline_table');
  if (!zk) return skip('no_metadata');
  const { metadata } = zk;
  switch (metadata.status) {
    case 'IN_PROGRESS':
      return skip('in_progress');
    case 'COMMITTING':
      return skip('committing', stuckCommitDetail(input, zk.mtimeMs));
    case 'UPLOADED':
      return skip('uploaded');
    case 'DONE':
      break;
  }
  // Exact comparisons, as Pinot makes them (BaseTableDataManager.downloadSegment;
  // docs/pinot-interop.md, "The empty download URL"): only "" means "peer download only". A pauseless DONE
  // segment needs no extra wait here: the controller's max-completion-time check guards COMMITTING
  // segments whose commit may still be running, and DONE means the commit has ended.
  if (metadata.downloadUrl.kind === 'absent') return skip('no_url_key');
  if (metadata.downloadUrl.kind === 'uri') return skip('has_url', metadata.downloadUrl.uri);
  if (metadata.crypterName !== null) return skip('encrypted', `segment.crypter is ${metadata.crypterName}`);
  if (metadata.crc === null) return skip('no_zk_crc');
  if (!tableSettings) return skip('no_table_config');
  if (tableSettings.crypterClassName !== null)
    return skip('encrypted', `the table's crypterClassName is ${tableSettings.crypterClassName}`);
  const expiresAt = retentionExpiry(metadata.endTimeMs, tableSettings.retentionMs);
  if (expiresAt !== null && expiresAt - RETENTION_MARGIN_MS <= input.nowMs) {
    return skip('near_retention', `retention expires at ${new Date(expiresAt).toISOString()}`);
  }
  if (input.replicaState === undefined) return skip('not_hosted');
  if (input.replicaState !== 'ONLINE') return skip('not_online', `replica is ${input.replicaState}`);
  return null;
}

/** Every rule: the metadata rules, then the local copy (sealed, and its creation.meta CRC equal to ZK's). */
export function checkEligibility(input: EligibilityInput & { local: LocalCheck }): Eligibility {
  const early = checkMetadata(input);
  if (early) return early;
  const { local } = input;
  switch (local.kind) {
    case 'absent':
      return skip('not_local', local.detail);
    case 'unsealed':
      return skip('not_sealed', local.detail);
    case 'corrupt':
      return skip('corrupt_local', local.detail);
    case 'invalid_name':
      return skip('invalid_name', local.detail);
    case 'unreadable':
      return skip('local_unreadable', local.detail);
    case 'sealed':
      break;
  }
  // checkMetadata returned null, so zk and its crc are set. Compared as strings: both are
  // String.valueOf(long) of the same unsigned value (docs/pinot-interop.md, "creation.meta and the CRC");
  // BaseTableDataManager.hasSameCRC
  // compares the same two values.
  const zkCrc = input.zk!.metadata.crc!;
  if (local.crc !== zkCrc) return skip('crc_mismatch', `local creation.meta crc ${local.crc}, ZK segment.crc ${zkCrc}`);
  return { eligible: true };
}

/**
 * When the retention manager may delete the segment: end time + retention (TimeRetentionStrategy). Unknown
 * end time or no retention: never (Pinot treats an invalid end time as not purgeable).
 */
export function retentionExpiry(endTimeMs: number | null, retentionMs: number | null): number | null {
  if (endTimeMs === null || retentionMs === null) return null;
  return endTimeMs + retentionMs;
}

/**
 * Pauseless: a COMMITTING znode untouched for longer than the max completion time is stuck
 * (PinotLLCRealtimeSegmentManager.isExceededMaxSegmentCompletionTime).
 */
function stuckCommitDetail(input: EligibilityInput, mtimeMs: number): string | undefined {
  if (!input.tableSettings?.pauselessEnabled) return undefined;
  const stuckForMs = input.nowMs - mtimeMs;
  if (stuckForMs <= input.cluster.maxSegmentCompletionTimeMs) return undefined;
  return `stuck: COMMITTING for ${Math.round(stuckForMs / 1000)} s (max ${input.cluster.maxSegmentCompletionTimeMs / 1000} s); the controller's repair takes it over`;
}

function skip(reason: SkipReason, detail?: string): SkipVerdict {
  return detail === undefined ? { eligible: false, reason } : { eligible: false, reason, detail };
}
