import { CorruptSegmentError } from './errors.js';

/**
 * `creation.meta`, pinot-protocol.md §8.3. Written by BaseSegmentCreator.persistCreationMeta, read by
 * SegmentMetadataImpl.loadCreationMeta: big-endian int64 crc, int64 creationTime and, since 1.5.0 and
 * only when it is >= 0, int64 dataCrc. Pure: no I/O.
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

export const CREATION_META_SIZES: readonly number[] = [16, 24];

const MAX_UINT32 = 0xffff_ffffn;

/** Parses the raw bytes; `source` names the file in errors. */
export function parseCreationMeta(bytes: Uint8Array, source = 'creation.meta'): CreationMeta {
  if (!CREATION_META_SIZES.includes(bytes.length)) {
    throw new CorruptSegmentError(source, `creation.meta is ${bytes.length} bytes, expected 16 or 24`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crc = readUint32InLong(view, 0, 'crc', source);
  const creationTime = view.getBigInt64(8);
  if (creationTime > BigInt(Number.MAX_SAFE_INTEGER) || creationTime < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new CorruptSegmentError(source, `creationTime ${creationTime} is not a plausible epoch millisecond`);
  }
  const dataCrc = bytes.length === 24 ? readUint32InLong(view, 16, 'dataCrc', source) : undefined;
  return { crc, crcString: String(crc), creationTime: Number(creationTime), dataCrc };
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
function readUint32InLong(view: DataView, offset: number, field: string, source: string): number {
  const value = view.getBigInt64(offset);
  if (value < 0n || value > MAX_UINT32) {
    throw new CorruptSegmentError(source, `${field} ${value} is not an unsigned 32-bit value`);
  }
  return Number(value);
}
