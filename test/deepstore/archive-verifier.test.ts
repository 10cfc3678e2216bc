import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { verifyArchiveStream } from '../../src/deepstore/archive-verifier.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../helpers/fixtures.js';
import { rawTar } from '../helpers/tar-entries.js';
import { builtSegmentArchive, creationMeta, MiB, PatternSource } from './support.js';

/** The bytes as a stream of `chunkSize` chunks (a file read stream, an HTTP body). */
function chunked(bytes: Buffer, chunkSize = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize));
  return Readable.from(chunks);
}

const CRC = '3757555477';
const META = creationMeta(3757555477n);

/** seg/, seg/creation.meta, seg/columns.psf: a tar with its end-of-archive blocks (the same bytes every call). */
const SEGMENT_TAR = rawTar([
  { path: 'seg/' },
  { path: 'seg/creation.meta', body: META },
  { path: 'seg/columns.psf', body: randomBytes(100_000) },
]);
const segmentTar = (): Buffer => SEGMENT_TAR;

describe('verifyArchiveStream: complete archives', () => {
  it('verifies a segment built like Pinot builds one (v1), reporting the bytes read', async () => {
    const { archive, crc } = await builtSegmentArchive({ name: 'seg_v1', payloadBytes: 300_000 });
    expect(await verifyArchiveStream(chunked(archive), crc)).toEqual({ kind: 'verified', bytes: archive.length });
  });

  it('verifies a v3 segment (creation.meta under v3/)', async () => {
    const { archive, crc } = await builtSegmentArchive({ name: 'seg_v3', layout: 'v3', payloadBytes: 100_000 });
    expect(await verifyArchiveStream(chunked(archive, 1000), crc)).toEqual({ kind: 'verified', bytes: archive.length });
  });

  it('verifies whatever the chunking, down to single bytes around the header and trailer', async () => {
    const archive = gzipSync(segmentTar());
    for (const size of [1, 7, 9, 10, 11, 512, archive.length - 8, archive.length - 1, archive.length]) {
      expect(await verifyArchiveStream(chunked(archive, size), CRC), `chunks of ${size}`).toMatchObject({
        kind: 'verified',
      });
    }
  });

  it('verifies a gzip header with every optional field (extra, name, comment, header CRC)', async () => {
    const archive = withFullHeader(gzipSync(segmentTar()));
    expect(await verifyArchiveStream(chunked(archive, 5), CRC)).toMatchObject({ kind: 'verified' });
  });

  it('reads a large archive with bounded memory', async () => {
    const { archive, crc } = await builtSegmentArchive({
      name: 'seg_big',
      payloadBytes: 24 * MiB,
      payloadKind: 'mixed',
    });
    const before = process.memoryUsage().rss;
    let peak = before;
    const source = chunked(archive);
    source.on('data', () => {
      peak = Math.max(peak, process.memoryUsage().rss);
    });
    expect(await verifyArchiveStream(source, crc)).toMatchObject({ kind: 'verified' });
    // The archive itself is already in memory; the read must not hold a second copy of it (or of the tar).
    expect(peak - before).toBeLessThan(12 * MiB);
  });
});

describe(`verifyArchiveStream on Apache Pinot's own archives${fixturesSkipNote}`, () => {
  it.skipIf(!hasPinotFixtures).each([
    ['legacyRawInverted_OFFLINE_0.tar.gz', '1299627447'], // commons-compress, star times in the prefix field
    ['legacyRawInverted_v3_OFFLINE_0.tar.gz', '1299627447'], // system tar, gzip header with mtime
    ['paddingNull.tar.gz', '2641412145'],
    ['paddingOld.tar.gz', '1317909654'],
    ['paddingPercent.tar.gz', '3757555477'],
  ])('%s is verified', async (name, crc) => {
    const bytes = await readFile(pinotFixture(name));
    expect(await verifyArchiveStream(createReadStream(pinotFixture(name)), crc)).toEqual({
      kind: 'verified',
      bytes: bytes.length,
    });
  });

  it.skipIf(!hasPinotFixtures)('the first 1,000 bytes of a Pinot archive are not verified', async () => {
    const bytes = await readFile(pinotFixture('legacyRawInverted_OFFLINE_0.tar.gz'));
    expect(await verifyArchiveStream(chunked(bytes.subarray(0, 1000)), '1299627447')).toMatchObject({
      kind: 'unverified',
      reason: expect.stringMatching(/truncated/),
    });
  });
});

describe('verifyArchiveStream: what is not a complete archive of the segment', () => {
  const complete = (): Buffer => gzipSync(segmentTar());
  const cases: Array<[string, () => Buffer | Promise<Buffer>, RegExp]> = [
    ['an empty object', () => Buffer.alloc(0), /empty/],
    ['a garbage file', () => randomBytes(50_000), /not a gzip file/],
    ['text', () => Buffer.from('<Error><Code>NoSuchKey</Code></Error>'), /not a gzip file \(starts with 3c 45 72 72\)/],
    [
      'a zstd frame (Pinot can write zstd; Node 20 cannot inflate it)',
      () => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]),
      /zstd/,
    ],
    ['only a gzip header', () => complete().subarray(0, 10), /truncated/],
    ['shorter than a gzip header', () => complete().subarray(0, 6), /shorter than a gzip header/],
    ['the archive cut in its deflate data', () => complete().subarray(0, 5000), /cut short: the object is truncated/],
    [
      'the archive without its last trailer byte',
      () => complete().subarray(0, complete().length - 1),
      /trailer cut short/,
    ],
    ['corrupt deflate data', () => flipByte(complete(), 40), /gzip data corrupt|CRC mismatch|tar:/],
    ['a wrong trailer CRC', () => flipByte(complete(), complete().length - 6), /gzip CRC mismatch/],
    ['a wrong trailer length', () => flipByte(complete(), complete().length - 2), /gzip length mismatch/],
    ['a header CRC that does not match', () => flipByte(withFullHeader(complete()), 20), /header CRC mismatch/],
    ['reserved header flags', () => setByte(complete(), 3, 0x20), /reserved flags/],
    [
      'a tar cut at an entry boundary, re-gzipped as a valid gzip (no end-of-archive blocks)',
      () => gzipSync(segmentTar().subarray(0, segmentTar().length - 1024)),
      /no end-of-archive marker/,
    ],
    [
      'the same tar split into two gzip members (Pinot would read only the first half)',
      () => {
        const tar = segmentTar();
        return Buffer.concat([gzipSync(tar.subarray(0, 2048)), gzipSync(tar.subarray(2048))]);
      },
      /follow the first gzip member/,
    ],
    [
      'trailing zeros after the member',
      () => Buffer.concat([complete(), Buffer.alloc(16)]),
      /16 bytes follow the first gzip member/,
    ],
    ['a gzip of a gzip', () => gzipSync(complete()), /holds gzip data, not a tar/],
    ['a gzip of something that is not a tar', () => gzipSync(Buffer.alloc(4096, 'x')), /tar:/],
    [
      'an archive without creation.meta',
      () => gzipSync(rawTar([{ path: 'seg/' }, { path: 'seg/metadata.properties', body: 'a=b\n' }])),
      /no creation.meta in seg\//,
    ],
    [
      'an archive of another segment (another CRC)',
      () => gzipSync(rawTar([{ path: 'seg/' }, { path: 'seg/creation.meta', body: creationMeta(42n) }])),
      /creation.meta holds CRC 42, expected 3757555477/,
    ],
    [
      'a v1 and a v3 creation.meta that disagree',
      () =>
        gzipSync(
          rawTar([
            { path: 'seg/' },
            { path: 'seg/creation.meta', body: META },
            { path: 'seg/v3/', type: 'Directory' },
            { path: 'seg/v3/creation.meta', body: creationMeta(7n) },
          ]),
        ),
      /holds CRC 7/,
    ],
    [
      'a file as the first entry (Pinot moves the first entry into place)',
      () => gzipSync(rawTar([{ path: 'seg/creation.meta', body: META }])),
      /first archive entry \(File "seg\/creation.meta"\) is not the segment folder/,
    ],
    [
      '"./" as the first entry',
      () => gzipSync(rawTar([{ path: './' }, { path: './seg/creation.meta', body: META }])),
      /is not the segment folder/,
    ],
    [
      'creation.meta outside the segment folder',
      () => gzipSync(rawTar([{ path: 'seg/' }, { path: 'other/creation.meta', body: META }])),
      /no creation.meta/,
    ],
    [
      'a creation.meta too short for a CRC',
      () => gzipSync(rawTar([{ path: 'seg/' }, { path: 'seg/creation.meta', body: Buffer.alloc(4) }])),
      /too short to hold a CRC/,
    ],
  ];

  it.each(cases)('%s', async (_what, make, reason) => {
    const bytes = await make();
    const verdict = await verifyArchiveStream(chunked(bytes, 4096), CRC);
    expect(verdict).toEqual({ kind: 'unverified', reason: expect.stringMatching(reason), bytes: expect.any(Number) });
  });

  it('the first 120,000 bytes of a real segment archive are unverified', async () => {
    const { archive, crc } = await builtSegmentArchive({ name: 'seg_cut', payloadBytes: 400_000 });
    expect(archive.length).toBeGreaterThan(120_000);
    const verdict = await verifyArchiveStream(chunked(archive.subarray(0, 120_000)), crc);
    expect(verdict).toEqual({
      kind: 'unverified',
      reason: 'gzip data cut short: the object is truncated',
      bytes: 120_000,
    });
  });

  it('stops reading at a second member instead of inflating it', async () => {
    const first = gzipSync(segmentTar());
    const second = gzipSync(randomBytes(8 * MiB));
    let pulled = 0;
    const source = chunked(Buffer.concat([first, second]));
    source.on('data', (chunk: Buffer) => (pulled += chunk.length));
    expect(await verifyArchiveStream(source, CRC)).toMatchObject({
      kind: 'unverified',
      reason: expect.stringMatching(/follow the first gzip member/),
    });
    expect(pulled).toBeLessThan(first.length + 2 * MiB); // of 8 MiB more
    expect(source.destroyed).toBe(true);
  });

  it('checks the gzip member, not the tar inside only: the plain tar is refused', async () => {
    expect(await verifyArchiveStream(chunked(segmentTar()), CRC)).toMatchObject({
      kind: 'unverified',
      reason: expect.stringMatching(/not a gzip file/),
    });
  });
});

describe('verifyArchiveStream: failures that are not about the bytes', () => {
  it('rejects with the source error (an I/O error is not "unverified")', async () => {
    const failure = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    const { archive } = await builtSegmentArchive({ name: 'seg_eio', payloadBytes: 200_000 });
    const source = Readable.from(
      (async function* () {
        yield archive.subarray(0, 50_000);
        throw failure;
      })(),
    );
    await expect(verifyArchiveStream(source, CRC)).rejects.toBe(failure);
  });

  it('rejects with the signal reason when aborted, and destroys the source', async () => {
    const source = new PatternSource(64 * MiB, { stallAfter: 1 * MiB });
    const controller = new AbortController();
    const verifying = verifyArchiveStream(source, CRC, { signal: controller.signal });
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(verifying).rejects.toBe(reason);
    expect(source.destroyed).toBe(true);
    await expect(
      verifyArchiveStream(Readable.from([Buffer.alloc(1)]), CRC, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
  });
});

function flipByte(bytes: Buffer, at: number): Buffer {
  const out = Buffer.from(bytes);
  out[at] = out[at]! ^ 0xff;
  return out;
}

function setByte(bytes: Buffer, at: number, value: number): Buffer {
  const out = Buffer.from(bytes);
  out[at] = out[at]! | value;
  return out;
}

/** The same member with a header carrying FEXTRA, FNAME, FCOMMENT and FHCRC (zlib accepts all four). */
function withFullHeader(member: Buffer): Buffer {
  const fixed = Buffer.from(member.subarray(0, 10));
  fixed[3] = 0x02 | 0x04 | 0x08 | 0x10;
  const extra = Buffer.from([6, 0, 0x41, 0x42, 2, 0, 9, 9]); // XLEN (little-endian) 6, then one 2-byte subfield
  const header = Buffer.concat([fixed, extra, Buffer.from('seg.tar\0'), Buffer.from('a comment\0')]);
  const hcrc = Buffer.alloc(2);
  hcrc.writeUInt16LE(crc32(header) & 0xffff, 0);
  const rebuilt = Buffer.concat([header, hcrc, member.subarray(10)]);
  gunzipSync(rebuilt); // zlib itself accepts the header
  return rebuilt;
}
