import { crc32, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  checkGzipTrailer,
  MAX_GZIP_HEADER_BYTES,
  parseGzipHeader,
  TailBytes,
  trailingBytesProblem,
} from '../../src/deepstore/gzip-member.js';

const FIXED = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

function header(flags: number, ...rest: number[][]): Buffer {
  const fixed = Buffer.from(FIXED);
  fixed[3] = flags;
  return Buffer.concat([fixed, ...rest.map((r) => Buffer.from(r))]);
}

function withHcrc(bytes: Buffer): Buffer {
  const hcrc = Buffer.alloc(2);
  hcrc.writeUInt16LE(crc32(bytes) & 0xffff, 0);
  return Buffer.concat([bytes, hcrc]);
}

describe('parseGzipHeader', () => {
  it.each([
    ["zlib's own header", gzipSync(Buffer.from('x')), { kind: 'complete', length: 10 }],
    ['the fixed part alone', Buffer.from(FIXED), { kind: 'complete', length: 10 }],
    ['FEXTRA', header(0x04, [3, 0, 1, 2, 3]), { kind: 'complete', length: 15 }],
    ['FNAME', header(0x08, [...Buffer.from('seg.tar'), 0]), { kind: 'complete', length: 18 }],
    ['FCOMMENT', header(0x10, [0x41, 0]), { kind: 'complete', length: 12 }],
    ['FNAME + FCOMMENT', header(0x18, [0x61, 0, 0x62, 0]), { kind: 'complete', length: 14 }],
    ['FHCRC', withHcrc(header(0x02)), { kind: 'complete', length: 12 }],
    ['every flag', withHcrc(header(0x1e, [2, 0, 9, 9], [0x61, 0], [0x62, 0])), { kind: 'complete', length: 20 }],
    ['nothing yet', Buffer.alloc(0), { kind: 'incomplete' }],
    ['the magic alone', Buffer.from([0x1f, 0x8b]), { kind: 'incomplete' }],
    ['a file name without its end', header(0x08, [0x61, 0x62]), { kind: 'incomplete' }],
    ['an extra field longer than what arrived', header(0x04, [10, 0, 1]), { kind: 'incomplete' }],
    ['the header CRC not arrived', header(0x02, [1]), { kind: 'incomplete' }],
  ])('%s → %j', (_what, bytes, expected) => {
    expect(parseGzipHeader(bytes)).toEqual(expected);
  });

  it.each([
    ['plain text', Buffer.from('hello'), /not a gzip file \(starts with 68 65 6c 6c\)/],
    ['one wrong byte', Buffer.from([0x1f]), null],
    ['a wrong second byte', Buffer.from([0x1f, 0x8c]), /not a gzip file/],
    ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), /compressed with zstd, which this sidecar cannot inflate/],
    ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18, 0]), /compressed with lz4/],
    ['a method other than deflate', Buffer.from([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0]), /method 7 is not deflate/],
    ['reserved flags', header(0x80), /reserved flags set \(0x80\)/],
    ['a wrong header CRC', Buffer.concat([header(0x02), Buffer.from([0, 0])]), /header CRC mismatch/],
    [
      'a file name that never ends',
      header(0x08, new Array(MAX_GZIP_HEADER_BYTES).fill(0x61)),
      /longer than 65536 bytes/,
    ],
  ])('%s is invalid', (_what, bytes, reason) => {
    const parsed = parseGzipHeader(bytes);
    if (reason === null) expect(parsed).toEqual({ kind: 'incomplete' });
    else expect(parsed).toEqual({ kind: 'invalid', reason: expect.stringMatching(reason) });
  });
});

describe('checkGzipTrailer', () => {
  const data = Buffer.from('inflated bytes');
  const trailer = (crc: number, size: number): Uint8Array => {
    const out = Buffer.alloc(8);
    out.writeUInt32LE(crc, 0);
    out.writeUInt32LE(size, 4);
    return out;
  };
  const good = {
    bytesAfterDeflate: 8,
    tail: trailer(crc32(data), data.length),
    inflatedCrc32: crc32(data),
    inflatedBytes: data.length,
  };

  it.each([
    ['the trailer of the data', good, null],
    [
      'a length past 4 GiB (the trailer holds it mod 2^32)',
      { ...good, tail: trailer(crc32(data), 5), inflatedBytes: 2 ** 32 + 5 },
      null,
    ],
    ['a cut trailer', { ...good, bytesAfterDeflate: 3 }, /trailer cut short \(3 of 8 bytes\)/],
    ['bytes after the trailer', { ...good, bytesAfterDeflate: 28 }, /^20 bytes follow the first gzip member/],
    ['another CRC', { ...good, tail: trailer(1, data.length) }, /gzip CRC mismatch/],
    ['another length', { ...good, tail: trailer(crc32(data), 1) }, /gzip length mismatch/],
  ])('%s', (_what, end, expected) => {
    const problem = checkGzipTrailer(end);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(expected);
  });

  it('trailingBytesProblem is null up to the trailer', () => {
    expect(trailingBytesProblem(0)).toBeNull();
    expect(trailingBytesProblem(8)).toBeNull();
    expect(trailingBytesProblem(9)).toMatch(/^1 bytes follow/);
  });
});

describe('TailBytes', () => {
  it.each([
    [[[1, 2, 3]], [1, 2, 3]],
    [[[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], [3, 4, 5, 6, 7, 8, 9, 10]],
    [
      [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9, 10],
      ],
      [3, 4, 5, 6, 7, 8, 9, 10],
    ],
    [
      [[1, 2, 3, 4, 5, 6, 7, 8, 9], [10]],
      [3, 4, 5, 6, 7, 8, 9, 10],
    ],
    [[[], [1], []], [1]],
  ])('%j → %j', (chunks, expected) => {
    const tail = new TailBytes(8);
    for (const chunk of chunks) tail.push(Uint8Array.from(chunk));
    expect([...tail.bytes()]).toEqual(expected);
  });
});
