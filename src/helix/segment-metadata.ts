import { readSegmentCrc } from '../pinot-format/index.js';
import type { ZNRecord } from './znrecord.js';

/** The simpleField keys of segment ZK metadata (CommonConstants.Segment). */
export const SegmentKeys = {
  status: 'segment.realtime.status',
  downloadUrl: 'segment.download.url',
  legacyOfflineDownloadUrl: 'segment.offline.download.url',
  legacyRealtimeDownloadUrl: 'segment.realtime.download.url',
  crc: 'segment.crc',
  dataCrc: 'segment.data.crc',
  useDataCrc: 'segment.use.data.crc',
  creationTime: 'segment.creation.time',
  startTime: 'segment.start.time',
  endTime: 'segment.end.time',
  timeUnit: 'segment.time.unit',
  startOffset: 'segment.realtime.startOffset',
  endOffset: 'segment.realtime.endOffset',
  totalDocs: 'segment.total.docs',
  sizeInBytes: 'segment.size.in.bytes',
  /** CommonConstants.Segment.CRYPTER_NAME: servers decrypt a download with it (BaseTableDataManager). */
  crypterName: 'segment.crypter',
} as const;

export const SEGMENT_STATUSES = ['IN_PROGRESS', 'COMMITTING', 'DONE', 'UPLOADED'] as const;
export type SegmentStatus = (typeof SEGMENT_STATUSES)[number];

/**
 * The three download-URL cases Pinot distinguishes by exact comparison (BaseTableDataManager.downloadSegment;
 * docs/pinot-interop.md, "The empty download URL"): the key absent (COMMITTING, or broken), `""` (peer
 * download only: the one case repair fixes), or a URI.
 */
export type DownloadUrl = { kind: 'absent' } | { kind: 'empty' } | { kind: 'uri'; uri: string };

export interface SegmentMetadata {
  segmentName: string;
  /** Missing or not an exact enum name reads as UPLOADED (SegmentZKMetadata.getStatus). */
  status: SegmentStatus;
  downloadUrl: DownloadUrl;
  /** Unsigned 32-bit decimal string, or null when absent or not a valid CRC. */
  crc: string | null;
  dataCrc: string | null;
  useDataCrc: boolean;
  creationTimeMs: number | null;
  /** End of the segment's time range in ms (segment.end.time in segment.time.unit), null when unknown. */
  endTimeMs: number | null;
  startTimeMs: number | null;
  startOffset: string | null;
  endOffset: string | null;
  totalDocs: number | null;
  sizeInBytes: number | null;
  /**
   * The crypter Pinot decrypts this segment's downloads with (SegmentZKMetadata.getCrypterName), or null when
   * none is set: the deep-store copy of such a segment is encrypted, and a plain archive there is unreadable.
   */
  crypterName: string | null;
}

/** Milliseconds per java.util.concurrent.TimeUnit, the unit type of segment times and table retention. */
export const TIME_UNIT_MS: Readonly<Record<string, number>> = {
  NANOSECONDS: 1e-6,
  MICROSECONDS: 1e-3,
  MILLISECONDS: 1,
  SECONDS: 1000,
  MINUTES: 60_000,
  HOURS: 3_600_000,
  DAYS: 86_400_000,
};

/**
 * Segment ZK metadata (PROPERTYSTORE/SEGMENTS/<table>/<segment>), typed the way Pinot's
 * SegmentZKMetadata reads it (docs/pinot-interop.md, "Segment metadata"). Pure: record in, view out.
 */
export function readSegmentMetadata(record: ZNRecord): SegmentMetadata {
  const f = record.simpleFields;
  const statusRaw = f[SegmentKeys.status];
  const status = (SEGMENT_STATUSES as readonly string[]).includes(statusRaw ?? '')
    ? (statusRaw as SegmentStatus)
    : 'UPLOADED';
  const unitMs = TIME_UNIT_MS[f[SegmentKeys.timeUnit] ?? 'MILLISECONDS'] ?? null;
  return {
    segmentName: record.id,
    status,
    downloadUrl: readDownloadUrl(f),
    crc: readSegmentCrc(f[SegmentKeys.crc]),
    dataCrc: f[SegmentKeys.dataCrc] ?? null,
    useDataCrc: f[SegmentKeys.useDataCrc] === 'true',
    creationTimeMs: positiveInt(f[SegmentKeys.creationTime]),
    // Values <= 0 are treated as absent (SegmentZKMetadata).
    startTimeMs: scaled(positiveInt(f[SegmentKeys.startTime]), unitMs),
    endTimeMs: scaled(positiveInt(f[SegmentKeys.endTime]), unitMs),
    startOffset: f[SegmentKeys.startOffset] ?? null,
    endOffset: f[SegmentKeys.endOffset] ?? null,
    totalDocs: nonNegativeInt(f[SegmentKeys.totalDocs]),
    sizeInBytes: nonNegativeInt(f[SegmentKeys.sizeInBytes]),
    crypterName: nonEmpty(f[SegmentKeys.crypterName]),
  };
}

/** getDownloadUrl falls back to the legacy offline, then realtime keys when the main key is absent. */
function readDownloadUrl(f: Record<string, string>): DownloadUrl {
  const value =
    f[SegmentKeys.downloadUrl] ?? f[SegmentKeys.legacyOfflineDownloadUrl] ?? f[SegmentKeys.legacyRealtimeDownloadUrl];
  if (value === undefined) return { kind: 'absent' };
  if (value === '') return { kind: 'empty' };
  return { kind: 'uri', uri: value };
}

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value.trim() === '' ? null : value;
}

/** An integer > 0, else null: times <= 0 mean "not set" (SegmentZKMetadata). */
function positiveInt(value: string | undefined): number | null {
  const n = integer(value);
  return n !== null && n > 0 ? n : null;
}

/** An integer >= 0, else null: counts and sizes may be 0. */
function nonNegativeInt(value: string | undefined): number | null {
  const n = integer(value);
  return n !== null && n >= 0 ? n : null;
}

function integer(value: string | undefined): number | null {
  return value === undefined || !/^-?\d+$/.test(value) ? null : Number(value);
}

function scaled(value: number | null, unitMs: number | null): number | null {
  return value === null || unitMs === null ? null : Math.floor(value * unitMs);
}
