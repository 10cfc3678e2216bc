// What the size and CRC recorded with an object at put() say of it, before anything is read: the rule every store
// with object metadata (S3, GCS, Azure) applies in verifyArchive(). Pure.

import type { ArchiveVerdict } from './deep-store.js';

export interface RecordedObject {
  /** The object's size as the store reports it. */
  bytes: number;
  /** The CRC recorded with it, if any (absent: written by Pinot, or by another tool). */
  crc: string | undefined;
  /** The size recorded with it, if any (absent: S3 multipart puts, which send metadata before the size is known). */
  recordedBytes: string | undefined;
  /** The store's version of the object (GCS generation, Azure ETag), carried into an `unverified` verdict. */
  version?: string | undefined;
}

/**
 * A verdict from the metadata alone, or null when it decides nothing and the object must be read in full. A
 * recorded CRC that differs is another segment or version; a recorded size that differs from the object's is a cut
 * or replaced object; both recorded and matching is the complete archive put() wrote (one metadata request).
 */
export function verdictFromRecord(found: RecordedObject, expectedCrc: string): ArchiveVerdict | null {
  const { bytes, crc, recordedBytes } = found;
  const version = found.version === undefined ? {} : { version: found.version };
  if (crc !== undefined && crc !== expectedCrc) {
    return {
      kind: 'unverified',
      reason: `recorded CRC ${crc}, expected ${expectedCrc}: another segment or version`,
      bytes,
      ...version,
    };
  }
  if (crc === undefined || recordedBytes === undefined) return null;
  if (recordedBytes === String(bytes)) return { kind: 'verified', bytes, by: 'recorded' };
  return {
    kind: 'unverified',
    reason: `recorded size ${JSON.stringify(recordedBytes)} bytes, the object has ${bytes}: cut or replaced`,
    bytes,
    ...version,
  };
}
