import type { SegmentMetadata } from '../../helix/index.js';
import type { CreationMeta } from '../../pinot-format/index.js';
import { CorruptSegmentError, readSeal } from '../../segments/index.js';
import { ArchiveLayoutError, CrcMismatchError } from './errors.js';

export type CrcVerdict =
  { ok: true; crc: string; via: 'crc' | 'dataCrc' } | { ok: false; found: string; expected: string };

/**
 * The check that makes a download usable, as Pinot makes it: the segment's creation.meta CRC equals ZooKeeper's
 * segment.crc, or, when segment.use.data.crc is set, the data CRCs agree (BaseTableDataManager.hasSameCRC).
 * A recomputed Adler-32 is deliberately not compared: conversions and indexes added on the serving server change
 * the files but keep creation.meta (docs/pinot-interop.md, "creation.meta and the CRC"). The bytes themselves
 * are covered by gzip's CRC-32 and the length checks.
 */
export function crcVerdict(
  meta: Pick<CreationMeta, 'crcString' | 'dataCrc'>,
  zk: Pick<SegmentMetadata, 'crc' | 'dataCrc' | 'useDataCrc'>,
): CrcVerdict {
  if (zk.crc !== null && meta.crcString === zk.crc) return { ok: true, crc: meta.crcString, via: 'crc' };
  if (zk.useDataCrc && zk.dataCrc !== null && meta.dataCrc !== undefined && String(meta.dataCrc) === zk.dataCrc) {
    return { ok: true, crc: meta.crcString, via: 'dataCrc' };
  }
  return { ok: false, found: meta.crcString, expected: zk.crc ?? '(none)' };
}

/** Read the extracted segment's creation.meta (v3/ first, like Pinot) and apply crcVerdict; returns the CRC. */
export async function verifyExtractedSegment(
  segmentDir: string,
  zk: Pick<SegmentMetadata, 'crc' | 'dataCrc' | 'useDataCrc'>,
): Promise<CrcVerdict & { ok: true }> {
  let lookup;
  try {
    lookup = await readSeal(segmentDir);
  } catch (err) {
    if (err instanceof CorruptSegmentError)
      throw new ArchiveLayoutError(`creation.meta is unreadable: ${err.message}`, { cause: err });
    throw err;
  }
  if (!lookup.sealed) throw new ArchiveLayoutError(`the archive's segment is not sealed: ${lookup.reason}`);
  const verdict = crcVerdict(lookup.seal.creationMeta, zk);
  if (!verdict.ok) throw new CrcMismatchError(verdict.found, verdict.expected, "the archive's creation.meta");
  return verdict;
}
