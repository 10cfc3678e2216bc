import type { ZNRecord } from '../../src/helix/znrecord.js';

/**
 * What the driver did to each segment, kept so the end of the run can tell the driver's writes from anyone
 * else's. Every segment znode write bumps its version by one, so the versions the driver's own writes
 * produced, against the version found later, say exactly how many writes were not the driver's and when
 * they happened (between which two driver writes). The only writer besides the driver is the sidecars'
 * repair, and it may write at most once: "" → the canonical URL, on a segment that is eligible.
 */

export const SEGMENT_KINDS = [
  /** DONE, URL "", ZK CRC = every replica's: the repair's bread and butter. */
  'eligible',
  /** Like eligible, but one replica built a different segment (its own CRC): only the others may upload. */
  'divergent',
  /** Like eligible, archive over 16 MiB: a multipart upload. */
  'large',
  /** ZK CRC matches no replica: must never be written. */
  'crc_mismatch',
  /** Pauseless COMMITTING (no URL key): never written while COMMITTING; some are later committed as DONE "". */
  'committing',
  /** DONE "" but within 1 h of retention expiry: never written. */
  'near_retention',
  /** DONE without the URL key: not what Pinot repairs, never written. */
  'no_url_key',
] as const;
export type SegmentKind = (typeof SEGMENT_KINDS)[number];

export interface DriverWrite {
  /** Version of the znode after the write (0 for the create). */
  version: number;
  /** When it was acknowledged (ms). */
  at: number;
  what: 'create' | 'commit_done' | 'controller_fix';
  /** The record as written. */
  record: ZNRecord;
}

export interface Inspection {
  at: number;
  exists: boolean;
  version: number;
  mtimeMs: number;
  /** segment.download.url: undefined when the key is absent. */
  url: string | undefined;
  record: ZNRecord | null;
}

export interface SegmentEntry {
  table: string;
  segment: string;
  kind: SegmentKind;
  /** Server indexes holding a replica. */
  replicas: number[];
  /** Replicas whose local creation.meta CRC equals ZK segment.crc. */
  matching: number[];
  zkCrc: string | null;
  writes: DriverWrite[];
  /** When the segment became DONE with URL "" (null while it is not, or never). */
  eligibleSince: number | null;
  /** For COMMITTING segments: when the driver commits it (null: stays COMMITTING, a stuck commit). */
  commitDoneAt: number | null;
  /** The URL the driver's own (blind) fix wrote. */
  controllerUrl: string | null;
  deletedAt: number | null;
  /** A driver write whose outcome is unknown: the version bookkeeping of this segment is not trusted. */
  uncertain: string | null;
  /** The last read of the znode (before deletion, or at the end). */
  inspection: Inspection | null;
}

export class Ledger {
  readonly entries = new Map<string, SegmentEntry>();

  add(entry: SegmentEntry): void {
    this.entries.set(key(entry.table, entry.segment), entry);
  }

  get(table: string, segment: string): SegmentEntry | undefined {
    return this.entries.get(key(table, segment));
  }

  all(): SegmentEntry[] {
    return [...this.entries.values()];
  }

  live(): SegmentEntry[] {
    return this.all().filter((e) => e.deletedAt === null);
  }
}

export function key(table: string, segment: string): string {
  return `${table}/${segment}`;
}

export function lastWrite(entry: SegmentEntry): DriverWrite {
  return entry.writes[entry.writes.length - 1]!;
}

/** It became DONE "" with a replica to upload from, and is not near retention: the sidecars' job. */
export function wasRepairable(entry: SegmentEntry): boolean {
  if (entry.eligibleSince === null || entry.matching.length === 0) return false;
  return (
    entry.kind === 'eligible' || entry.kind === 'divergent' || entry.kind === 'large' || entry.kind === 'committing'
  );
}

/** Whether the sidecars must have repaired it by the end: repairable and still alive. */
export function mustBeRepaired(entry: SegmentEntry): boolean {
  return entry.deletedAt === null && wasRepairable(entry);
}

/** May a sidecar write this record (as the driver left it)? DONE, URL exactly "", and repairable. */
export function mayBeRepaired(entry: SegmentEntry, write: DriverWrite): boolean {
  const f = write.record.simpleFields;
  return (
    f['segment.realtime.status'] === 'DONE' &&
    f['segment.download.url'] === '' &&
    entry.matching.length > 0 &&
    entry.kind !== 'near_retention'
  );
}
