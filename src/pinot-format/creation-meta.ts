import { CreationMetaError } from './errors.js';

/** V1Constants.SEGMENT_CREATION_META: its presence is what makes a segment directory sealed. */
export const CREATION_META = 'creation.meta';

/** SegmentDirectoryPaths.V3_SUBDIRECTORY_NAME. */
export const V3_DIR = 'v3';

/**
 * Where `creation.meta` may live, relative to the segment directory, in the order Pinot looks:
 * SegmentDirectoryPaths.findFormatFile tries `v3/` first, then the top level.
 */
export const CREATION_META_CANDIDATES: ReadonlyArray<readonly string[]> = [[V3_DIR, CREATION_META], [CREATION_META]];

/**
 * Entry names that hold `creation.meta` inside a segment archive: `<segment>/creation.meta` (v1/v2 layout) or
 * `<segment>/v3/creation.meta` (v3). The top-level folder is the segment directory (TarCompressionUtils.untar
 * takes the first entry as the segment); a leading "./" from a system tar is tolerated.
 */
export function isCreationMetaEntry(entryPath: string): boolean {
  return /^(?:\.\/)?[^/]+\/(?:v3\/)?creation\.meta$/.test(entryPath);
}

/**
 * The content of `creation.meta`, as BaseSegmentCreator.persistCreationMeta writes it and
 * SegmentMetadataImpl.loadCreationMeta reads it: big-endian int64 crc, int64 creationTime and, since 1.5.0 and
 * only when it is >= 0, int64 dataCrc.
 */
export interface CreationMeta {
  /** CrcUtils.computeCrc: an unsigned 32-bit Adler-32 stored in a long. */
  crc: number;
  /** `String.valueOf(crc)`: the exact form of ZK `segment.crc`, compare it as a string. */
  crcString: string;
  /** Milliseconds since the epoch. */
  creationTime: number;
  /** CrcUtils.computeDataCrc, absent in 16-byte files (pre-1.5.0, or a column without forward index). */
  dataCrc: number | undefined;
}

/** The two sizes persistCreationMeta writes: without and with dataCrc. */
export const CREATION_META_SIZES: readonly number[] = [16, 24];

/** The crc is the first long of the file. */
const CRC_FIELD_BYTES = 8;

const MAX_UINT32 = 0xffff_ffffn;

/** Parses the whole file strictly: a size or a value Pinot never writes is a CreationMetaError. */
export function parseCreationMeta(bytes: Uint8Array): CreationMeta {
  if (!CREATION_META_SIZES.includes(bytes.length)) {
    throw new CreationMetaError(`creation.meta is ${bytes.length} bytes, expected 16 or 24`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crc = readUint32InLong(view, 0, 'crc');
  const creationTime = view.getBigInt64(8);
  if (creationTime > BigInt(Number.MAX_SAFE_INTEGER) || creationTime < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new CreationMetaError(`creationTime ${creationTime} is not a plausible epoch millisecond`);
  }
  const dataCrc = bytes.length === 24 ? readUint32InLong(view, 16, 'dataCrc') : undefined;
  return { crc, crcString: String(crc), creationTime: Number(creationTime), dataCrc };
}

/**
 * The crc field alone, as SegmentMetadata.getCrc() prints it (Java's String.valueOf(long): signed decimal), or
 * null when the bytes are too short to hold it. For archives read only as far as the CRC: whatever the field
 * holds is compared with ZK `segment.crc`, and a value Pinot never writes simply does not match.
 */
export function crcFromCreationMeta(bytes: Uint8Array): string | null {
  if (bytes.length < CRC_FIELD_BYTES) return null;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(0).toString();
}

/** The inverse of parseCreationMeta, for tools and tests that build segments. */
export function encodeCreationMeta(meta: { crc: number; creationTime: number; dataCrc?: number | undefined }): Buffer {
  const out = Buffer.alloc(meta.dataCrc === undefined ? 16 : 24);
  out.writeBigInt64BE(BigInt(meta.crc), 0);
  out.writeBigInt64BE(BigInt(meta.creationTime), 8);
  if (meta.dataCrc !== undefined) out.writeBigInt64BE(BigInt(meta.dataCrc), 16);
  return out;
}

/** An Adler-32 value in a Java long: the high 32 bits must be zero, anything else is not Pinot's. */
function readUint32InLong(view: DataView, offset: number, field: string): number {
  const value = view.getBigInt64(offset);
  if (value < 0n || value > MAX_UINT32)
    throw new CreationMetaError(`${field} ${value} is not an unsigned 32-bit value`);
  return Number(value);
}
