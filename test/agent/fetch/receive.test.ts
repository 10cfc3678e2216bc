import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { constants as zlibConstants, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ArchiveLayoutError,
  CorruptArchiveError,
  CrcMismatchError,
  LengthMismatchError,
  SourceError,
  UnsafeEntryError,
  UnsupportedArchiveError,
} from '../../../src/agent/fetch/errors.js';
import { receiveArchive } from '../../../src/agent/fetch/receive.js';
import { verifyExtractedSegment } from '../../../src/agent/fetch/verify.js';
import { SegmentStore, streamSegmentArchive } from '../../../src/segments/index.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../../helpers/fixtures.js';
import { recordProcessErrors } from '../../helpers/process-errors.js';
import { extractTarGz } from '../../helpers/raw-tar.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';
import { rawTar, rawTarGz } from '../../helpers/tar-entries.js';
import { digestTree } from '../../helpers/tree.js';

/**
 * One source's bytes into a staging folder, on a real disk: the archive the sidecar itself serves extracts to
 * the same tree; every hostile or broken archive fails with its own error and writes nothing outside.
 */
const TABLE = 'rcv_REALTIME';
/** Where an absolute entry would land if it were not refused (or, stripped of its `/`, below the staging folder). */
const ABSOLUTE_TARGET = path.join(tmpdir(), `fetch-receive-absolute-${process.pid}.txt`);
const SEG = 'rcv__0__1__20240101T0000Z';

let root: string;
let built: BuiltSegment;
let archive: Buffer;
let dir: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fetch-receive-'));
  built = await buildSegment(path.join(root, 'data', TABLE), {
    name: SEG,
    layout: 'v3',
    payloadBytes: 3 * 1024 * 1024,
    payloadKind: 'mixed',
  });
  const resolved = await new SegmentStore(path.join(root, 'data')).resolve(TABLE, SEG);
  archive = await buffer(streamSegmentArchive(resolved, { gzipLevel: 1 }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
beforeEach(async () => {
  // <root>/out-N/stage/: an entry escaping with ../../.. would land in <root>/out-N or <root>
  counter += 1;
  dir = path.join(root, `out-${counter}`, 'stage');
  await mkdir(dir, { recursive: true });
});

/** Stream `bytes` in small chunks, as a socket delivers them. */
function chunked(bytes: Buffer, size = 16 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}

async function receive(bytes: Buffer, expectedBytes: number | null = bytes.length): Promise<{ bytes: number }> {
  return receiveArchive(chunked(bytes), { expectedBytes, dir, segment: SEG });
}

async function failure(bytes: Buffer, expectedBytes: number | null = bytes.length): Promise<unknown> {
  return receive(bytes, expectedBytes).then(
    () => {
      throw new Error('expected the archive to be refused');
    },
    (err: unknown) => err,
  );
}

/** A tar whose third header fails its checksum, after two entries node-tar accepted. */
function damagedThirdHeader(): Buffer {
  const tar = rawTar([{ path: `${SEG}/` }, { path: `${SEG}/a` }, { path: `${SEG}/b` }]);
  tar.writeUInt8(tar.readUInt8(2 * 512 + 1) ^ 0xff, 2 * 512 + 1);
  return tar;
}

/** Everything under <root> that is not a test's own folder or the source data: what an escape would create. */
async function strayFiles(): Promise<string[]> {
  const top = (await readdir(root)).filter((n) => n !== 'data' && !/^out-\d+$/.test(n));
  const outs = (await readdir(root)).filter((n) => /^out-\d+$/.test(n));
  const besideStage = (
    await Promise.all(outs.map(async (o) => (await readdir(path.join(root, o))).filter((n) => n !== 'stage')))
  ).flat();
  return [...top, ...besideStage];
}

describe('receiveArchive', () => {
  it("extracts the sidecar's own archive to the identical tree and verifies its CRC", async () => {
    expect(await receive(archive)).toEqual({ bytes: archive.length });
    expect(await digestTree(path.join(dir, SEG))).toEqual(await digestTree(built.dir));
    expect(
      await verifyExtractedSegment(path.join(dir, SEG), { crc: String(built.crc), dataCrc: null, useDataCrc: false }),
    ).toEqual({
      ok: true,
      crc: String(built.crc),
      via: 'crc',
    });
  });

  it('accepts a chunked answer (no announced length)', async () => {
    expect(await receive(archive, null)).toEqual({ bytes: archive.length });
  });

  it('a CRC that disagrees with ZooKeeper is a CrcMismatchError', async () => {
    await receive(archive);
    const err = await verifyExtractedSegment(path.join(dir, SEG), {
      crc: String(built.crc + 1),
      dataCrc: null,
      useDataCrc: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrcMismatchError);
    expect(err).toMatchObject({ found: String(built.crc), expected: String(built.crc + 1) });
  });

  it('an archive without creation.meta is not a segment', async () => {
    await receive(rawTarGz([{ path: `${SEG}/` }, { path: `${SEG}/metadata.properties`, body: 'x' }]));
    await expect(
      verifyExtractedSegment(path.join(dir, SEG), { crc: '1', dataCrc: null, useDataCrc: false }),
    ).rejects.toBeInstanceOf(ArchiveLayoutError);
  });

  it.each([
    [
      'fewer bytes than announced',
      () => archive.subarray(0, archive.length - 1000),
      () => archive.length,
      LengthMismatchError,
      /received \d+ bytes, but \d+ were announced/,
    ],
    ['more bytes than announced', () => archive, () => archive.length - 10, LengthMismatchError, /were announced/],
    [
      'a truncated gzip stream',
      () => archive.subarray(0, Math.floor(archive.length / 2)),
      () => null,
      CorruptArchiveError,
      /gzip: unexpected end of file: the archive is truncated/,
    ],
    [
      'a damaged gzip stream',
      () => Buffer.concat([archive.subarray(0, 20), Buffer.alloc(4096, 0x55)]),
      () => null,
      CorruptArchiveError,
      /^gzip: /,
    ],
    [
      'a tar cut inside an entry, well gzipped',
      () => gzipSync(rawTar([{ path: `${SEG}/` }, { path: `${SEG}/f`, body: 'y'.repeat(5000) }]).subarray(0, 1536)),
      () => null,
      CorruptArchiveError,
      /^tar: .*Truncated/,
    ],
    [
      'zstd',
      () => Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(600)]),
      () => null,
      UnsupportedArchiveError,
      /zstd-compressed.*Node 20 has no zstd decoder/,
    ],
    [
      'lz4',
      () => Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), Buffer.alloc(600)]),
      () => null,
      UnsupportedArchiveError,
      /lz4/,
    ],
    [
      'an uncompressed tar',
      () => rawTar([{ path: `${SEG}/` }]),
      () => null,
      UnsupportedArchiveError,
      /uncompressed tar/,
    ],
    [
      'an HTML error page with status 200',
      () => Buffer.from('<html>oops</html>'),
      () => null,
      UnsupportedArchiveError,
      /not a segment archive \(first bytes 3c68746d/,
    ],
    ['an empty answer', () => Buffer.alloc(0), () => 0, UnsupportedArchiveError, /empty/],
    ['a gzipped tar without entries', () => gzipSync(Buffer.alloc(1024)), () => null, CorruptArchiveError, /^tar: /],
    [
      'a gzip inside the gzip',
      () => gzipSync(rawTarGz([{ path: `${SEG}/` }])),
      () => null,
      CorruptArchiveError,
      /compressed twice \(gzip inside the gzip/,
    ],
    [
      'a damaged gzip inside the gzip',
      () => gzipSync(Buffer.concat([rawTarGz([{ path: `${SEG}/` }]).subarray(0, 12), Buffer.alloc(600, 0x55)])),
      () => null,
      CorruptArchiveError,
      /compressed twice/,
    ],
    [
      'a damaged header after entries node-tar has queued',
      () => gzipSync(damagedThirdHeader()),
      () => null,
      CorruptArchiveError,
      /^tar: .*checksum failure/,
    ],
  ])('%s', async (_what, bytes, expected, type, message) => {
    const err = await failure(bytes(), expected());
    expect(err).toBeInstanceOf(type);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as Error).message).toMatch(message);
  });

  it.each([
    [
      'a file before the segment directory',
      [{ path: `${SEG}/creation.meta`, body: 'x' }],
      ArchiveLayoutError,
      /first entry is .*not the segment directory/,
    ],
    [
      'another top-level directory first',
      [{ path: 'other/' }, { path: 'other/f', body: 'x' }],
      ArchiveLayoutError,
      /first entry is "other\/"/,
    ],
    [
      'an entry beside the segment directory',
      [{ path: `${SEG}/` }, { path: 'beside.txt', body: 'x' }],
      ArchiveLayoutError,
      /outside the segment directory/,
    ],
    [
      '`../` climbing out of the output folder',
      [{ path: `${SEG}/` }, { path: `${SEG}/../../../escaped.txt`, body: 'x' }],
      UnsafeEntryError,
      /contains '\.\.'/,
    ],
    [
      'an absolute path',
      [{ path: `${SEG}/` }, { path: ABSOLUTE_TARGET, body: 'x' }],
      UnsafeEntryError,
      /absolute path/,
    ],
    [
      'a symlink pointing out',
      [
        { path: `${SEG}/` },
        { path: `${SEG}/v3`, type: 'SymbolicLink' as const, linkpath: '../../..' },
        { path: `${SEG}/v3/escaped.txt`, body: 'x' },
      ],
      UnsafeEntryError,
      /symbolic link/,
    ],
    [
      'a hard link to a file outside',
      [{ path: `${SEG}/` }, { path: `${SEG}/passwd`, type: 'Link' as const, linkpath: '/etc/passwd' }],
      UnsafeEntryError,
      /hard link/,
    ],
    [
      'a FIFO',
      [{ path: `${SEG}/` }, { path: `${SEG}/pipe`, type: 'FIFO' as const }],
      UnsafeEntryError,
      /entry type FIFO/,
    ],
  ])('refuses %s, writing nothing outside', async (_what, entries, type, message) => {
    const err = await failure(rawTarGz(entries));
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toMatch(message);
    expect(await strayFiles()).toEqual([]);
    expect(existsSync(ABSOLUTE_TARGET)).toBe(false);
    // nothing after the refused entry was written either
    expect(
      (await readdir(dir, { recursive: true })).filter((n) => /escaped\.txt|passwd|pipe|absolute/.test(n)),
    ).toEqual([]);
  });

  it('a refused entry rejects only once node-tar has settled: every entry before it on disk, none after, no late error', async () => {
    // Entries parsed from the same chunk as the refused one are still queued in node-tar, each waiting for its
    // mkdir/open/close: the rejection must wait for them, or they write (and fail) into a folder already removed.
    const files = Array.from({ length: 30 }, (_, i) => `f-${String(i).padStart(2, '0')}`);
    const hostile = rawTarGz([
      { path: `${SEG}/` },
      ...files.map((f) => ({ path: `${SEG}/${f}` })),
      { path: `${SEG}/../../escaped.txt`, body: 'x' },
      ...files.map((f) => ({ path: `${SEG}/after-${f}` })),
    ]);
    const recorder = recordProcessErrors();
    try {
      for (let round = 0; round < 5; round++) {
        const err = await failure(hostile);
        expect(err).toBeInstanceOf(UnsafeEntryError);
        expect((await readdir(path.join(dir, SEG))).sort()).toEqual(files);
        await rm(dir, { recursive: true });
        await mkdir(dir);
      }
      expect(recorder.errors).toEqual([]);
    } finally {
      recorder.stop();
    }
    expect(await strayFiles()).toEqual([]);
  });

  it('a staging folder gone before the extraction starts fails it, without waiting forever', async () => {
    // node-tar's queue stalls for good on a missing cwd (CwdError) and never emits 'close'.
    const err = await receiveArchive(chunked(archive), {
      expectedBytes: archive.length,
      dir: path.join(dir, 'removed'),
      segment: SEG,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as Error).message).toMatch(/^writing the extracted files failed: ENOENT: Cannot cd into/);
  });

  it('a transfer cut while node-tar still has entries to write rejects with its reason only once they are on disk', async () => {
    // One gunzip output chunk (31 headers of 512 bytes) queues 30 files in node-tar at once; the connection then
    // breaks while they wait for their mkdir/open/close. pipeline() rejects at once: receiveArchive must not.
    const files = Array.from({ length: 30 }, (_, i) => `f-${String(i).padStart(2, '0')}`);
    const tarWithoutEnd = rawTar([{ path: `${SEG}/` }, ...files.map((f) => ({ path: `${SEG}/${f}` }))]).subarray(
      0,
      -1024,
    );
    const flushed = gzipSync(tarWithoutEnd, { finishFlush: zlibConstants.Z_SYNC_FLUSH }); // all of it, no end
    const recorder = recordProcessErrors();
    try {
      for (let round = 0; round < 5; round++) {
        const segDir = path.join(dir, SEG);
        async function* cutOnceExtracting(): AsyncGenerator<Buffer> {
          yield flushed;
          // node-tar has parsed the chunk (the queue is full) once it creates the segment directory.
          while (!existsSync(segDir)) await new Promise((resolve) => setImmediate(resolve));
          throw new Error('read ECONNRESET');
        }
        const err = await receiveArchive(Readable.from(cutOnceExtracting()), {
          expectedBytes: flushed.length + 1000,
          dir,
          segment: SEG,
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LengthMismatchError);
        expect((await readdir(segDir)).sort()).toEqual(files);
        await rm(dir, { recursive: true });
        await mkdir(dir);
      }
      expect(recorder.errors).toEqual([]);
    } finally {
      recorder.stop();
    }
  });
});

describe(`receiveArchive with Apache Pinot's own archives${fixturesSkipNote}`, () => {
  it.skipIf(!hasPinotFixtures).each([
    ['legacyRawInverted_OFFLINE_0.tar.gz', 'legacyRawInverted_OFFLINE_0', '1299627447'],
    ['legacyRawInverted_v3_OFFLINE_0.tar.gz', 'legacyRawInverted_OFFLINE_0', '1299627447'],
    ['paddingPercent.tar.gz', 'paddingPercent', '3757555477'],
  ])('%s: the tree GNU tar extracts, creation.meta CRC %s', async (file, segment, crc) => {
    const bytes = await readFile(pinotFixture(file));
    await receiveArchive(chunked(bytes, 700), { expectedBytes: bytes.length, dir, segment });
    const byGnuTar = await mkdtemp(path.join(tmpdir(), 'fetch-receive-gnu-'));
    try {
      await extractTarGz(pinotFixture(file), byGnuTar);
      expect(await digestTree(path.join(dir, segment))).toEqual(await digestTree(path.join(byGnuTar, segment)));
    } finally {
      await rm(byGnuTar, { recursive: true, force: true });
    }
    expect(
      await verifyExtractedSegment(path.join(dir, segment), { crc, dataCrc: null, useDataCrc: false }),
    ).toMatchObject({ ok: true, crc });
  });
});
