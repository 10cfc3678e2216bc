import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { addAbortSignal, Readable } from 'node:stream';
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

/**
 * Lists what the archive will contain, before any byte is sent, so a caller can still answer with
 * an error status. Throws SegmentChangedError if the segment changed since it was resolved, and
 * UnsafeSegmentError if it contains a symlink or a special file.
 *
 * Symlinks are refused rather than skipped: Pinot never writes them into a segment, so one is either
 * tampering or a bug, and an archive silently missing a file would load as a broken segment on the
 * peer. Refusing before the first byte gives the client a clean 404 instead of a truncated download.
 */
export async function planSegmentArchive(segment: ResolvedSegment): Promise<SegmentArchivePlan> {
  await assertSealUnchanged(segment);
  const rootStats = await readingSegment(segment.dir, segment.dir, () => lstat(segment.dir, { bigint: true }));
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
 * produces the tar bytes and holds at most one file descriptor, closed in a `finally`; Readable.from()
 * runs that `finally` when the stream is destroyed, so a client abort, a failed upload or an error
 * releases everything. Only the header encoding comes from node-tar.
 *
 * Compression: the uncompressed tar is piped into createParallelGzip, which compresses blocks of it on
 * every thread of the compression pool (shared by all downloads and uploads of the process) and still
 * writes ONE gzip member, as Pinot's untar requires (see ParallelGzip). Level 1 by default: ~1.8x faster
 * than 6 for ~3% more bytes. Pinot sniffs the gzip magic, so the level is invisible to it. Level 0 writes
 * stored blocks: a valid member, no compression work.
 */
export function streamSegmentArchive(
  source: ResolvedSegment | SegmentArchivePlan,
  options: SegmentArchiveOptions = {},
): Readable {
  const readSize = options.readSize ?? DEFAULT_READ_SIZE;
  const tar = Readable.from(tarBytes(source, readSize), { objectMode: false, highWaterMark: readSize });
  const gzip = createParallelGzip({
    level: options.gzipLevel ?? DEFAULT_GZIP_LEVEL,
    // A plan has checked all that could fail before the first byte: the header goes at once.
    headerAtOnce: isPlan(source),
    ...(options.compressionPool === undefined ? {} : { pool: options.compressionPool }),
  });
  // Wired by hand rather than with pipeline() so each direction is explicit: a tar error becomes the
  // consumer's error, and the consumer closing (or erroring) the output stops the tar generator.
  tar.on('error', (err) => gzip.destroy(err));
  gzip.once('close', () => tar.destroy());
  tar.pipe(gzip);
  if (options.signal !== undefined) addAbortSignal(options.signal, gzip);
  return gzip;
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

async function* tarBytes(source: ResolvedSegment | SegmentArchivePlan, readSize: number): AsyncGenerator<Buffer> {
  const plan = isPlan(source) ? source : await planSegmentArchive(source);
  const segmentDir = plan.segment.dir;
  for (const entry of plan.entries) {
    yield entry.header;
    if (entry.kind === 'file' && entry.stats.size > 0n) {
      yield* fileBytes(segmentDir, entry, readSize);
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
async function* fileBytes(segmentDir: string, entry: ArchiveEntry, readSize: number): AsyncGenerator<Buffer> {
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
      const buffer = Buffer.allocUnsafe(Math.min(readSize, remaining));
      const { bytesRead } = await readingSegment(segmentDir, path, () =>
        opened.read(buffer, 0, buffer.length, position),
      );
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
