import { mayBeRepaired, type Inspection, type SegmentEntry } from './ledger.js';

/**
 * Reads a segment's write history out of znode versions (pure). The driver knows the versions its own writes
 * produced; every other version in between, or after its last write, is a write by someone else: a sidecar.
 *
 * After each driver write, a sidecar may write at most once, and only if that write left the segment
 * repairable (DONE, URL "", a replica to upload from, not near retention): its compare-and-set of "" → URL.
 * Anything more is a violation, named after what was written over: a URL (overwritten), a COMMITTING record,
 * a CRC-mismatched one, ...
 */

export type HistoryViolationKind =
  | 'url_overwritten'
  | 'committing_written'
  | 'crc_mismatch_written'
  | 'near_retention_written'
  | 'no_url_key_written'
  | 'znode_recreated'
  | 'znode_vanished';

export interface HistoryVerdict {
  /** Writes that were not the driver's. */
  foreignWrites: number;
  violations: Array<{ kind: HistoryViolationKind; detail: string }>;
  /** A sidecar's write was allowed and happened (the segment was repaired by a sidecar at some point). */
  repairedBySidecar: boolean;
  /** When the sidecar's write landed, when it is the znode's last write (its mtime); null otherwise. */
  repairedAt: number | null;
}

export function judgeHistory(entry: SegmentEntry, inspection: Inspection): HistoryVerdict {
  const verdict: HistoryVerdict = { foreignWrites: 0, violations: [], repairedBySidecar: false, repairedAt: null };
  if (!inspection.exists) {
    verdict.violations.push({ kind: 'znode_vanished', detail: 'the znode is gone, and the driver did not delete it' });
    return verdict;
  }
  const writes = entry.writes;
  for (let i = 0; i < writes.length; i++) {
    const write = writes[i]!;
    const nextVersion = i + 1 < writes.length ? writes[i + 1]!.version : inspection.version + 1;
    const gap = nextVersion - write.version - 1;
    if (gap < 0) {
      verdict.violations.push({
        kind: 'znode_recreated',
        detail: `version ${inspection.version} found after the driver's write produced version ${write.version}: the znode was deleted and created again`,
      });
      return verdict;
    }
    verdict.foreignWrites += gap;
    const allowed = mayBeRepaired(entry, write) ? 1 : 0;
    if (gap > allowed) {
      verdict.violations.push({
        kind: violationFor(entry, write.record.simpleFields),
        detail: `${gap} write(s) by others after the driver's ${write.what} (version ${write.version}); allowed: ${allowed}`,
      });
    } else if (gap === 1) {
      verdict.repairedBySidecar = true;
      if (i === writes.length - 1) verdict.repairedAt = inspection.mtimeMs;
    }
  }
  return verdict;
}

function violationFor(entry: SegmentEntry, fields: Record<string, string>): HistoryViolationKind {
  const url = fields['segment.download.url'];
  if (url !== undefined && url !== '') return 'url_overwritten';
  if (fields['segment.realtime.status'] === 'COMMITTING') return 'committing_written';
  if (entry.kind === 'crc_mismatch') return 'crc_mismatch_written';
  if (entry.kind === 'near_retention') return 'near_retention_written';
  if (entry.kind === 'no_url_key') return 'no_url_key_written';
  // Repairable, written more than once: the second write went over the first one's URL.
  return 'url_overwritten';
}
