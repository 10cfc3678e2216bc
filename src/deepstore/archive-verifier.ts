import type { Readable } from 'node:stream';
import { createInflateRaw, crc32, type InflateRaw } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { CREATION_META, crcFromCreationMeta, V3_DIR } from '../pinot-format/index.js';
import {
  checkGzipTrailer,
  GZIP_TRAILER_BYTES,
  parseGzipHeader,
  TailBytes,
  trailingBytesProblem,
} from './gzip-member.js';

/** What a full read of a stored object found. */
export type ArchiveCheck =
  | { kind: 'verified'; bytes: number }
  /** `reason` says what is wrong, for logs and status ("gzip data cut short: the object is truncated"). */
  | { kind: 'unverified'; reason: string; bytes: number };

export interface ArchiveCheckOptions {
  /** Aborting destroys the source and rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Compressed bytes handed to the inflater at a time. Each hand-over waits for the threadpool to take the
 * chunk (that wait is how the end of the deflate data is found), so small chunks cost a round trip each:
 * measured on a 69 MiB archive, 64 KiB feeds (a file stream's or a socket's chunks) took 2.5 times as long as
 * a plain gunzip, 1 MiB feeds as long.
 */
const FEED_BYTES = 1024 * 1024;

/** Why a read stopped early: the bytes cannot be a complete archive of the segment. */
class NotTheArchive extends Error {}

/**
 * Read `source` to its end and say whether it is a complete segment archive, as Pinot would load it, whose
 * `creation.meta` holds `expectedCrc`. Verified means all of:
 *
 * - one gzip member, inflated whole: the header, the deflate data and the trailer's CRC-32 and length match,
 *   and nothing follows the trailer (Pinot reads only the first member; see gzip-member.ts);
 * - a tar read to its end-of-archive marker without a warning from node-tar (a tar cut at an entry boundary
 *   inflates cleanly; only the missing end-of-archive blocks show the cut);
 * - the first entry is a folder (TarCompressionUtils.untar(...).get(0) is moved into place as the segment) and
 *   every `creation.meta` in it (`<folder>/creation.meta`, `<folder>/v3/creation.meta`) holds `expectedCrc`.
 *
 * This catches accidents (a cut or damaged copy, a stray file, another segment); it cannot catch a forgery by
 * someone with write access to the deep store, who could equally write a well-formed archive of wrong data.
 *
 * Memory stays bounded whatever the size: the source is read at the pace of the inflater, one chunk at a time.
 * The inflating runs in zlib's threadpool (`createInflateRaw`, not node-tar's gzip, which inflates on the
 * event loop); the event loop parses tar headers and computes the CRC-32 of the inflated bytes (the trailer
 * check, since raw inflate does not do it), about 2 GB/s in small slices.
 *
 * Resolves `unverified` for anything about the bytes; rejects only when the source itself fails (an I/O
 * error, a reset connection: nothing is known then) or with `signal.reason` when aborted. The source is
 * consumed or destroyed either way.
 */
export async function verifyArchiveStream(
  source: Readable,
  expectedCrc: string,
  options: ArchiveCheckOptions = {},
): Promise<ArchiveCheck> {
  const { signal } = options;
  const inflate = createInflateRaw();
  const tar = new TarCheck(expectedCrc);
  const walking = tar.walk(inflate);
  walking.catch(() => {}); // its failure is the inflater's, reported by feed() below
  const onAbort = (): void => {
    source.destroy(signal?.reason as Error);
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  let bytes = 0;
  try {
    signal?.throwIfAborted();
    let header: Buffer | null = Buffer.alloc(0);
    let afterHeader = 0;
    let fed = 0;
    let deflateEnded = false;
    const tail = new TailBytes(GZIP_TRAILER_BYTES);
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    const feedPending = async (): Promise<void> => {
      const batch = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending.length = 0;
      pendingBytes = 0;
      if (deflateEnded || batch.length === 0) return;
      await feed(inflate, batch);
      fed += batch.length;
      // Raw inflate stops at the end of the deflate data and leaves the rest of its input unconsumed.
      deflateEnded = inflate.bytesWritten < fed;
    };
    for await (const chunk of source as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      let rest = chunk;
      if (header !== null) {
        header = Buffer.concat([header, chunk]);
        const parsed = parseGzipHeader(header);
        if (parsed.kind === 'invalid') throw new NotTheArchive(parsed.reason);
        if (parsed.kind === 'incomplete') continue;
        rest = header.subarray(parsed.length);
        header = null;
      }
      afterHeader += rest.length;
      tail.push(rest);
      pending.push(rest);
      pendingBytes += rest.length;
      if (pendingBytes >= FEED_BYTES) await feedPending();
      tar.throwIfFailed();
      // A second member (or anything else) after the trailer: known without reading it.
      const trailing = deflateEnded ? trailingBytesProblem(afterHeader - inflate.bytesWritten) : null;
      if (trailing !== null) throw new NotTheArchive(trailing);
    }
    if (header !== null)
      throw new NotTheArchive(
        bytes === 0 ? 'the object is empty' : `the object is shorter than a gzip header (${bytes} bytes)`,
      );
    await feedPending();
    await finish(inflate);
    await walking;
    const trailerProblem = checkGzipTrailer({
      bytesAfterDeflate: afterHeader - inflate.bytesWritten,
      tail: tail.bytes(),
      inflatedCrc32: tar.inflatedCrc32,
      inflatedBytes: tar.inflatedBytes,
    });
    if (trailerProblem !== null) throw new NotTheArchive(trailerProblem);
    tar.throwIfIncomplete();
    return { kind: 'verified', bytes };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof NotTheArchive) return { kind: 'unverified', reason: err.message, bytes };
    const zlibProblem = zlibFormatProblem(err);
    if (zlibProblem !== null) return { kind: 'unverified', reason: zlibProblem, bytes };
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    source.destroy();
    inflate.destroy();
  }
}

/** Write one chunk and wait until the inflater has consumed it (or failed). */
function feed(inflate: InflateRaw, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    inflate.once('error', onError);
    inflate.write(chunk, (err) => {
      inflate.off('error', onError);
      if (err) reject(err);
      else resolve();
    });
  });
}

/** End the input and wait for the inflater to flush; a deflate stream without its end fails here. */
function finish(inflate: InflateRaw): Promise<void> {
  return new Promise((resolve, reject) => {
    inflate.once('error', reject);
    inflate.end(() => {
      inflate.off('error', reject);
      resolve();
    });
  });
}

/** zlib's word for bytes that are not what they claim to be (Z_DATA_ERROR, Z_BUF_ERROR...), or null. */
function zlibFormatProblem(err: unknown): string | null {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !code.startsWith('Z_')) return null;
  if (code === 'Z_BUF_ERROR') return 'gzip data cut short: the object is truncated';
  return `gzip data corrupt (${code}: ${String(message)})`;
}

const NESTED_MAGIC: Array<{ magic: number[]; name: string }> = [
  { magic: [0x1f, 0x8b], name: 'gzip' },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], name: 'zstd' },
];

/**
 * The tar side: node-tar's Parser fed the inflated bytes (it only parses headers here), plus the CRC-32 and
 * length of those bytes for the gzip trailer. Records the first problem and stops caring after it.
 */
class TarCheck {
  inflatedCrc32 = 0;
  inflatedBytes = 0;
  private failure: string | undefined;
  private sawEndOfArchive = false;
  private root: string | undefined;
  private readonly crcs: string[] = [];
  private readonly parser = new Parser({ zstd: false });

  constructor(private readonly expectedCrc: string) {
    this.parser.on('warn', (code: string, message: string) => this.fail(`tar: ${code}: ${message}`));
    this.parser.on('error', (err: Error) => this.fail(`tar: ${err.message}`));
    this.parser.on('eof', () => {
      this.sawEndOfArchive = true;
    });
    this.parser.on('entry', (entry: ReadEntry) => this.onEntry(entry));
  }

  /** Parse everything the inflater yields; resolves when the parser has seen the end of it. */
  async walk(inflate: InflateRaw): Promise<void> {
    // destroyOnReturn: false. The inflater's output ends at the end of the deflate data while its input side
    // still takes the trailer; the iterator would otherwise destroy it then, with an AbortError.
    for await (const chunk of inflate.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (this.inflatedBytes === 0) this.checkNotNested(chunk);
      this.inflatedCrc32 = crc32(chunk, this.inflatedCrc32);
      this.inflatedBytes += chunk.length;
      // write()'s answer is not awaited: every entry is consumed as the parser meets it (resumed, or read for
      // creation.meta), so the parser holds nothing back and its memory stays at one chunk.
      if (this.failure === undefined) this.parser.write(chunk);
    }
    if (this.failure !== undefined) return;
    await new Promise<void>((resolve) => {
      this.parser.once('end', resolve);
      this.parser.once('abort', resolve);
      this.parser.end();
    });
  }

  throwIfFailed(): void {
    if (this.failure !== undefined) throw new NotTheArchive(this.failure);
  }

  throwIfIncomplete(): void {
    this.throwIfFailed();
    if (!this.sawEndOfArchive) throw new NotTheArchive('tar has no end-of-archive marker: the archive is cut short');
    if (this.root === undefined) throw new NotTheArchive('tar has no entries');
    if (this.crcs.length === 0) throw new NotTheArchive(`no creation.meta in ${this.root}/ or ${this.root}/v3/`);
    const wrong = this.crcs.find((crc) => crc !== this.expectedCrc);
    if (wrong !== undefined)
      throw new NotTheArchive(
        `creation.meta holds CRC ${wrong}, expected ${this.expectedCrc}: another segment or version`,
      );
  }

  private fail(reason: string): void {
    this.failure ??= reason;
  }

  /** A tar inside the gzip must be a plain tar: node-tar would inflate a nested one again, on the event loop. */
  private checkNotNested(chunk: Buffer): void {
    const nested = NESTED_MAGIC.find(({ magic }) => magic.every((b, i) => chunk[i] === b));
    if (nested) this.fail(`the gzip holds ${nested.name} data, not a tar`);
  }

  private onEntry(entry: ReadEntry): void {
    const entryPath = entry.path.replace(/^\.\//, '');
    if (this.root === undefined) {
      const root = entryPath.replace(/\/$/, '');
      if (entry.type !== 'Directory' || root === '' || root.includes('/')) {
        this.fail(`the first archive entry (${entry.type} ${JSON.stringify(entry.path)}) is not the segment folder`);
      }
      this.root = root;
    }
    const isCreationMeta =
      entryPath === `${this.root}/${CREATION_META}` || entryPath === `${this.root}/${V3_DIR}/${CREATION_META}`;
    if (!isCreationMeta || entry.type !== 'File') {
      entry.resume();
      return;
    }
    let head = Buffer.alloc(0);
    entry.on('data', (chunk: Buffer) => {
      if (head.length < 8) head = Buffer.concat([head, chunk]);
    });
    entry.on('end', () => {
      const crc = crcFromCreationMeta(head);
      if (crc === null) this.fail(`${entry.path} is too short to hold a CRC`);
      else this.crcs.push(crc);
    });
  }
}
