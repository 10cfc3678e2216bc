import { crc32, inflateRawSync } from 'node:zlib';

/**
 * Decodes a gzip file the way commons-compress's default GzipCompressorInputStream does (Pinot's untar): the
 * FIRST member only. The header is parsed here, the deflate stream inflated up to its final block (zlib stops
 * there), then the trailer checked. Throws unless exactly one member covers every byte of the file: whatever a
 * second member would hold is what Pinot would silently lose.
 */
export function decodeFirstMemberOnly(gz: Buffer): Buffer {
  if (gz.length < 18 || gz[0] !== 0x1f || gz[1] !== 0x8b || gz[2] !== 8) throw new Error('not a gzip member');
  if (gz[3] !== 0) throw new Error(`unexpected header flags ${gz[3]}`);
  const body = gz.subarray(10);
  const { buffer: data, engine } = inflateRawSync(body, { info: true }) as unknown as {
    buffer: Buffer;
    engine: { bytesWritten: number };
  };
  const deflateEnd = 10 + engine.bytesWritten;
  const trailer = gz.subarray(deflateEnd, deflateEnd + 8);
  if (trailer.length !== 8) throw new Error('the member has no trailer');
  if (trailer.readUInt32LE(0) !== crc32(data)) throw new Error('trailer CRC-32 does not match the data');
  if (trailer.readUInt32LE(4) !== data.length % 2 ** 32) throw new Error('trailer ISIZE does not match the data');
  const after = gz.length - (deflateEnd + 8);
  if (after !== 0) throw new Error(`${after} bytes follow the first member`);
  return data;
}
