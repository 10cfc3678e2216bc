import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readArchiveCrc } from '../../src/deepstore/archive-crc.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../helpers/fixtures.js';
import { creationMeta, MiB, PatternSource, segmentArchive } from './support.js';

describe('readArchiveCrc', () => {
  it('reads the CRC of a v1-layout archive', async () => {
    const archive = await segmentArchive('seg_1', [
      { name: 'metadata.properties', data: Buffer.from('segment.name = seg_1\n') },
      { name: 'creation.meta', data: creationMeta(3757555477n) },
    ]);
    expect(await readArchiveCrc(Readable.from([archive]))).toBe('3757555477');
  });

  it('reads the CRC of a v3-layout archive', async () => {
    const archive = await segmentArchive('seg_v3', [
      { name: 'v3/columns.psf', data: Buffer.alloc(4096, 1) },
      { name: 'v3/creation.meta', data: creationMeta(12345n, 1n, 678n) },
    ]);
    expect(await readArchiveCrc(Readable.from([archive]))).toBe('12345');
  });

  it('stops reading the source once creation.meta is found', async () => {
    // creation.meta first, then 8 MiB of incompressible data: only the start of the archive should be read.
    const big = await segmentArchive('seg_big', [
      { name: 'creation.meta', data: creationMeta(7n) },
      { name: 'columns.psf', data: randomBytes(8 * MiB) },
    ]);
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        for (let at = 0; at < big.length; at += 64 * 1024) {
          const chunk = big.subarray(at, at + 64 * 1024);
          pulled += chunk.length;
          yield chunk;
        }
      })(),
    );
    expect(await readArchiveCrc(source)).toBe('7');
    expect(pulled).toBeLessThan(big.length / 4);
    expect(source.destroyed).toBe(true);
  });

  it.each([
    ['plain text', Buffer.from('not an archive at all\n')],
    ['gzip of something that is not a tar', gzipSync(Buffer.alloc(4096, 'x'))],
    ['an empty file', Buffer.alloc(0)],
    ['a zstd frame (Pinot may use zstd; Node 20 cannot inflate it)', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0])],
  ])('is null for %s', async (_what, bytes) => {
    expect(await readArchiveCrc(Readable.from([bytes]))).toBeNull();
  });

  it('is null for an archive without creation.meta', async () => {
    const archive = await segmentArchive('seg_x', [{ name: 'metadata.properties', data: Buffer.from('a=b\n') }]);
    expect(await readArchiveCrc(Readable.from([archive]))).toBeNull();
  });

  it('is null for an archive cut before creation.meta', async () => {
    const archive = await segmentArchive('seg_cut', [
      { name: 'columns.psf', data: randomBytes(256 * 1024) },
      { name: 'creation.meta', data: creationMeta(99n) },
    ]);
    expect(await readArchiveCrc(Readable.from([archive.subarray(0, archive.length / 2)]))).toBeNull();
  });

  it('rejects with the source error when the source fails (an I/O error is not "no CRC")', async () => {
    const failure = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    const source = new PatternSource(10 * MiB, { failAfter: 0, failWith: failure });
    await expect(readArchiveCrc(source)).rejects.toBe(failure);
  });
});

describe(`readArchiveCrc on Apache Pinot's own archives${fixturesSkipNote}`, () => {
  it.skipIf(!hasPinotFixtures).each([
    // commons-compress tar with star atime/ctime in the prefix field; creation.meta second
    ['legacyRawInverted_OFFLINE_0.tar.gz', '1299627447'],
    // v3 layout, re-tarred by a system tar
    ['legacyRawInverted_v3_OFFLINE_0.tar.gz', '1299627447'],
    // GNU tar, creation.meta fourth, 16-byte creation.meta
    ['paddingNull.tar.gz', '2641412145'],
    ['paddingOld.tar.gz', '1317909654'],
    ['paddingPercent.tar.gz', '3757555477'],
  ])('%s → %s', async (name, crc) => {
    expect(await readArchiveCrc(createReadStream(pinotFixture(name)))).toBe(crc);
  });
});
