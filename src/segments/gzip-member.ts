// The frame of one gzip member (RFC 1952) around a raw deflate stream that was compressed in pieces:
// the 10-byte header, the 8-byte trailer, and the CRC-32 arithmetic that lets each piece's checksum be
// computed on its own (in parallel) and combined in order. IO-free; used by parallel-gzip.ts.

/** CRC-32 (IEEE 802.3) polynomial, bit-reversed, as gzip and zlib use it. */
const CRC32_POLY = 0xedb88320;
/** x^0 in the bit-reversed representation: the multiplicative identity. */
const X0 = 0x80000000;

/** a·b modulo the CRC-32 polynomial, both in the bit-reversed representation CRC registers use. */
function multiplyModPoly(a: number, b: number): number {
  let product = 0;
  let factor = b >>> 0;
  for (let bit = X0; bit !== 0; bit >>>= 1) {
    if ((a & bit) !== 0) product ^= factor;
    factor = (factor & 1) !== 0 ? (factor >>> 1) ^ CRC32_POLY : factor >>> 1;
  }
  return product >>> 0;
}

/**
 * X_POW_2K[k] = x^(2^k) mod P (square-and-multiply). 32 entries are all there are: the order of x modulo P
 * divides 2^32 - 1, so x^(2^32) = x and the sequence repeats with period 32.
 */
const X_POW_2K: readonly number[] = (() => {
  const table = [X0 >>> 1]; // x^1
  for (let k = 1; k < 32; k++) table.push(multiplyModPoly(table[k - 1]!, table[k - 1]!));
  return table;
})();

/** x^(8·bytes) mod P: the factor that shifts a CRC register over `bytes` zero bytes. */
function shiftFactor(bytes: number): number {
  let result = X0;
  let n = bytes;
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) result = multiplyModPoly(X_POW_2K[k % 32]!, result);
  }
  return result;
}

/**
 * The CRC-32 of A‖B from crc(A), crc(B) and the length of B, without reading A or B again: how each block
 * can be checksummed by the worker that compresses it, yet the gzip trailer covers the whole tar. This is
 * zlib's `crc32_combine` (which Node does not expose): a CRC is linear over GF(2), so crc(A‖B) =
 * crc(A)·x^(8·|B|) mod P xor crc(B).
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (!Number.isSafeInteger(lengthB) || lengthB < 0) throw new RangeError(`crc32Combine: bad length ${lengthB}`);
  return (multiplyModPoly(shiftFactor(lengthB), crcA >>> 0) ^ crcB) >>> 0;
}

/**
 * The 10-byte member header: magic, CM=8 (deflate), no flags (no name, no extra field: the archive has no
 * file name, exactly like zlib's gzip stream), MTIME 0, XFL by zlib's rule (2 = level 9, 4 = fastest
 * levels 0-1, else 0), OS 3 (Unix).
 */
export function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
}

/** The 8-byte member trailer: CRC-32 of the uncompressed data, then ISIZE (its length mod 2^32), little-endian. */
export function gzipTrailer(crc: number, length: number): Buffer {
  const trailer = Buffer.allocUnsafe(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return trailer;
}
