import { invalidArgument } from './errors.js';

/**
 * The segment CRC as Pinot writes it, pure.
 *
 * `creation.meta` (BaseSegmentCreator.persistCreationMeta, read by SegmentMetadataImpl.loadCreationMeta) starts
 * with the CRC as a big-endian int64 holding an unsigned 32-bit value; SegmentMetadata.getCrc() is
 * String.valueOf(crc), which is what ZooKeeper's `segment.crc` holds. The file is 16 or 24 bytes.
 */

/** The CRC string of a `creation.meta`, or null when the bytes are too short to hold one. */
export function crcFromCreationMeta(bytes: Uint8Array): string | null {
  if (bytes.length < 8) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Java's String.valueOf(long): signed decimal. A well-formed file always holds 0..2^32-1.
  return view.getBigInt64(0, false).toString();
}

const MAX_CRC = 0xffff_ffff;

/** True for what `segment.crc` holds: an unsigned 32-bit value in decimal, without sign or leading zeros. */
export function isSegmentCrc(value: string): boolean {
  return /^(0|[1-9][0-9]{0,9})$/.test(value) && Number(value) <= MAX_CRC;
}

export function assertSegmentCrc(value: string): void {
  if (!isSegmentCrc(value)) {
    throw invalidArgument('InvalidCrc', `segment CRC must be an unsigned 32-bit decimal string, got ${JSON.stringify(value)}`);
  }
}

/**
 * Entry names that hold the CRC inside a segment archive: `<segment>/creation.meta` (v1/v2 layout) or
 * `<segment>/v3/creation.meta` (v3). The top-level folder is the segment directory (TarCompressionUtils.untar
 * takes the first entry as the segment); a leading "./" from a system tar is tolerated.
 */
export function isCreationMetaEntry(entryPath: string): boolean {
  return /^(?:\.\/)?[^/]+\/(?:v3\/)?creation\.meta$/.test(entryPath);
}
