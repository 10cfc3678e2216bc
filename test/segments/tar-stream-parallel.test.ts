import { mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CompressionPool } from '../../src/segments/compression-pool.js';
import type { ParallelGzip } from '../../src/segments/parallel-gzip.js';
import { SegmentStore, type ResolvedSegment } from '../../src/segments/segment-store.js';
import { planSegmentArchive, streamSegmentArchive } from '../../src/segments/tar-stream.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture, pinotFixturesDir } from '../helpers/fixtures.js';
import { extractTarGz, listTarGz } from '../helpers/raw-tar.js';
import { buildSegment } from '../helpers/segment-builder.js';
import { decodeFirstMemberOnly } from '../helpers/single-member.js';
import { digestTree } from '../helpers/tree.js';

// streamSegmentArchive on the parallel compressor (issue 15): what Pinot's first-member-only untar sees is the
// whole archive, on generated segments and on Pinot's own; the stream uses the pool it is given; aborting it
// leaves that pool idle.

const MiB = 1024 * 1024;
const TABLE = 'parallel_OFFLINE';

let root: string;
let dataDir: string;
let store: SegmentStore;
let pool: CompressionPool;
let counter = 0;

beforeAll(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'segments-parallel-')));
  dataDir = path.join(root, 'data');
  store = new SegmentStore(dataDir);
  pool = new CompressionPool({ threads: 2 });
});

afterAll(async () => {
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The archive as bytes, checked to be one member; also written to a file and extracted with GNU tar. */
async function archiveTree(seg: ResolvedSegment, gz: Buffer): Promise<Map<string, string>> {
  decodeFirstMemberOnly(gz);
  const dir = path.join(root, `x-${++counter}`);
  await mkdir(dir);
  await writeFile(path.join(dir, 'a.tar.gz'), gz);
  expect((await listTarGz(path.join(dir, 'a.tar.gz')))[0]).toBe(`${seg.segmentName}/`);
  await extractTarGz(path.join(dir, 'a.tar.gz'), dir);
  return digestTree(path.join(dir, seg.segmentName));
}

describe('streamSegmentArchive: one gzip member from the parallel compressor', () => {
  it.each([
    { name: 'a 0-byte payload segment', spec: { layout: 'v3' as const } },
    {
      name: 'a 3 MiB mixed segment',
      spec: { layout: 'v3' as const, payloadBytes: 3 * MiB + 17, payloadKind: 'mixed' as const },
    },
    {
      name: 'empty files and a file larger than a block',
      spec: {
        payloadBytes: 700_000,
        extraFiles: { 'empty.dict': '', 'v3/also-empty': '', 'star.idx': 'x'.repeat(300_000) },
      },
    },
  ])('$name: the first member alone is the whole tar, and it extracts to the same tree', async ({ spec }) => {
    const name = `seg_${++counter}`;
    await buildSegment(path.join(dataDir, TABLE), { ...spec, name });
    const seg = await store.resolve(TABLE, name);
    const plan = await planSegmentArchive(seg);
    const gz = await collect(streamSegmentArchive(plan, { compressionPool: pool }));
    expect(decodeFirstMemberOnly(gz).length).toBe(plan.tarBytes);
    expect(await archiveTree(seg, gz)).toEqual(await digestTree(seg.dir));
  });

  it('read buffers are filled again only after the compressor took them: a slow reader with small reads gets every byte', async () => {
    // 64 KiB reads reuse two buffers over ~100 reads; the reader takes a chunk only every few event-loop turns, so
    // the compressor holds writes (its blocks in flight are full) while the next read is already done: a buffer
    // filled again too early would put later bytes where earlier ones belong.
    const name = `seg_${++counter}`;
    await buildSegment(path.join(dataDir, TABLE), { name, payloadBytes: 6 * MiB + 4321, payloadKind: 'mixed' });
    const seg = await store.resolve(TABLE, name);
    const plan = await planSegmentArchive(seg);
    const chunks: Buffer[] = [];
    for await (const chunk of streamSegmentArchive(plan, { compressionPool: pool, readSize: 64 * 1024 })) {
      chunks.push(chunk as Buffer);
      for (let turn = 0; turn < 3; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const gz = Buffer.concat(chunks);
    expect(decodeFirstMemberOnly(gz).length).toBe(plan.tarBytes);
    expect(await archiveTree(seg, gz)).toEqual(await digestTree(seg.dir));
  });

  it('beforeRead holds the reads: the gzip header alone comes out until the hold settles, then the whole archive', async () => {
    const name = `seg_${++counter}`;
    await buildSegment(path.join(dataDir, TABLE), { name, payloadBytes: MiB, payloadKind: 'text' });
    const plan = await planSegmentArchive(await store.resolve(TABLE, name));
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    let asked = 0;
    const stream = streamSegmentArchive(plan, {
      compressionPool: pool,
      beforeRead: () => (++asked === 1 ? hold : undefined),
    }) as ParallelGzip;
    for (let turn = 0; turn < 5; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
    expect(asked).toBe(1);
    expect(stream.bytesIn).toBe(0);
    const header = stream.read() as Buffer | null;
    expect(header?.length).toBe(10);
    expect(stream.read()).toBeNull();
    release();
    const gz = Buffer.concat([header!, await collect(stream)]);
    expect(asked).toBeGreaterThan(plan.entries.length);
    expect(decodeFirstMemberOnly(gz).length).toBe(plan.tarBytes);
  });

  it('given a plan, the gzip header is readable before any file is read; given a segment, nothing is', async () => {
    const name = `seg_${++counter}`;
    await buildSegment(path.join(dataDir, TABLE), { name, payloadBytes: MiB, payloadKind: 'text' });
    const seg = await store.resolve(TABLE, name);
    const planned = streamSegmentArchive(await planSegmentArchive(seg), { compressionPool: pool });
    const unplanned = streamSegmentArchive(seg, { compressionPool: pool });
    const header = planned.read() as Buffer | null;
    expect(header === null ? null : [...header.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]);
    expect(unplanned.read()).toBeNull();
    planned.destroy();
    unplanned.destroy();
  });

  it('level 0 (stored) is still one valid member', async () => {
    const name = `seg_${++counter}`;
    await buildSegment(path.join(dataDir, TABLE), { name, payloadBytes: MiB, payloadKind: 'text' });
    const seg = await store.resolve(TABLE, name);
    const plan = await planSegmentArchive(seg);
    const gz = await collect(streamSegmentArchive(plan, { gzipLevel: 0, compressionPool: pool }));
    expect(gz.length).toBeGreaterThan(plan.tarBytes);
    expect(decodeFirstMemberOnly(gz).length).toBe(plan.tarBytes);
  });

  it('aborting mid-stream: the stream is destroyed and the pool ends with nothing running or queued', async () => {
    const name = `seg_${++counter}`;
    await buildSegment(path.join(dataDir, TABLE), { name, payloadBytes: 16 * MiB });
    const seg = await store.resolve(TABLE, name);
    const controller = new AbortController();
    const stream = streamSegmentArchive(seg, {
      compressionPool: pool,
      signal: controller.signal,
      readSize: 256 * 1024,
    });
    let bytes = 0;
    let used = 0;
    await expect(
      (async () => {
        for await (const chunk of stream) {
          bytes += (chunk as Buffer).length;
          used = Math.max(used, pool.started);
          if (bytes > 2 * MiB) controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(used).toBeGreaterThan(0); // the pool given was the one compressing
    expect(stream.destroyed).toBe(true);
    await vi.waitFor(() => expect(pool.active + pool.queued).toBe(0), { timeout: 10_000, interval: 10 });
  });
});

describe(`streamSegmentArchive: Pinot's own segments, one member${fixturesSkipNote}`, () => {
  it.runIf(hasPinotFixtures)(
    'every fixture segment, extracted and streamed again, is one member with the same tree',
    async () => {
      const tarballs = (await readdir(pinotFixturesDir)).filter((file) => file.endsWith('.tar.gz'));
      expect(tarballs.length).toBeGreaterThan(0);
      for (const file of tarballs) {
        const table = `fixture${++counter}_OFFLINE`;
        await mkdir(path.join(dataDir, table), { recursive: true });
        await extractTarGz(pinotFixture(file), path.join(dataDir, table));
        const [name] = await readdir(path.join(dataDir, table));
        const seg = await store.resolve(table, name!);
        const gz = await collect(streamSegmentArchive(seg, { compressionPool: pool }));
        expect(await archiveTree(seg, gz), file).toEqual(await digestTree(seg.dir));
      }
    },
  );
});
