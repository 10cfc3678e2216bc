import { randomBytes } from 'node:crypto';
import { crc32, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Combine, gzipHeader, gzipTrailer } from '../../src/segments/gzip-member.js';

const KiB = 1024;

describe('crc32Combine: crc(A‖B) from crc(A), crc(B), |B|', () => {
  it.each([
    { a: 0, b: 0 },
    { a: 0, b: 1 },
    { a: 1, b: 0 },
    { a: 1, b: 1 },
    { a: 3, b: 31 },
    { a: 32 * KiB, b: 256 * KiB },
    { a: 256 * KiB, b: 256 * KiB - 1 },
    { a: 100_000, b: 1_000_003 },
  ])('|A| = $a, |B| = $b equals zlib.crc32 of the concatenation', ({ a, b }) => {
    const left = randomBytes(a);
    const right = randomBytes(b);
    expect(crc32Combine(crc32(left), crc32(right), b)).toBe(crc32(Buffer.concat([left, right])));
  });

  it('folds over many blocks in order, like the compressor does', () => {
    const blocks = [5, 70_000, 1, 262_144, 0, 12_345].map((n) => randomBytes(n));
    const combined = blocks.reduce((crc, block) => crc32Combine(crc, crc32(block), block.length), 0);
    expect(combined).toBe(crc32(Buffer.concat(blocks)));
  });

  it.each([
    { n: 2 ** 32, m: 7 },
    { n: 2 ** 32 - 1, m: 2 },
    { n: 3 * 2 ** 32 + 12_345, m: 2 ** 31 },
  ])('lengths beyond 2^32 are exact: shifting by $n then $m = shifting by their sum', ({ n, m }) => {
    // crc(B) = 0 makes the combine a pure shift over |B| bytes, so shifts must add up.
    const crc = crc32(Buffer.from('segment'));
    expect(crc32Combine(crc32Combine(crc, 0, n), 0, m)).toBe(crc32Combine(crc, 0, n + m));
  });

  it('refuses a negative or fractional length', () => {
    expect(() => crc32Combine(0, 0, -1)).toThrow(RangeError);
    expect(() => crc32Combine(0, 0, 1.5)).toThrow(RangeError);
  });
});

describe('gzip member frame', () => {
  it.each([
    { level: 0, xfl: 4 },
    { level: 1, xfl: 4 },
    { level: 6, xfl: 0 },
    { level: 9, xfl: 2 },
  ])('level $level: header 1f 8b 08, no flags, mtime 0, XFL $xfl, OS Unix', ({ level, xfl }) => {
    expect([...gzipHeader(level)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
  });

  it('header + an empty final deflate block + trailer is a valid empty gzip file', () => {
    const member = Buffer.concat([gzipHeader(1), Buffer.from([0x03, 0x00]), gzipTrailer(0, 0)]);
    expect(gunzipSync(member).length).toBe(0);
  });

  it.each([
    { crc: 0xdeadbeef, length: 5, bytes: [0xef, 0xbe, 0xad, 0xde, 5, 0, 0, 0] },
    { crc: 1, length: 2 ** 32 + 5, bytes: [1, 0, 0, 0, 5, 0, 0, 0] },
    { crc: 0xffffffff, length: 2 ** 32 - 1, bytes: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] },
  ])('trailer: CRC $crc and ISIZE = $length mod 2^32, little-endian', ({ crc, length, bytes }) => {
    expect([...gzipTrailer(crc, length)]).toEqual(bytes);
  });
});
