import { constants, type BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { addAbortSignal, type Readable, type Writable } from 'node:stream';
import type { CompressionPool } from './compression-pool.js';
import { SegmentChangedError, UnsafeSegmentError } from './errors.js';
import { identityChange, identityOf, type FileIdentity } from './file-identity.js';
import { readingSegment } from './fs-calls.js';
import { createParallelGzip } from './parallel-gzip.js';
import { assertSealUnchanged } from './seal.js';
import type { ResolvedSegment } from './segment-store.js';
import { walkSegmentTree } from './segment-tree.js';
import { encodeEntryHeader, endOfArchive, entryArchiveSize, paddingAfter } from './tar-format.js';

export interface SegmentArchiveOptions {
  /** zlib level 0-9, default 1. */
  gzipLevel?: number;
  /** Threads that compress the archive; default the process-wide pool (defaultCompressionPool()). */
  compressionPool?: CompressionPool;
  /** Bytes per file read, default 1 MiB: large enough for throughput, small enough for memory. */
  readSize?: number;
  /** Aborting destroys the stream (and releases its file descriptor) with an AbortError. */
  signal?: AbortSignal;
  /**
   * Asked before each chunk of the archive is read: a promise returned holds the read (not the blocks already
   * read) until it settles; undefined goes on at once. Lets the caller put more urgent work first (the HTTP layer's
   * PlansFirst: the plans of new downloads). Default: never hold.
   */
  beforeRead?: () => Promise<void> | undefined;
}

export interface ArchiveEntry {
  /** Path inside the archive: `<segment>/`, `<segment>/v3/`, `<segment>/v3/columns.psf`. */
  archivePath: string;
  absPath: string;
  kind: 'directory' | 'file';
  /** lstat at planning time: a file read later must still be this version. */
  stats: BigIntStats;
  header: Buffer;
}

export interface SegmentArchivePlan {
  segment: ResolvedSegment;
  /** First the top-level directory, then every directory before its children. */
  entries: ArchiveEntry[];
  /** Exact size of the uncompressed tar. */
  tarBytes: number;
}

export const DEFAULT_GZIP_LEVEL = 1;
export const DEFAULT_READ_SIZE = 1024 * 1024;

export interface PlanOptions {
  /**
   * The caller resolved `segment` just before, in the same request (SegmentStore.resolve, then this): its seal was
   * read and its directory lstat-ed a moment ago, so neither is read again here. Default false: the seal is checked
   * first, because a segment resolved earlier (a repair's, possibly minutes old) may have been replaced since, and
   * that should fail before the first byte rather than after the last. Either way the seal is compared again before
   * the end-of-archive marker, so a replacement at any moment still ends in SegmentChangedError, never in a clean
   * archive of mixed versions. Skipping the re-read saves 6 of a download's ~24 file-system calls before its first
   * byte (an lstat, creation.meta's open/fstat/read/close, the directory's second lstat).
   */
  justResolved?: boolean;
}

/**
 * Lists what the archive will contain, before any byte is sent, so a caller can still answer with
 * an error status. Throws SegmentChangedError if the segment changed since it was resolved (see
 * PlanOptions.justResolved), and UnsafeSegmentError if it contains a symlink or a special file.
 *
 * Symlinks are refused rather than skipped: Pinot never writes them into a segment, so one is either
 * tampering or a bug, and an archive silently missing a file would load as a broken segment on the
 * peer. Refusing before the first byte gives the client a clean 404 instead of a truncated download.
 */
export async function planSegmentArchive(
  segment: ResolvedSegment,
  options: PlanOptions = {},
): Promise<SegmentArchivePlan> {
  const rootStats = options.justResolved === true ? segment.dirStats : await assertSealUnchanged(segment);
  const tree = await readingSegment(segment.dir, segment.dir, () => walkSegmentTree(segment.dir));
  const entries: ArchiveEntry[] = [archiveEntry(`${segment.segmentName}/`, segment.dir, 'directory', rootStats)];
  for (const node of tree) {
    if (node.kind === 'symlink' || node.kind === 'other') {
      const what = node.kind === 'symlink' ? 'a symlink' : 'a special file';
      throw new UnsafeSegmentError(segment.tableNameWithType, segment.segmentName, `contains ${what}: ${node.relPath}`);
    }
    const suffix = node.kind === 'directory' ? '/' : '';
    entries.push(archiveEntry(`${segment.segmentName}/${node.relPath}${suffix}`, node.absPath, node.kind, node.stats));
  }
  const tarBytes =
    entries.reduce(
      (sum, entry) => sum + entryArchiveSize(entry.header, { kind: entry.kind, size: Number(entry.stats.size) }),
      0,
    ) + endOfArchive().length;
  return { segment, entries, tarBytes };
}

/**
 * Streams a sealed segment as a gzipped tar in Pinot's archive shape, with no temp file and bounded
 * memory (docs/pinot-interop.md, "Archive format"; Pinot's own endpoint, TablesResource, tars to a temp
 * file first). Given a ResolvedSegment it plans first (errors then arrive before the first byte); given
 * a plan it starts at once. While streaming, a file that vanished, shrank, grew or
 * was replaced, or a seal (`creation.meta`, checked again before the end-of-archive marker) that
 * changed, destroys the stream with SegmentChangedError: the consumer sees an error, never a clean
 * end of a truncated or mixed archive. Destroying the stream releases its file descriptor.
 *
 * Why the archive is written here instead of by node-tar's Pack: Pack opens up to `jobs` files ahead
 * and leaves their descriptors open when its stream is destroyed mid-way. Here one async generator
 * produces the tar bytes and holds at most one file descriptor, closed in a `finally`; feedArchive runs
 * that `finally` (the generator's return()) whenever it stops early, so a client abort, a failed upload or an
 * error releases everything. Only the header encoding comes from node-tar.
 *
 * Compression: the uncompressed tar is written into createParallelGzip, which compresses blocks of it on
 * every thread of the compression pool (shared by all downloads and uploads of the process) and still
 * writes ONE gzip member, as Pinot's untar requires (see ParallelGzip). Level 1 by default: ~1.8x faster
 * than 6 for ~3% more bytes. Pinot sniffs the gzip magic, so the level is invisible to it. Level 0 writes
 * stored blocks: a valid member, no compression work.
 */
export function streamSegmentArchive(
  source: ResolvedSegment | SegmentArchivePlan,
  options: SegmentArchiveOptions = {},
): Readable {
  const buffers = new ReadBuffers(options.readSize ?? DEFAULT_READ_SIZE);
  const gzip = createParallelGzip({
    level: options.gzipLevel ?? DEFAULT_GZIP_LEVEL,
    // A plan has checked all that could fail before the first byte: the header goes at once.
    headerAtOnce: isPlan(source),
    ...(options.compressionPool === undefined ? {} : { pool: options.compressionPool }),
  });
  if (options.signal !== undefined) addAbortSignal(options.signal, gzip);
  void feedArchive(tarBytes(source, buffers), gzip, buffers, options.beforeRead);
  return gzip;
}

/**
 * Read buffers of one archive stream, each filled again once the compressor has taken its bytes instead of a new
 * 1 MiB allocation per read: with one buffer being read while the other is copied into blocks, a stream holds
 * two. Measured on a 64 MiB download (bench-style segment, 2 threads): the server's main thread spent 143-155 ms
 * of CPU with a fresh buffer per read and 112-127 ms with reused ones — the difference was garbage collection
 * of external memory, which also delays every other request's first byte.
 */
class ReadBuffers {
  readonly #free: Buffer[] = [];
  /** The ArrayBuffers this stream allocated: only those are ever filled again. */
  readonly #owned = new Set<ArrayBufferLike>();

  constructor(readonly size: number) {}

  /** A buffer of `size` bytes that nothing else references. */
  take(): Buffer {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    const buffer = Buffer.allocUnsafeSlow(this.size);
    this.#owned.add(buffer.buffer);
    return buffer;
  }

  /** `chunk` (a buffer from take(), or a view of one) has been consumed; any other chunk is ignored. */
  release(chunk: Buffer): void {
    if (this.#owned.has(chunk.buffer)) this.#free.push(Buffer.from(chunk.buffer, 0, this.size));
  }
}

/**
 * Writes the tar chunks into the compressor, reading the next chunk while the compressor copies the current one
 * into its blocks, and handing a read buffer back only once its write's callback says the compressor has taken
 * all of it (ParallelGzip calls it after the last byte is copied; a slow reader holds it, which is the
 * backpressure). A chunk that fails to be read destroys the compressor with that error, so the consumer sees it;
 * a compressor that closes first (client gone, abort, an error downstream) stops the generator, whose `finally`
 * closes its file.
 */
async function feedArchive(
  chunks: AsyncGenerator<Buffer, void>,
  gzip: Writable,
  buffers: ReadBuffers,
  beforeRead: (() => Promise<void> | undefined) | undefined,
): Promise<void> {
  // A hold ends early when the compressor closes, so a destroyed stream closes its file at once, whatever the hold.
  const closed = new Promise<void>((resolve) => gzip.once('close', resolve));
  /** The next chunk, once `beforeRead` lets it be read; nothing is read for a compressor already gone. */
  const advance = async (): Promise<IteratorResult<Buffer, void>> => {
    const hold = beforeRead?.();
    if (hold !== undefined) await Promise.race([hold, closed]);
    return gzip.destroyed ? { done: true, value: undefined } : chunks.next();
  };
  let next = advance();
  try {
    for (;;) {
      const { value, done } = await next;
      if (done === true) {
        if (!gzip.destroyed) gzip.end();
        return;
      }
      if (gzip.destroyed) return;
      next = advance();
      // Read ahead: its failure is awaited (and thrown) on the next turn, not while the write is pending.
      next.catch(() => undefined);
      if (!(await written(gzip, value))) return;
      buffers.release(value);
    }
  } catch (err) {
    gzip.destroy(err instanceof Error ? err : new Error(String(err)));
  } finally {
    // Settle a read in flight before closing the generator (return() waits for it anyway), and ignore its error:
    // the compressor already ended or carries the first error.
    await next.catch(() => undefined);
    await chunks.return(undefined).catch(() => undefined);
  }
}

/** Resolves true once `stream` has taken all of `chunk` (the write's callback), false if it closes first. */
function written(stream: Writable, chunk: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false);
    stream.once('close', onClose);
    stream.write(chunk, (err) => {
      stream.off('close', onClose);
      resolve(err === undefined || err === null);
    });
  });
}

function archiveEntry(
  archivePath: string,
  absPath: string,
  kind: 'directory' | 'file',
  stats: BigIntStats,
): ArchiveEntry {
  const header = encodeEntryHeader({
    path: archivePath,
    kind,
    mode: Number(stats.mode & 0o7777n),
    uid: Number(stats.uid),
    gid: Number(stats.gid),
    size: Number(stats.size),
    mtime: new Date(Number(stats.mtimeMs)),
  });
  return { archivePath, absPath, kind, stats, header };
}

function isPlan(source: ResolvedSegment | SegmentArchivePlan): source is SegmentArchivePlan {
  return 'entries' in source;
}

async function* tarBytes(
  source: ResolvedSegment | SegmentArchivePlan,
  buffers: ReadBuffers,
): AsyncGenerator<Buffer, void> {
  const plan = isPlan(source) ? source : await planSegmentArchive(source);
  const segmentDir = plan.segment.dir;
  for (const entry of plan.entries) {
    yield entry.header;
    if (entry.kind === 'file' && entry.stats.size > 0n) {
      yield* fileBytes(segmentDir, entry, buffers);
      yield paddingAfter(Number(entry.stats.size));
    }
  }
  // Without this check a segment replaced during the last file would end as a clean archive.
  await assertSealUnchanged(plan.segment);
  yield endOfArchive();
}

/**
 * One file's bytes, exactly the size its header announced. The descriptor is closed in `finally`,
 * which also runs when the consumer destroys the stream while this generator is suspended.
 */
async function* fileBytes(segmentDir: string, entry: ArchiveEntry, buffers: ReadBuffers): AsyncGenerator<Buffer, void> {
  const path = entry.absPath;
  const expected = identityOf(entry.stats);
  let handle: FileHandle | undefined;
  try {
    // O_NOFOLLOW: a file swapped for a symlink since planning fails instead of being followed.
    handle = await readingSegment(segmentDir, path, () => open(path, constants.O_RDONLY | constants.O_NOFOLLOW));
    const opened = handle;
    await assertSameVersion(segmentDir, path, opened, expected);
    let position = 0;
    let remaining = Number(entry.stats.size);
    while (remaining > 0) {
      const buffer = buffers.take();
      const length = Math.min(buffer.length, remaining);
      const { bytesRead } = await readingSegment(segmentDir, path, () => opened.read(buffer, 0, length, position));
      if (bytesRead === 0) throw new SegmentChangedError(segmentDir, `${path} shrank while being read`);
      position += bytesRead;
      remaining -= bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
    // A file rewritten in place while we read it would mix old and new bytes.
    await assertSameVersion(segmentDir, path, opened, expected);
  } finally {
    await handle?.close();
  }
}

/** The open file must be the version that was planned: same inode, size and mtime. */
async function assertSameVersion(
  segmentDir: string,
  path: string,
  handle: FileHandle,
  expected: FileIdentity,
): Promise<void> {
  const stats = await readingSegment(segmentDir, path, () => handle.stat({ bigint: true }));
  const change = identityChange(expected, identityOf(stats));
  if (change !== undefined) throw new SegmentChangedError(segmentDir, `${path} ${change}`);
}
