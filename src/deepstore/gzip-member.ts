// The framing of one gzip member (RFC 1952), pure: the header before the deflate data and the 8-byte trailer
// after it. The archive verifier (archive-verifier.ts) parses both itself and inflates only the deflate data
// (`createInflateRaw`), because that is the one way to learn where the first member ends: zlib's own gunzip
// (Node's `createGunzip`) silently goes on into a second member, while Pinot's untar (commons-compress
// `CompressorStreamFactory`; docs/pinot-interop.md, "Archive format") stops after the first one. An archive
// cut at an entry boundary and continued in a second member would read complete to us and truncated to Pinot.

import { crc32 } from 'node:zlib';

const ID1 = 0x1f;
const ID2 = 0x8b;
const CM_DEFLATE = 8;
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED_FLAGS = 0xe0;
const FIXED_HEADER_BYTES = 10;

/** The trailer after the deflate data: CRC-32 and length (mod 2^32) of the inflated bytes, little-endian. */
export const GZIP_TRAILER_BYTES = 8;

/** A header longer than this (a file name or comment without end) is not taken for a segment archive's. */
export const MAX_GZIP_HEADER_BYTES = 64 * 1024;

export type GzipHeaderParse =
  /** The header is longer than `bytes`: read more. */
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  /** The deflate data starts at `length`. */
  | { kind: 'complete'; length: number };

const OTHER_FORMATS: Array<{ magic: number[]; name: string }> = [
  { magic: [0x28, 0xb5, 0x2f, 0xfd], name: 'zstd' },
  { magic: [0x04, 0x22, 0x4d, 0x18], name: 'lz4' },
];

/**
 * Parse the gzip header at the start of `bytes` as zlib's inflate does (gzip magic, deflate method, no reserved
 * flag, optional extra field, file name, comment and header CRC, the header CRC checked).
 */
export function parseGzipHeader(bytes: Uint8Array): GzipHeaderParse {
  if (bytes.length >= 1 && bytes[0] !== ID1) return notGzip(bytes);
  if (bytes.length >= 2 && bytes[1] !== ID2) return notGzip(bytes);
  if (bytes.length < FIXED_HEADER_BYTES) return limited(bytes, { kind: 'incomplete' });
  if (bytes[2] !== CM_DEFLATE) return { kind: 'invalid', reason: `gzip compression method ${bytes[2]} is not deflate` };
  const flags = bytes[3]!;
  if ((flags & RESERVED_FLAGS) !== 0)
    return { kind: 'invalid', reason: `gzip header has reserved flags set (0x${flags.toString(16)})` };

  let at = FIXED_HEADER_BYTES;
  if (flags & FEXTRA) {
    if (bytes.length < at + 2) return limited(bytes, { kind: 'incomplete' });
    at += 2 + (bytes[at]! | (bytes[at + 1]! << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const end = bytes.indexOf(0, at);
      if (end < 0) return limited(bytes, { kind: 'incomplete' });
      at = end + 1;
    }
  }
  if (flags & FHCRC) {
    if (bytes.length < at + 2) return limited(bytes, { kind: 'incomplete' });
    const stored = bytes[at]! | (bytes[at + 1]! << 8);
    if (stored !== (crc32(bytes.subarray(0, at)) & 0xffff))
      return { kind: 'invalid', reason: 'gzip header CRC mismatch' };
    at += 2;
  }
  if (bytes.length < at) return limited(bytes, { kind: 'incomplete' });
  if (at > MAX_GZIP_HEADER_BYTES) return tooLong();
  return { kind: 'complete', length: at };
}

function limited(bytes: Uint8Array, parse: GzipHeaderParse): GzipHeaderParse {
  return bytes.length > MAX_GZIP_HEADER_BYTES ? tooLong() : parse;
}

function tooLong(): GzipHeaderParse {
  return { kind: 'invalid', reason: `gzip header longer than ${MAX_GZIP_HEADER_BYTES} bytes` };
}

function notGzip(bytes: Uint8Array): GzipHeaderParse {
  const other = OTHER_FORMATS.find(({ magic }) => magic.every((b, i) => i >= bytes.length || bytes[i] === b));
  const start = Buffer.from(bytes.subarray(0, 4))
    .toString('hex')
    .replace(/(..)(?=.)/g, '$1 ');
  return {
    kind: 'invalid',
    reason: other
      ? `compressed with ${other.name}, which this sidecar cannot inflate (starts with ${start})`
      : `not a gzip file (starts with ${start})`,
  };
}

/** What the compressed bytes after the deflate data must be, and what the inflated bytes were. */
export interface GzipMemberEnd {
  /** Bytes after the deflate data up to the end of the object. */
  bytesAfterDeflate: number;
  /** The object's last (up to) 8 bytes: the trailer when `bytesAfterDeflate` is 8. */
  tail: Uint8Array;
  inflatedCrc32: number;
  inflatedBytes: number;
}

/**
 * Null when the object ends with exactly the trailer of its one member and the trailer matches the inflated
 * bytes; else what is wrong. Bytes after the trailer (a second member, or anything else) are refused: Pinot
 * would not read them.
 */
export function checkGzipTrailer(end: GzipMemberEnd): string | null {
  if (end.bytesAfterDeflate < GZIP_TRAILER_BYTES) {
    return `gzip trailer cut short (${end.bytesAfterDeflate} of ${GZIP_TRAILER_BYTES} bytes): the object is truncated`;
  }
  const trailing = trailingBytesProblem(end.bytesAfterDeflate);
  if (trailing !== null) return trailing;
  const view = new DataView(end.tail.buffer, end.tail.byteOffset, end.tail.byteLength);
  const crc = view.getUint32(0, true);
  const size = view.getUint32(4, true);
  if (crc !== end.inflatedCrc32)
    return `gzip CRC mismatch (trailer ${crc}, data ${end.inflatedCrc32}): the object is corrupt`;
  if (size !== end.inflatedBytes % 2 ** 32)
    return `gzip length mismatch (trailer ${size}, data ${end.inflatedBytes % 2 ** 32}): the object is corrupt`;
  return null;
}

/** What is wrong when more than the trailer follows the deflate data, or null. */
export function trailingBytesProblem(bytesAfterDeflate: number): string | null {
  if (bytesAfterDeflate <= GZIP_TRAILER_BYTES) return null;
  const extra = bytesAfterDeflate - GZIP_TRAILER_BYTES;
  return `${extra} bytes follow the first gzip member (a second member or trailing data; Pinot reads only the first member)`;
}

/** The last `size` bytes of a stream, kept without holding the stream. */
export class TailBytes {
  private buffer: Buffer;
  private filled = 0;

  constructor(private readonly size: number) {
    this.buffer = Buffer.alloc(size);
  }

  push(chunk: Uint8Array): void {
    if (chunk.length >= this.size) {
      this.buffer = Buffer.from(chunk.subarray(chunk.length - this.size));
      this.filled = this.size;
      return;
    }
    const keep = Math.min(this.filled, this.size - chunk.length);
    const next = Buffer.alloc(this.size);
    this.buffer.copy(next, 0, this.filled - keep, this.filled);
    next.set(chunk, keep);
    this.buffer = next;
    this.filled = keep + chunk.length;
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.filled);
  }
}
