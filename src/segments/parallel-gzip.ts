// A gzip compressor whose work is split into blocks compressed in parallel on a CompressionPool, yet whose
// output is ONE gzip member, byte-for-byte valid for any gzip reader (pigz's method). Used by
// streamSegmentArchive for downloads and deep-store uploads alike.

import { Duplex } from 'node:stream';
import { defaultCompressionPool, type CompressionPool, type DeflateResult } from './compression-pool.js';
import { crc32Combine, gzipHeader, gzipTrailer } from './gzip-member.js';

/** Deflate's window: the most a back-reference can reach, so the most of a previous block worth priming. */
const WINDOW_BYTES = 32 * 1024;

/**
 * 1 MiB (pigz uses 128 KiB). With each block primed by the previous 32 KiB the size does not depend on the
 * block size (measured on half random, half text data at level 1: 128 KiB to 1 MiB all within 0.02% of each
 * other, and 0.2% *smaller* than one zlib stream). What a block costs besides its deflate — a new zlib state, the
 * dictionary, the sync flush, two messages — is paid per block: on 2 cores a download was 0.71–0.75x pigz with
 * 256 KiB blocks, ~0.85x with 512 KiB and 0.85–0.88x with 1 MiB (bench/parallel-gzip.ts and a bare-client A/B,
 * medians). Memory does not grow with it: streams share the pool's blocks in flight (about 2 per thread in all), so
 * 8 downloads at once hold one block each (175 MiB peak, against 190–201 MiB with 512 KiB blocks and four in flight
 * per stream). The first byte does not wait for the first block (headerAtOnce).
 */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;

/**
 * Input bytes one stream may have in flight by default: 2 blocks per thread, up to this. The pool's share
 * (CompressionPool.blocksInFlightShare) already keeps all streams together at about 2 blocks per thread; this only
 * bounds a lone download when `--compression-threads` is set high (64 threads x 2 x 1 MiB would be 128 MiB).
 */
export const MAX_DEFAULT_BYTES_IN_FLIGHT = 16 * 1024 * 1024;

/** Blocks in flight per stream by default: 2 per pool thread (one compressing, one queued), within the byte cap. */
export function defaultBlocksInFlight(threads: number, blockSize: number): number {
  return Math.max(2, Math.min(2 * threads, Math.floor(MAX_DEFAULT_BYTES_IN_FLIGHT / blockSize)));
}

/**
 * Recycled block buffers kept per stream, beyond the one being filled: one covers the steady state (a block comes
 * back from its worker about when the next one is full); a second one cost 8 MiB of peak RSS with 8 downloads.
 */
const SPARE_BLOCKS = 1;

export interface ParallelGzipOptions {
  /** zlib level 0-9, default 1. Level 0 emits stored blocks: still one valid member, no compression work. */
  level?: number;
  /** Where blocks are compressed; default the process-wide pool (defaultCompressionPool()). */
  pool?: CompressionPool;
  /** Input bytes per block, at least 32 KiB (a block must be able to fill the next one's dictionary). */
  blockSize?: number;
  /**
   * Blocks of this stream dispatched but not yet passed to the consumer (compressing, queued, or compressed
   * and waiting for a slow reader). Bounds the stream's memory to about this many blocks in and out. Given, it is
   * the bound. By default the stream takes its share of the pool's blocks (CompressionPool.blocksInFlightShare),
   * at most defaultBlocksInFlight(): 2 × pool.threads (one stream keeps every thread busy while its next block
   * fills), at most MAX_DEFAULT_BYTES_IN_FLIGHT of input.
   */
  maxBlocksInFlight?: number;
  /**
   * Push the gzip header at construction instead of with the first input. For a caller that has already
   * checked everything that could fail before the first byte (streamSegmentArchive given a plan): the client
   * then has the first bytes while the first file is still being read and the pool is busy with other
   * streams. Default false: a stream whose input fails at once emits nothing, as zlib's gzip.
   */
  headerAtOnce?: boolean;
}

/** One dispatched block, in stream order; `result` arrives when its worker is done. */
interface Slot {
  result: DeflateResult | undefined;
}

/** A write being consumed into blocks: held (its callback not called) while the stream has no room. */
interface PendingWrite {
  chunk: Buffer;
  offset: number;
  callback: (error?: Error | null) => void;
}

/**
 * Writable side: uncompressed bytes. Readable side: one gzip member.
 *
 * Why one member: Pinot untars with commons-compress's default CompressorStreamFactory
 * (TarCompressionUtils.untar → createCompressorInputStream), whose GzipCompressorInputStream does not
 * decompress concatenated members: it stops at the end of the first one, so a multi-member archive (the
 * simple way to compress in parallel) would arrive as a silently truncated segment. Instead, as pigz does,
 * every block is an independent raw deflate stream primed with the previous block's last 32 KiB as dictionary
 * (so the ratio matches one zlib stream) and ended with Z_SYNC_FLUSH (byte boundary, no final bit); the
 * last block ends with Z_FINISH. Concatenated in order they are one deflate stream; one header goes before
 * it, and one trailer after it, whose CRC-32 combines the per-block CRCs (crc32Combine) and whose ISIZE is
 * the total length mod 2^32 (RFC 1952).
 *
 * Memory and backpressure: a write is consumed only while the stream has fewer blocks in flight than its share
 * of the pool's (CompressionPool.blocksInFlightShare: about 2 per thread among all the pool's streams, at least
 * one, at most `maxBlocksInFlight`; a `maxBlocksInFlight` given is used as is); a block leaves the count only when
 * its output is handed to the consumer (push() accepted it), so a slow reader stops the writer — and the tar reader
 * behind it — after at most that many blocks, and memory follows the pool's size rather than the number of
 * downloads.
 *
 * Time to first byte: the header is pushed with the first input, or at construction with `headerAtOnce`, and
 * the first block is dispatched as soon as it is full.
 *
 * Destroying (client gone, abort, an error from the writer side) removes this stream's queued jobs from the
 * pool and drops its buffers; a job already running on a worker finishes there and its result is discarded.
 */
export class ParallelGzip extends Duplex {
  readonly level: number;
  readonly blockSize: number;
  readonly maxBlocksInFlight: number;
  readonly #pool: CompressionPool;
  readonly #abort = new AbortController();
  #block: Buffer | undefined;
  #filled = 0;
  #dictionary: Buffer | undefined;
  /** Block buffers back from the workers, filled again instead of allocating (at most SPARE_BLOCKS). */
  #spare: ArrayBuffer[] = [];
  #slots: Slot[] = [];
  #write: PendingWrite | undefined;
  #final: ((error?: Error | null) => void) | undefined;
  #lastDispatched = false;
  #wantsData = false;
  #headerSent = false;
  #crc = 0;
  #length = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #peakBlocksInFlight = 0;
  /** `maxBlocksInFlight` was given: it is the bound, used as is, not shared with the pool's other streams. */
  readonly #boundGiven: boolean;
  /** Stops counting this stream among the pool's (idempotent): at the end of the member, or when destroyed. */
  readonly #leavePool: () => void;

  constructor(options: ParallelGzipOptions = {}) {
    super({ allowHalfOpen: true });
    const level = options.level ?? 1;
    if (!Number.isInteger(level) || level < 0 || level > 9)
      throw new RangeError(`gzip level must be 0-9, got ${level}`);
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isInteger(blockSize) || blockSize < WINDOW_BYTES) {
      throw new RangeError(`block size must be an integer of at least ${WINDOW_BYTES}, got ${blockSize}`);
    }
    this.#pool = options.pool ?? defaultCompressionPool();
    const maxBlocksInFlight = options.maxBlocksInFlight ?? defaultBlocksInFlight(this.#pool.threads, blockSize);
    if (!Number.isInteger(maxBlocksInFlight) || maxBlocksInFlight < 1) {
      throw new RangeError(`blocks in flight must be a positive integer, got ${maxBlocksInFlight}`);
    }
    this.level = level;
    this.blockSize = blockSize;
    this.maxBlocksInFlight = maxBlocksInFlight;
    this.#boundGiven = options.maxBlocksInFlight !== undefined;
    this.#leavePool = this.#pool.join();
    if (options.headerAtOnce === true) this.#sendHeader();
  }

  /** Uncompressed bytes taken from the writer so far. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** Compressed bytes handed to the consumer so far, header and trailer included. */
  get bytesOut(): number {
    return this.#bytesOut;
  }

  /** Blocks dispatched and not yet handed to the consumer. */
  get blocksInFlight(): number {
    return this.#slots.length;
  }

  /** The most blocks that were ever in flight at once (never above maxBlocksInFlight). */
  get peakBlocksInFlight(): number {
    return this.#peakBlocksInFlight;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#sendHeader();
    this.#write = { chunk, offset: 0, callback };
    this.#consume();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#sendHeader();
    this.#final = callback;
    this.#drain(); // dispatches the last block once there is room for it
  }

  override _read(): void {
    this.#wantsData = true;
    this.#drain();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#leavePool();
    this.#abort.abort(error ?? new Error('the gzip stream was destroyed'));
    // A held write's callback is not called: the Writable is destroyed and takes nothing more.
    this.#write = undefined;
    this.#final = undefined;
    this.#block = undefined;
    this.#dictionary = undefined;
    this.#slots = [];
    this.#spare = [];
    callback(error);
  }

  #sendHeader(): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    this.#pushOut(gzipHeader(this.level));
  }

  #pushOut(bytes: Buffer): boolean {
    this.#bytesOut += bytes.length;
    return this.push(bytes);
  }

  /** Copies the held write into blocks while there is room; calls its callback once it is all taken. */
  #consume(): void {
    const write = this.#write;
    if (write === undefined) return;
    while (write.offset < write.chunk.length) {
      if (this.#slots.length >= this.#blocksAllowed()) return; // #drain resumes when a block leaves
      this.#block ??= this.#newBlock();
      const copied = write.chunk.copy(this.#block, this.#filled, write.offset);
      write.offset += copied;
      this.#filled += copied;
      this.#bytesIn += copied;
      if (this.#filled === this.blockSize) this.#dispatch(false);
    }
    this.#write = undefined;
    write.callback();
  }

  /** This stream's share of the pool's blocks in flight now (blocksInFlightShare), at most its own bound. */
  #blocksAllowed(): number {
    return this.#boundGiven ? this.maxBlocksInFlight : this.#pool.blocksInFlightShare(this.maxBlocksInFlight);
  }

  #newBlock(): Buffer {
    const spare = this.#spare.pop();
    return spare === undefined ? Buffer.allocUnsafeSlow(this.blockSize) : Buffer.from(spare);
  }

  /** Sends the filling block (possibly empty when `last`) to the pool, in order behind the others. */
  #dispatch(last: boolean): void {
    const input = (this.#block ?? Buffer.alloc(0)).subarray(0, this.#filled);
    const dictionary = this.#dictionary;
    // Copied before `input` moves to the worker. Stored blocks (level 0) have no back-references.
    this.#dictionary =
      last || this.level === 0 ? undefined : Buffer.from(input.subarray(Math.max(0, input.length - WINDOW_BYTES)));
    this.#block = undefined;
    this.#filled = 0;
    const slot: Slot = { result: undefined };
    this.#slots.push(slot);
    this.#peakBlocksInFlight = Math.max(this.#peakBlocksInFlight, this.#slots.length);
    this.#pool.compress({ input, dictionary, level: this.level, last }, { signal: this.#abort.signal }).then(
      (result) => {
        slot.result = result;
        if (!this.destroyed && result.recycled.byteLength === this.blockSize && this.#spare.length < SPARE_BLOCKS) {
          this.#spare.push(result.recycled);
        }
        this.#drain();
      },
      (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /**
   * Hands finished blocks to the consumer in order while it wants data, then lets a held write continue (or,
   * once the writer ended, dispatches the last block), and ends the member (trailer, end of stream) once the
   * last block is out. Every dispatch waits for room, so blocks in flight never exceed the bound.
   */
  #drain(): void {
    if (this.destroyed) return;
    while (this.#wantsData && this.#slots[0]?.result !== undefined) {
      const { output, crc, length } = this.#slots.shift()!.result!;
      this.#crc = crc32Combine(this.#crc, crc, length);
      this.#length = (this.#length + length) % 2 ** 32;
      this.#wantsData = this.#pushOut(output);
    }
    if (this.#slots.length < this.#blocksAllowed()) this.#consume();
    if (this.#final !== undefined && !this.#lastDispatched && this.#slots.length < this.#blocksAllowed()) {
      this.#lastDispatched = true;
      this.#dispatch(true);
    }
    if (this.#final !== undefined && this.#lastDispatched && this.#slots.length === 0) {
      const final = this.#final;
      this.#final = undefined;
      this.#pushOut(gzipTrailer(this.#crc, this.#length));
      this.push(null);
      this.#leavePool();
      final();
    }
  }
}

/** A gzip compressor that uses every thread of `pool` and still writes one member (see ParallelGzip). */
export function createParallelGzip(options: ParallelGzipOptions = {}): ParallelGzip {
  return new ParallelGzip(options);
}
