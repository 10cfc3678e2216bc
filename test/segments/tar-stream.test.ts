import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SegmentChangedError, SegmentNotFoundError, UnsafeSegmentError } from '../../src/segments/errors.js';
import { SegmentStore, type ResolvedSegment } from '../../src/segments/segment-store.js';
import { planSegmentArchive, streamSegmentArchive, type SegmentArchiveOptions } from '../../src/segments/tar-stream.js';
import { DEFAULT_BLOCK_SIZE, type ParallelGzip } from '../../src/segments/parallel-gzip.js';
import { extractTarGz, listTarGz } from '../helpers/raw-tar.js';
import { buildSegment, type SegmentBuildSpec } from '../helpers/segment-builder.js';
import { createRng, testSeed } from '../helpers/rng.js';
import { openFdCount, readTree } from '../helpers/tree.js';

const MiB = 1024 * 1024;
const TABLE = 'stream_OFFLINE';

let root: string;
let dataDir: string;
let store: SegmentStore;
let counter = 0;

beforeAll(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'segments-stream-')));
  dataDir = path.join(root, 'data');
  store = new SegmentStore(dataDir);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh sealed segment in the data dir, resolved. */
async function segment(spec: Omit<SegmentBuildSpec, 'name'> & { name?: string } = {}): Promise<ResolvedSegment> {
  const name = spec.name ?? `seg_${++counter}`;
  await buildSegment(path.join(dataDir, TABLE), { ...spec, name });
  return store.resolve(TABLE, name);
}

async function streamToFile(
  source: Parameters<typeof streamSegmentArchive>[0],
  options?: SegmentArchiveOptions,
): Promise<string> {
  const file = path.join(root, `out-${++counter}.tar.gz`);
  await pipeline(streamSegmentArchive(source, options), createWriteStream(file));
  return file;
}

/** Expected `tar tzf` names: the segment dir, then every dir (with /) and file of the source tree. */
async function expectedEntries(seg: ResolvedSegment): Promise<string[]> {
  const tree = await readTree(seg.dir);
  return [`${seg.segmentName}/`, ...[...tree].map(([rel, v]) => `${seg.segmentName}/${rel}${v === 'dir' ? '/' : ''}`)];
}

async function assertRoundTrip(seg: ResolvedSegment, archive: string): Promise<void> {
  const names = await listTarGz(archive);
  expect(names[0]).toBe(`${seg.segmentName}/`);
  expect([...names].sort()).toEqual((await expectedEntries(seg)).sort());
  const dest = path.join(root, `extract-${++counter}`);
  await mkdir(dest);
  await extractTarGz(archive, dest);
  const extracted = await readTree(path.join(dest, seg.segmentName));
  const source = await readTree(seg.dir);
  expect([...extracted.keys()].sort()).toEqual([...source.keys()].sort());
  for (const [rel, content] of source) {
    const other = extracted.get(rel);
    if (content === 'dir') expect(other, rel).toBe('dir');
    else expect(Buffer.isBuffer(other) && content.equals(other), `${rel} differs`).toBe(true);
  }
}

/**
 * Reads until at least `before` compressed bytes arrived, runs `during`, then drains: resolves with what
 * happened. The first gzip chunk is only the gzip header, emitted before any file is read; with an
 * incompressible payload, 1 MiB of output means the archive is inside the payload file.
 */
async function readWith(
  stream: Readable,
  before: number,
  during: () => Promise<void>,
): Promise<{ bytes: number; error: unknown }> {
  const iterator = stream[Symbol.asyncIterator]();
  let bytes = 0;
  let duringDone = false;
  try {
    for (;;) {
      if (!duringDone && bytes >= before) {
        duringDone = true;
        await during();
      }
      const next = await iterator.next();
      if (next.done === true) return { bytes, error: undefined };
      bytes += (next.value as Buffer).length;
    }
  } catch (error) {
    return { bytes, error };
  }
}

async function waitForFdBaseline(baseline: number): Promise<void> {
  await vi.waitFor(() => expect(openFdCount()).toBe(baseline), { timeout: 5_000, interval: 10 });
}

describe('streamSegmentArchive: archive shape, checked with GNU tar', () => {
  it.each(['v1', 'v3'] as const)(
    '%s layout extracts to a byte-identical tree, first entry <segment>/',
    async (layout) => {
      const seg = await segment({ layout });
      await assertRoundTrip(seg, await streamToFile(seg));
    },
  );

  it('a multi-MiB segment with nested dirs, an empty file and small reads round-trips', async () => {
    const seg = await segment({
      layout: 'v3',
      payloadBytes: 5 * MiB + 123,
      extraFiles: {
        'v3/text.lucene.v912.index/_0.cfs': Buffer.alloc(70_000, 7),
        'v3/text.lucene.v912.index/segments_1': '',
        'v3/validdocids.bitmap.snapshot': 'snapshot',
      },
    });
    await assertRoundTrip(seg, await streamToFile(seg, { readSize: 256 * 1024 }));
  });

  it('names longer than ustar allows survive (PAX)', async () => {
    const seg = await segment({
      name: `long_${'n'.repeat(200)}`,
      extraFiles: { [`${'d'.repeat(120)}/${'f'.repeat(140)}.bitmap.inv`]: 'deep' },
    });
    await assertRoundTrip(seg, await streamToFile(seg));
  });

  it('the plan is exact: first entry, order, and the uncompressed size', async () => {
    const seg = await segment({ layout: 'v3', payloadBytes: 100_000 });
    const plan = await planSegmentArchive(seg);
    expect(plan.entries.map((e) => e.archivePath)).toEqual([
      `${seg.segmentName}/`,
      `${seg.segmentName}/v3/`,
      `${seg.segmentName}/v3/columns.psf`,
      `${seg.segmentName}/v3/creation.meta`,
      `${seg.segmentName}/v3/index_map`,
      `${seg.segmentName}/v3/metadata.properties`,
    ]);
    const tar = gunzipSync(await readFile(await streamToFile(plan)));
    expect(tar.length).toBe(plan.tarBytes);
    expect(tar.subarray(0, seg.segmentName.length + 1).toString()).toBe(`${seg.segmentName}/`);
    expect(tar.subarray(tar.length - 1024).every((b) => b === 0)).toBe(true);
  });

  it('honours the gzip level (0 stores, 1 compresses text)', async () => {
    const seg = await segment({ payloadBytes: 2 * MiB, payloadKind: 'text' });
    const { tarBytes } = await planSegmentArchive(seg);
    const stored = (await readFile(await streamToFile(seg, { gzipLevel: 0 }))).length;
    const fast = (await readFile(await streamToFile(seg))).length;
    expect(stored).toBeGreaterThan(tarBytes);
    expect(fast).toBeLessThan(tarBytes / 4);
  });
});

describe('streamSegmentArchive: refusing unsafe segments before the first byte', () => {
  it('a symlink inside the segment → UnsafeSegmentError (a SegmentNotFoundError), from plan and stream', async () => {
    const seg = await segment();
    await writeFile(path.join(root, 'secret.txt'), 'outside the segment');
    await symlink(path.join(root, 'secret.txt'), path.join(seg.dir, 'leak.dict'));
    await expect(planSegmentArchive(seg)).rejects.toBeInstanceOf(UnsafeSegmentError);
    const { bytes, error } = await readWith(streamSegmentArchive(seg), 0, async () => {});
    expect(error).toBeInstanceOf(UnsafeSegmentError);
    expect(error).toBeInstanceOf(SegmentNotFoundError);
    expect(bytes).toBe(0);
  });

  it('a FIFO inside the segment → UnsafeSegmentError', async () => {
    const seg = await segment();
    await promisify(execFile)('mkfifo', [path.join(seg.dir, 'pipe.fwd')]);
    await expect(planSegmentArchive(seg)).rejects.toBeInstanceOf(UnsafeSegmentError);
  });

  it('creation.meta rewritten between resolve and stream → SegmentChangedError, no bytes', async () => {
    const seg = await segment();
    const meta = Buffer.from(seg.seal.snapshot.bytes);
    meta.writeBigInt64BE(42n, 8);
    await writeFile(seg.creationMetaPath, meta);
    const { bytes, error } = await readWith(streamSegmentArchive(seg), 0, async () => {});
    expect(error).toBeInstanceOf(SegmentChangedError);
    expect(bytes).toBe(0);
  });
});

describe('planSegmentArchive({ justResolved }): the seal is not read twice, and is still guarded', () => {
  it('the plan does not read the seal again; a seal changed meanwhile still fails the stream before its end', async () => {
    const seg = await segment({ payloadBytes: 256 * 1024 });
    const meta = Buffer.from(seg.seal.snapshot.bytes);
    meta.writeBigInt64BE(42n, 8);
    await writeFile(seg.creationMetaPath, meta);
    // Without the option the re-read catches the change before the first byte.
    await expect(planSegmentArchive(seg)).rejects.toBeInstanceOf(SegmentChangedError);
    // With it the plan trusts the resolve (no re-read), and the end-of-archive check catches the change.
    const plan = await planSegmentArchive(seg, { justResolved: true });
    expect(plan.entries[0]!.stats).toBe(seg.dirStats);
    const { bytes, error } = await readWith(streamSegmentArchive(plan), 0, async () => {});
    expect(error).toBeInstanceOf(SegmentChangedError);
    expect(bytes).toBeGreaterThan(0);
  });

  it('an unchanged segment planned right after its resolve archives exactly as a re-checked plan does', async () => {
    const seg = await segment({ layout: 'v3', payloadBytes: 100_000 });
    const fresh = await planSegmentArchive(seg, { justResolved: true });
    const checked = await planSegmentArchive(seg);
    expect(fresh.tarBytes).toBe(checked.tarBytes);
    expect(fresh.entries.map((e) => e.header)).toEqual(checked.entries.map((e) => e.header));
    await assertRoundTrip(seg, await streamToFile(fresh));
  });
});

describe('streamSegmentArchive: consistency guard while streaming', () => {
  // 8 MiB of random data: the stream is still inside this file when the first gzip chunk arrives.
  const big = { payloadBytes: 8 * MiB } as const;
  const small = { readSize: 64 * 1024 } as const;

  it('segment directory deleted mid-stream → SegmentChangedError, fds released', async () => {
    const seg = await segment(big);
    const baseline = openFdCount();
    const stream = streamSegmentArchive(seg, small);
    const { error } = await readWith(stream, MiB, () => rm(seg.dir, { recursive: true }));
    expect(error).toBeInstanceOf(SegmentChangedError);
    await waitForFdBaseline(baseline);
    expect(stream.destroyed).toBe(true);
  });

  it('creation.meta rewritten in place mid-stream → SegmentChangedError', async () => {
    const seg = await segment(big);
    const { error } = await readWith(streamSegmentArchive(seg, small), MiB, async () => {
      const meta = Buffer.from(seg.seal.snapshot.bytes);
      meta.writeBigInt64BE(BigInt(seg.creationMeta.creationTime + 1), 8);
      await writeFile(seg.creationMetaPath, meta);
    });
    expect(error).toBeInstanceOf(SegmentChangedError);
  });

  it('creation.meta replaced by rename with identical bytes mid-stream → SegmentChangedError (inode)', async () => {
    const seg = await segment(big);
    const { error } = await readWith(streamSegmentArchive(seg, small), MiB, async () => {
      const staged = `${seg.creationMetaPath}.new`;
      await writeFile(staged, seg.seal.snapshot.bytes);
      await rename(staged, seg.creationMetaPath);
    });
    expect(error).toBeInstanceOf(SegmentChangedError);
  });

  it('the file being read rewritten in place mid-stream (same size) → SegmentChangedError', async () => {
    const seg = await segment(big);
    const { error } = await readWith(streamSegmentArchive(seg, small), MiB, async () => {
      const handle = await open(path.join(seg.dir, 'payload.sv.raw.fwd'), 'r+');
      await handle.write(Buffer.alloc(4096, 1), 0, 4096, 0);
      await handle.close();
    });
    expect(error).toBeInstanceOf(SegmentChangedError);
  });

  it('a file not yet read replaced by one of the same size mid-stream → SegmentChangedError', async () => {
    const seg = await segment(big);
    const later = path.join(seg.dir, 'ts.sv.raw.fwd');
    const { error } = await readWith(streamSegmentArchive(seg, small), MiB, async () => {
      const size = (await readFile(later)).length;
      await writeFile(`${later}.new`, Buffer.alloc(size, 9));
      await rename(`${later}.new`, later);
    });
    expect(error).toBeInstanceOf(SegmentChangedError);
  });

  it('an unchanged segment read the same way ends cleanly (the guard has no false positive)', async () => {
    const seg = await segment(big);
    const { error, bytes } = await readWith(streamSegmentArchive(seg, small), MiB, async () => {});
    expect(error).toBeUndefined();
    expect(bytes).toBeGreaterThan(8 * MiB);
  });
});

describe('streamSegmentArchive: no file descriptor outlives the stream', () => {
  it('a beforeRead hold that never settles does not keep the file open once the stream is destroyed', async () => {
    const seg = await segment({ payloadBytes: 8 * MiB });
    const baseline = openFdCount();
    let held = false;
    const releases: (() => void)[] = [];
    // beforeRead is first asked inside streamSegmentArchive, before the stream is returned.
    const started: { stream?: ParallelGzip } = {};
    const stream = (started.stream = streamSegmentArchive(seg, {
      readSize: 64 * 1024,
      // Inside the 8 MiB payload file (the files before it are a few KiB): hold every read from then on, forever.
      beforeRead: () => {
        if ((started.stream?.bytesIn ?? 0) < 512 * 1024) return undefined;
        held = true;
        // Its resolver is kept, so the suspended reader stays reachable: the file is not closed by the collector.
        return new Promise<void>((resolve) => releases.push(resolve));
      },
    }) as ParallelGzip);
    stream.resume();
    await vi.waitFor(() => expect(held).toBe(true), { timeout: 10_000, interval: 5 });
    expect(openFdCount()).toBeGreaterThan(baseline); // the payload file, open in the suspended reader
    stream.destroy();
    await waitForFdBaseline(baseline);
    for (const release of releases) release();
  });

  it.each([
    {
      how: 'destroying the stream (client disconnect)',
      open: () => ({ options: {}, stop: (stream: Readable) => stream.destroy() }),
      // The iterator of a destroyed stream reports the premature close.
      expected: { code: 'ERR_STREAM_PREMATURE_CLOSE' },
    },
    {
      how: 'aborting its AbortSignal',
      open: () => {
        const controller = new AbortController();
        return { options: { signal: controller.signal }, stop: () => controller.abort() };
      },
      expected: { name: 'AbortError' },
    },
  ])('$how mid-way closes the open file', async ({ open: prepare, expected }) => {
    const seg = await segment({ payloadBytes: 8 * MiB });
    const baseline = openFdCount();
    const { options, stop } = prepare();
    const stream = streamSegmentArchive(seg, { readSize: 64 * 1024, ...options });
    const { error } = await readWith(stream, MiB, async () => {
      // The test can fail: the payload file is open right now.
      expect(openFdCount()).toBeGreaterThan(baseline);
      stop(stream);
    });
    // Also proves the assertion above did not throw.
    expect(error).toMatchObject(expected);
    await waitForFdBaseline(baseline);
    // Referenced until here, so a leaked FileHandle cannot be closed by GC finalization instead.
    expect(stream.destroyed).toBe(true);
  });

  const seed = testSeed();
  it(`many streams destroyed at random points leave no descriptor behind (seed ${seed}; replay with TEST_SEED=${seed})`, async () => {
    const rng = createRng(seed);
    const seg = await segment({ payloadBytes: 4 * MiB });
    // Points anywhere in the archive but its last chunks (a point past the last chunk would see a whole stream;
    // a chunk is one compressed block, up to a block's size for incompressible data).
    let total = 0;
    for await (const chunk of streamSegmentArchive(seg, { readSize: 32 * 1024 })) total += (chunk as Buffer).length;
    const points = Array.from({ length: 8 }, () => rng.int(0, total - 2 * DEFAULT_BLOCK_SIZE));
    const baseline = openFdCount();
    const streams = points.map(() => streamSegmentArchive(seg, { readSize: 32 * 1024 }));
    await Promise.all(
      streams.map(async (stream, i) => {
        const { bytes, error } = await readWith(stream, points[i]!, async () => {
          stream.destroy();
        });
        expect(bytes, `stream ${i}, point ${points[i]}`).toBeGreaterThanOrEqual(points[i]!);
        expect(error, `stream ${i}, point ${points[i]}`).toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
      }),
    );
    await waitForFdBaseline(baseline);
    // Referenced until here, so a leaked FileHandle cannot be closed by GC finalization instead.
    expect(streams.every((stream) => stream.destroyed)).toBe(true);
  });
});
