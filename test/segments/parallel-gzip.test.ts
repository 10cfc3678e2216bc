import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { crc32, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CompressionPool } from '../../src/segments/compression-pool.js';
import { CompressionError } from '../../src/segments/errors.js';
import {
  createParallelGzip,
  DEFAULT_BLOCK_SIZE,
  defaultBlocksInFlight,
  type ParallelGzipOptions,
} from '../../src/segments/parallel-gzip.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixturesDir } from '../helpers/fixtures.js';
import { listTarGz } from '../helpers/raw-tar.js';
import { createRng, testSeed, type Rng } from '../helpers/rng.js';
import { decodeFirstMemberOnly } from '../helpers/single-member.js';
import { rawTar } from '../helpers/tar-entries.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = DEFAULT_BLOCK_SIZE;
const run = promisify(execFile);

let pool: CompressionPool;
let dir: string;
let counter = 0;

beforeAll(async () => {
  pool = new CompressionPool({ threads: 2 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'parallel-gzip-'));
});

afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

/** Text that compresses like a forward index of strings (about 4:1 at level 1). */
function text(length: number, seed = 0): Buffer {
  let out = '';
  for (let row = seed; out.length < length; row++)
    out += `row ${row} the quick brown fox jumps over the lazy dog ${row % 97}\n`;
  return Buffer.from(out.slice(0, length), 'latin1');
}

/** Alternating pieces of random and text bytes, `piece` each: the mix a segment's columns make. */
function mixed(length: number, piece = MiB): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < length; at += piece, i++) {
    const n = Math.min(piece, length - at);
    parts.push(i % 2 === 0 ? randomBytes(n) : text(n, at));
  }
  return Buffer.concat(parts);
}

/** `data` cut into chunks of random sizes (1 byte to 3 blocks), as a tar reader's mixed reads would be. */
function chunked(data: Buffer, rng: Rng): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const n = Math.min(data.length - at, rng.chance(0.2) ? rng.int(1, 600) : rng.int(1, 3 * BLOCK));
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

async function compress(chunks: Buffer[], options: ParallelGzipOptions = {}): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    createParallelGzip({ pool, ...options }),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) out.push(chunk);
    },
  );
  return Buffer.concat(out);
}

const seed = testSeed();

describe(`createParallelGzip: round trips, one member (seed ${seed}; replay with TEST_SEED=${seed})`, () => {
  const rng = createRng(seed);
  it.each([
    { name: 'empty input', data: () => Buffer.alloc(0) },
    { name: '1 byte', data: () => Buffer.from('x') },
    { name: 'exactly one block', data: () => mixed(BLOCK, 100_000) },
    { name: 'one block + 1 byte', data: () => mixed(BLOCK + 1, 100_000) },
    { name: 'exactly three blocks of text', data: () => text(3 * BLOCK) },
    {
      name: 'random data larger than a block (incompressible: the blocks grow)',
      data: () => randomBytes(2 * BLOCK + 77),
    },
    { name: 'a 6 MiB mix of random and text', data: () => mixed(6 * MiB + 4321, 300_000) },
  ])('$name', async ({ data }) => {
    const input = data();
    const gz = await compress(chunked(input, rng.fork(String(input.length))));
    expect(decodeFirstMemberOnly(gz).equals(input)).toBe(true);
    expect(gunzipSync(gz).equals(input)).toBe(true);
  });

  it.each([{ level: 0 }, { level: 1 }, { level: 6 }, { level: 9 }])('level $level round-trips', async ({ level }) => {
    const input = mixed(3 * BLOCK + 5, 200_000);
    const gz = await compress(chunked(input, rng.fork(`level ${level}`)), { level });
    expect(decodeFirstMemberOnly(gz).equals(input)).toBe(true);
    if (level === 0) expect(gz.length).toBeGreaterThan(input.length);
    else expect(gz.length).toBeLessThan(input.length * 0.7);
  });

  it('the header is readable as soon as the first byte is written, before any block is compressed', async () => {
    const gzip = createParallelGzip({ pool });
    gzip.write(Buffer.from('a'));
    await once(gzip, 'readable');
    const header = gzip.read() as Buffer;
    expect([...header.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    expect(gzip.blocksInFlight).toBe(0); // the first block is still filling
    gzip.end();
    const rest: Buffer[] = [];
    for await (const chunk of gzip) rest.push(chunk as Buffer);
    expect(gunzipSync(Buffer.concat([header, ...rest])).toString()).toBe('a');
  });

  it('with headerAtOnce the header is readable before any input; without it, nothing is', async () => {
    const eager = createParallelGzip({ pool, headerAtOnce: true });
    const lazy = createParallelGzip({ pool });
    const header = eager.read() as Buffer;
    expect([...header.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    expect(lazy.read()).toBeNull();
    eager.end('b');
    const rest: Buffer[] = [];
    for await (const chunk of eager) rest.push(chunk as Buffer);
    expect(gunzipSync(Buffer.concat([header, ...rest])).toString()).toBe('b');
    lazy.destroy();
  });

  it('a block boundary inside a tar header: GNU tar lists every entry', async () => {
    const blockSize = 64 * KiB + 256; // not a multiple of 512: the boundary falls mid-header
    // Directory header, file header, then a body padded to end at 64 KiB, where the next header starts.
    const firstBody = randomBytes(64 * KiB - 1024 - 100);
    const entries = [
      { path: 'seg/', type: 'Directory' as const },
      { path: 'seg/columns.psf', body: firstBody },
      { path: 'seg/creation.meta', body: randomBytes(16) },
      { path: 'seg/metadata.properties', body: text(3000) },
    ];
    const tar = rawTar(entries);
    // The second file's header starts after dir header (512), file header (512) and the padded body.
    const headerAt = 512 + 512 + Math.ceil(firstBody.length / 512) * 512;
    expect(headerAt).toBeLessThan(blockSize);
    expect(headerAt + 512).toBeGreaterThan(blockSize);
    const gz = await compress(chunked(tar, rng.fork('tar header')), { blockSize });
    expect(decodeFirstMemberOnly(gz).equals(tar)).toBe(true);
    const file = path.join(dir, `straddle-${++counter}.tar.gz`);
    await writeFile(file, gz);
    expect(await listTarGz(file)).toEqual(entries.map((e) => e.path));
  });
});

describe('createParallelGzip: accepted by other gzip readers', () => {
  let input: Buffer;
  let file: string;

  beforeAll(async () => {
    input = mixed(5 * MiB + 3, 250_000);
    file = path.join(dir, `readers-${++counter}.gz`);
    await writeFile(file, await compress([input]));
  });

  it('gzip -t', async () => {
    await expect(run('gzip', ['-t', file])).resolves.toBeDefined();
  });

  it("Python's gzip module decodes the same bytes", async () => {
    const script = 'import gzip,hashlib,sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())';
    const { stdout } = await run('python3', ['-c', script, file]);
    expect(stdout.trim()).toBe(createHash('sha256').update(input).digest('hex'));
  });

  it("Node's gunzip and a first-member-only decoder both yield everything", async () => {
    const gz = await readFile(file);
    expect(gunzipSync(gz).equals(input)).toBe(true);
    expect(decodeFirstMemberOnly(gz).equals(input)).toBe(true);
  });

  it('the first-member-only decoder does catch a two-member file (it proves something)', () => {
    const twoMembers = Buffer.concat([gzipSync(input.subarray(0, 1000)), gzipSync(input.subarray(1000, 2000))]);
    expect(gunzipSync(twoMembers).equals(input.subarray(0, 2000))).toBe(true);
    expect(() => decodeFirstMemberOnly(twoMembers)).toThrow(/follow the first member/);
  });
});

describe(`createParallelGzip: Pinot's own segment tarballs${fixturesSkipNote}`, () => {
  it.runIf(hasPinotFixtures)('every fixture tar re-compressed decodes to the same tar, one member', async () => {
    const names = (await readdir(pinotFixturesDir)).filter((name) => name.endsWith('.tar.gz'));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const tar = gunzipSync(await readFile(path.join(pinotFixturesDir, name)));
      const gz = await compress(chunked(tar, createRng(seed).fork(name)), { blockSize: 32 * KiB });
      expect(decodeFirstMemberOnly(gz).equals(tar), name).toBe(true);
      const file = path.join(dir, `fixture-${++counter}.tar.gz`);
      await writeFile(file, gz);
      expect(await listTarGz(file), name).toEqual(await listTarGz(path.join(pinotFixturesDir, name)));
    }
  });
});

describe('createParallelGzip: compression ratio', () => {
  it('a 32 MiB half-random half-text sample is within 1% of single-threaded zlib level 1', async () => {
    const input = mixed(32 * MiB);
    const single = gzipSync(input, { level: 1 }).length;
    const parallel = (await compress([input])).length;
    expect(Math.abs(parallel / single - 1)).toBeLessThan(0.01);
  });
});

/** A source of `total` bytes of random data in 1 MiB chunks that counts what was pulled from it. */
function countingSource(total: number): { stream: Readable; pulled: () => number; data: Buffer } {
  const data = randomBytes(total);
  let pulled = 0;
  const stream = Readable.from(
    (function* () {
      for (let at = 0; at < total; at += MiB) {
        const chunk = data.subarray(at, Math.min(total, at + MiB));
        pulled += chunk.length;
        yield chunk;
      }
    })(),
    // Bytes, like the tar stream: reads ahead at most 1 MiB (object mode would buffer 16 chunks).
    { objectMode: false, highWaterMark: MiB },
  );
  return { stream, pulled: () => pulled, data };
}

describe('createParallelGzip: memory bound and backpressure', () => {
  it('a reader that pauses stops the writer after maxBlocksInFlight blocks; the rest follows on resume', async () => {
    const blockSize = 64 * KiB;
    const maxBlocksInFlight = 4;
    const source = countingSource(16 * MiB);
    const gzip = createParallelGzip({ pool, blockSize, maxBlocksInFlight });
    source.stream.pipe(gzip);
    await once(gzip, 'readable');
    const first = gzip.read() as Buffer; // then the reader pauses
    // Settled: every slot full and compressed, nothing running; from here the writer cannot move on.
    await vi.waitFor(
      () => {
        expect(gzip.blocksInFlight).toBe(maxBlocksInFlight);
        expect(pool.active + pool.queued).toBe(0);
      },
      { timeout: 20_000, interval: 10 },
    );
    // Taken from the writer: the blocks in flight, plus the one or two pushed to the readable buffer before
    // the reader paused (push() returns false once 16 KiB wait there).
    expect(gzip.peakBlocksInFlight).toBe(maxBlocksInFlight);
    expect(gzip.bytesIn).toBeLessThanOrEqual((maxBlocksInFlight + 2) * blockSize);
    // Behind it, the source read ahead at most its 1 MiB buffer and the 1 MiB chunk being consumed.
    expect(source.pulled()).toBeLessThanOrEqual(gzip.bytesIn + 3 * MiB);
    expect(source.pulled()).toBeLessThan(source.data.length / 2);
    const rest: Buffer[] = [];
    for await (const chunk of gzip) rest.push(chunk as Buffer);
    expect(gzip.peakBlocksInFlight).toBeLessThanOrEqual(maxBlocksInFlight);
    expect(decodeFirstMemberOnly(Buffer.concat([first, ...rest])).equals(source.data)).toBe(true);
  });

  it('8 streams on a 2-thread pool: never more than 2 workers, all round-trip', async () => {
    const shared = new CompressionPool({ threads: 2 });
    try {
      const inputs = Array.from({ length: 8 }, (_, i) => mixed(MiB + i * 1000, 150_000));
      const outputs = await Promise.all(
        inputs.map(async (input) => {
          const out: Buffer[] = [];
          await pipeline(
            Readable.from([input]),
            createParallelGzip({ pool: shared }),
            async (source: AsyncIterable<Buffer>) => {
              for await (const chunk of source) {
                expect(shared.started).toBeLessThanOrEqual(2);
                expect(shared.active).toBeLessThanOrEqual(2);
                out.push(chunk);
              }
            },
          );
          return Buffer.concat(out);
        }),
      );
      outputs.forEach((gz, i) => expect(decodeFirstMemberOnly(gz).equals(inputs[i]!), `stream ${i}`).toBe(true));
      expect(shared.started).toBe(2);
    } finally {
      await shared.close();
    }
  });
});

describe("the pool's share of blocks in flight: memory follows the pool, not the number of streams", () => {
  it.each<[number, number, number, number]>([
    // threads, streams, a stream's own bound, its share
    [2, 0, 4, 4],
    [2, 1, 4, 4],
    [2, 2, 4, 2],
    [2, 3, 4, 2],
    [2, 4, 4, 1],
    [2, 8, 4, 1], // never fewer than one: every stream moves
    [8, 1, 8, 8],
    [8, 3, 8, 6],
    [2, 1, 2, 2], // never above the stream's own bound
  ])('%i threads, %i streams, bound %i: %i', async (threads, streams, bound, share) => {
    const counted = new CompressionPool({ threads });
    const leaves = Array.from({ length: streams }, () => counted.join());
    expect(counted.blocksInFlightShare(bound)).toBe(share);
    leaves.forEach((leave) => leave());
    leaves[0]?.(); // leaving twice counts once
    expect(counted.streams).toBe(0);
    await counted.close();
  });

  it('8 streams with paused readers on a 2-thread pool hold one block each; all finish once read; none counted after', async () => {
    const shared = new CompressionPool({ threads: 2 });
    const blockSize = 64 * KiB;
    try {
      const sources = Array.from({ length: 8 }, () => countingSource(4 * MiB));
      const streams = sources.map((source) => {
        const gzip = createParallelGzip({ pool: shared, blockSize }); // default bound: 4 on 2 threads
        source.stream.pipe(gzip);
        return gzip;
      });
      expect(shared.streams).toBe(8);
      // Nobody reads yet: settled when nothing runs or waits in the pool.
      await vi.waitFor(
        () => {
          expect(streams.every((gzip) => gzip.blocksInFlight === 1)).toBe(true);
          expect(shared.active + shared.queued).toBe(0);
        },
        { timeout: 20_000, interval: 10 },
      );
      const outputs = await Promise.all(
        streams.map(async (gzip) => {
          const out: Buffer[] = [];
          for await (const chunk of gzip) out.push(chunk as Buffer);
          return Buffer.concat(out);
        }),
      );
      outputs.forEach((gz, i) => expect(decodeFirstMemberOnly(gz).equals(sources[i]!.data), `stream ${i}`).toBe(true));
      expect(streams.every((gzip) => gzip.peakBlocksInFlight <= 4)).toBe(true);
      expect(shared.streams).toBe(0);
    } finally {
      await shared.close();
    }
  });
});

describe('defaultBlocksInFlight: 2 per thread, at most 16 MiB of input per stream', () => {
  it.each<[number, number, number]>([
    [1, MiB, 2],
    [2, MiB, 4],
    [8, MiB, 16],
    [64, MiB, 16], // 128 would hold 128 MiB for one download
    [64, 256 * KiB, 64],
    [2, 16 * MiB, 2], // never fewer than 2: one compressing while the next fills
  ])('%i threads, %i-byte blocks: %i', (threads, blockSize, blocks) => {
    expect(defaultBlocksInFlight(threads, blockSize)).toBe(blocks);
  });
});

describe('CompressionPool: jobs', () => {
  it('a buffer the job owns moves to the worker and comes back for reuse; a slice of a shared one is copied', async () => {
    const block = Buffer.allocUnsafeSlow(64 * KiB).fill(7);
    const moved = await pool.compress({ input: block, level: 1, last: true });
    expect(block.byteLength).toBe(0); // detached: the bytes went to the worker without a copy
    expect(moved.recycled.byteLength).toBe(64 * KiB);
    expect(moved.length).toBe(64 * KiB);
    expect(inflateRawSync(moved.output).equals(Buffer.alloc(64 * KiB, 7))).toBe(true);
    expect(moved.crc).toBe(crc32(Buffer.alloc(64 * KiB, 7)));
    const small = Buffer.from('a small pooled buffer');
    const copied = await pool.compress({ input: small, level: 1, last: true });
    expect(small.toString()).toBe('a small pooled buffer');
    expect(inflateRawSync(copied.output).toString()).toBe('a small pooled buffer');
  });

  it('a dictionary primes back-references: a block repeating part of its dictionary compresses to little', async () => {
    const dictionary = randomBytes(32 * KiB);
    // Distances up to 32 KiB - 262 (zlib's MAX_DIST): repeat the dictionary's second half.
    const input = Buffer.from(dictionary.subarray(16 * KiB));
    const unprimed = await pool.compress({ input: Buffer.from(input), level: 1, last: true });
    const primed = await pool.compress({ input, dictionary: Buffer.from(dictionary), level: 1, last: true });
    expect(unprimed.output.length).toBeGreaterThan(16 * KiB);
    expect(primed.output.length).toBeLessThan(1024);
    expect(inflateRawSync(primed.output, { dictionary }).equals(dictionary.subarray(16 * KiB))).toBe(true);
  });
});

describe('createParallelGzip: abort and errors', () => {
  it("destroying a stream drops its queued jobs at once; running ones finish; other streams' jobs stay", async () => {
    const single = new CompressionPool({ threads: 1 });
    try {
      const blockSize = 64 * KiB;
      const doomed = createParallelGzip({ pool: single, blockSize, maxBlocksInFlight: 16 });
      doomed.on('error', () => {});
      // 12 blocks written in one go: all dispatched at once, one runs, 11 wait.
      for (let i = 0; i < 12; i++) doomed.write(randomBytes(blockSize));
      expect(doomed.blocksInFlight).toBe(12);
      expect(single.active).toBe(1);
      expect(single.queued).toBe(11);
      // A second stream's 6 blocks queue behind them (end(chunk) writes, then ends, synchronously).
      const survivor = createParallelGzip({ pool: single, blockSize, maxBlocksInFlight: 16 });
      const survivorInput = mixed(5 * blockSize + 9, 50_000);
      survivor.end(survivorInput);
      expect(single.queued).toBe(11 + 6);
      doomed.destroy();
      expect(doomed.destroyed).toBe(true);
      expect(doomed.blocksInFlight).toBe(0);
      expect(single.queued).toBe(6);
      const out: Buffer[] = [];
      for await (const chunk of survivor) out.push(chunk as Buffer);
      expect(decodeFirstMemberOnly(Buffer.concat(out)).equals(survivorInput)).toBe(true);
      await vi.waitFor(() => expect(single.active + single.queued).toBe(0), { timeout: 10_000, interval: 10 });
    } finally {
      await single.close();
    }
  });

  it('aborting mid-stream through pipeline: the pool ends idle, the stream destroyed', async () => {
    const source = countingSource(32 * MiB);
    const gzip = createParallelGzip({ pool, blockSize: 64 * KiB });
    const controller = new AbortController();
    let received = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > MiB) controller.abort();
        callback();
      },
    });
    await expect(pipeline(source.stream, gzip, sink, { signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(gzip.destroyed).toBe(true);
    expect(source.pulled()).toBeLessThan(32 * MiB);
    await vi.waitFor(() => expect(pool.active + pool.queued).toBe(0), { timeout: 10_000, interval: 10 });
  });

  it('an error on the writing side reaches the reader', async () => {
    const failing = Readable.from(
      (async function* () {
        yield randomBytes(3 * BLOCK);
        throw new Error('tar side broke');
      })(),
    );
    await expect(compressFrom(failing)).rejects.toThrow('tar side broke');
    await vi.waitFor(() => expect(pool.active + pool.queued).toBe(0), { timeout: 10_000, interval: 10 });
  });

  it('closing the pool under a stream fails the stream with CompressionError', async () => {
    const closing = new CompressionPool({ threads: 1 });
    const gzip = createParallelGzip({ pool: closing, blockSize: 64 * KiB, maxBlocksInFlight: 8 });
    const failed = once(gzip, 'error');
    for (let i = 0; i < 8; i++) gzip.write(randomBytes(64 * KiB));
    await closing.close();
    const [error] = await failed;
    expect(error).toBeInstanceOf(CompressionError);
    expect(gzip.destroyed).toBe(true);
    await expect(closing.compress({ input: Buffer.from('x'), level: 1, last: true })).rejects.toBeInstanceOf(
      CompressionError,
    );
  });
});

async function compressFrom(source: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(source, createParallelGzip({ pool }), async (compressed: AsyncIterable<Buffer>) => {
    for await (const chunk of compressed) out.push(chunk);
  });
  return Buffer.concat(out);
}
