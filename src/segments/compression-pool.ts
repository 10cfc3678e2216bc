// A process-wide pool of compression threads: raw-deflate jobs (one block of a tar stream each) queued
// FIFO from every stream of the process and run on `threads` worker threads. parallel-gzip.ts turns the
// blocks into one gzip member; this module only runs jobs, cancels queued ones, and counts them.

import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CompressionError } from './errors.js';

/** Default thread cap: beyond 8 threads one download outruns most NICs and disks, and memory grows per thread. */
export const MAX_DEFAULT_COMPRESSION_THREADS = 8;

/** One block to compress. */
export interface DeflateJob {
  /**
   * The bytes. A view that covers its whole ArrayBuffer is *moved* to the worker (no copy; the caller's
   * view is empty afterwards); any other view (a slice, a pooled small Buffer) is copied first.
   */
  input: Uint8Array;
  /**
   * Up to 32 KiB that precede `input` in the stream: back-references may reach into it (deflateSetDictionary).
   * Moved or copied like `input`.
   */
  dictionary?: Uint8Array;
  /** zlib level 0-9. */
  level: number;
  /**
   * The stream's last block: ends the deflate stream (Z_FINISH, BFINAL set). Any other block ends with
   * Z_SYNC_FLUSH: on a byte boundary with no final bit, so the next block's output can simply follow it.
   */
  last: boolean;
}

export interface DeflateResult {
  /** Raw deflate bytes (no zlib or gzip frame). */
  output: Buffer;
  /** CRC-32 of the input, computed by the worker. */
  crc: number;
  /** Length of the input. */
  length: number;
  /**
   * The input's ArrayBuffer, moved back from the worker: the caller may fill it again for a later block instead
   * of allocating one (both threads would otherwise leave a dead block per job to their garbage collectors).
   */
  recycled: ArrayBuffer;
}

export interface CompressionPoolOptions {
  /** Worker threads, default defaultCompressionThreads(). */
  threads?: number;
}

export interface CompressOptions {
  /** Aborting removes the job from the queue (rejecting with the reason); a running job finishes and is dropped. */
  signal?: AbortSignal;
}

/** What crosses to a worker: the block's ArrayBuffer is in the transfer list. */
interface JobMessage {
  id: number;
  input: ArrayBuffer;
  length: number;
  dictionary: Uint8Array | undefined;
  level: number;
  last: boolean;
}

type WorkerReply = { id: number; output: Uint8Array; crc: number; input: ArrayBuffer } | { id: number; error: string };

interface QueuedJob {
  message: JobMessage;
  transfer: ArrayBuffer[];
  resolve: (result: DeflateResult) => void;
  reject: (reason: unknown) => void;
  /** Detaches the abort listener; called once the job leaves the queue. */
  release: () => void;
}

interface PoolThread {
  worker: Worker;
  job: QueuedJob | undefined;
}

/**
 * The worker's whole program, evaluated as a CommonJS script (`eval: true`): the same code runs under the
 * compiled CLI, tsx and vitest, with no separate file to locate next to a `.ts` or `.js` module.
 *
 * Every large buffer leaves the worker in the transfer list: the output (zlib's own output buffer: chunkSize
 * fits the whole block, so it is one buffer, never from Node's 8 KiB pool), the input and the dictionary. A
 * worker allocates little JavaScript, so its garbage collector runs rarely; dead blocks left in it would
 * pile up to V8's external-memory limit (~64 MiB) per worker. Measured: 8 concurrent downloads peaked ~90 MiB
 * higher with the output copied and the input left behind.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', (job) => {
  try {
    const input = new Uint8Array(job.input, 0, job.length);
    const options = {
      level: job.level,
      finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      chunkSize: Math.max(65536, job.length + (job.length >>> 8) + 1024),
    };
    if (job.dictionary !== undefined) options.dictionary = job.dictionary;
    let output = zlib.deflateRawSync(input, options);
    if (output.buffer.byteLength < 65536) output = new Uint8Array(output);
    const crc = zlib.crc32(input);
    const transfer = [output.buffer, job.input];
    if (job.dictionary !== undefined) transfer.push(job.dictionary.buffer);
    parentPort.postMessage({ id: job.id, output, crc, input: job.input }, transfer);
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** Cores available to this process, capped at MAX_DEFAULT_COMPRESSION_THREADS. */
export function defaultCompressionThreads(): number {
  return Math.max(1, Math.min(os.availableParallelism(), MAX_DEFAULT_COMPRESSION_THREADS));
}

/**
 * Runs deflate jobs on a fixed number of worker threads shared by every stream that uses the pool, so 8
 * concurrent downloads queue their blocks here instead of each starting `cores` jobs of its own.
 *
 * Why worker threads and not zlib's async calls on the libuv threadpool: the threadpool has 4 threads unless
 * UV_THREADPOOL_SIZE is in the environment *before* the pool first runs, and under ESM Node's own module loader
 * already runs it (async file reads) before the first line of the CLI executes — measured on Node 20: an
 * assignment at the top of the entry module is ignored. Only a launcher could set it, which every deployment
 * would have to get right. The threadpool also serves the tar's file reads, which would queue behind
 * compression jobs. Worker threads are exactly `threads` (the pool size is this class's own, settable by a
 * flag), separate from file IO, and ran as fast as the threadpool in the measurement (256 KiB blocks then, level 1:
 * same sizes, times within noise on the shared 2-core machine).
 *
 * Workers start on first use (a process that never compresses starts none), and are unref'd while idle so
 * they never keep a finished process alive; a worker that dies fails its job and is replaced on demand.
 */
export class CompressionPool {
  readonly threads: number;
  readonly #idle: PoolThread[] = [];
  readonly #busy = new Set<PoolThread>();
  readonly #queue: QueuedJob[] = [];
  #streams = 0;
  #nextId = 0;
  #closed = false;

  constructor(options: CompressionPoolOptions = {}) {
    const threads = options.threads ?? defaultCompressionThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new RangeError(`compression threads must be an integer from 1 to 256, got ${threads}`);
    }
    this.threads = threads;
  }

  /** Jobs running on a worker right now. */
  get active(): number {
    return this.#busy.size;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Worker threads started and alive. */
  get started(): number {
    return this.#idle.length + this.#busy.size;
  }

  /** Streams that share the pool now (join() / its leave function). */
  get streams(): number {
    return this.#streams;
  }

  /**
   * Counts a stream as sharing the pool until the returned function is called (calling it again does nothing).
   * The streams divide the pool's share of blocks in flight between them (blocksInFlightShare).
   */
  join(): () => void {
    this.#streams += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#streams -= 1;
    };
  }

  /**
   * How many blocks one of the current streams may have in flight, at most `max`: together about 2 per thread (one
   * compressing, one queued behind it), whatever the number of streams, and never fewer than one each. Memory then
   * follows the pool, not the number of downloads: 8 downloads on 2 threads hold one block each, a lone one four.
   */
  blocksInFlightShare(max: number): number {
    return Math.max(1, Math.min(max, Math.ceil((2 * this.threads) / Math.max(1, this.#streams))));
  }

  /** Compresses one block on the next free worker (FIFO across every caller of the pool). */
  compress(job: DeflateJob, options: CompressOptions = {}): Promise<DeflateResult> {
    if (this.#closed) return Promise.reject(new CompressionError('the compression pool is closed'));
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const input = ownedBuffer(job.input);
    const dictionary = job.dictionary === undefined ? undefined : ownedBuffer(job.dictionary);
    const transfer = dictionary === undefined ? [input] : [input, dictionary];
    return new Promise<DeflateResult>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#queue.indexOf(queued);
        if (index < 0) return; // already running: it finishes and its result is dropped by the caller
        this.#queue.splice(index, 1);
        queued.release();
        reject(signal?.reason);
      };
      const queued: QueuedJob = {
        message: {
          id: this.#nextId++,
          input,
          length: job.input.byteLength,
          dictionary: dictionary === undefined ? undefined : new Uint8Array(dictionary),
          level: job.level,
          last: job.last,
        },
        transfer,
        resolve,
        reject,
        release: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(queued);
      this.#schedule();
    });
  }

  /** Rejects queued jobs and stops every worker (running jobs reject too). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      job.release();
      job.reject(new CompressionError('the compression pool was closed'));
    }
    const threads = [...this.#idle.splice(0), ...this.#busy];
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  #schedule(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const thread = this.#idle.pop() ?? (this.started < this.threads ? this.#spawn() : undefined);
      if (thread === undefined) return;
      const job = this.#queue.shift()!;
      job.release();
      thread.job = job;
      this.#busy.add(thread);
      thread.worker.ref();
      thread.worker.postMessage(job.message, job.transfer);
    }
  }

  #spawn(): PoolThread {
    const thread: PoolThread = { worker: new Worker(WORKER_SOURCE, { eval: true }), job: undefined };
    thread.worker.unref();
    thread.worker.on('message', (reply: WorkerReply) => this.#finished(thread, reply));
    thread.worker.on('error', (err) =>
      this.#lost(thread, new CompressionError('a compression worker failed', { cause: err })),
    );
    thread.worker.on('exit', (code) => {
      const reason = this.#closed ? 'the compression pool was closed' : `a compression worker exited with code ${code}`;
      this.#lost(thread, new CompressionError(reason));
    });
    return thread;
  }

  #finished(thread: PoolThread, reply: WorkerReply): void {
    const job = thread.job;
    thread.job = undefined;
    this.#busy.delete(thread);
    thread.worker.unref();
    if (!this.#closed) this.#idle.push(thread);
    if (job !== undefined) {
      if ('error' in reply) job.reject(new CompressionError(reply.error));
      else {
        const output = Buffer.from(reply.output.buffer, reply.output.byteOffset, reply.output.byteLength);
        job.resolve({ output, crc: reply.crc, length: job.message.length, recycled: reply.input });
      }
    }
    this.#schedule();
  }

  /** A worker errored or exited: its job fails, the worker is forgotten, and the queue goes on with the others. */
  #lost(thread: PoolThread, error: CompressionError): void {
    const job = thread.job;
    thread.job = undefined;
    this.#busy.delete(thread);
    const idleIndex = this.#idle.indexOf(thread);
    if (idleIndex >= 0) this.#idle.splice(idleIndex, 1);
    job?.reject(error);
    this.#schedule();
  }
}

/** An ArrayBuffer that only this job references: the view's own buffer when it covers all of it, else a copy. */
function ownedBuffer(view: Uint8Array): ArrayBuffer {
  const { buffer } = view;
  if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength) return buffer;
  const copy = new Uint8Array(view.byteLength);
  copy.set(view);
  return copy.buffer;
}

let processPool: CompressionPool | undefined;

/**
 * The pool every stream uses unless given another: one per process, created on first use with
 * defaultCompressionThreads(), so code that passes no pool (tests, the demo) still shares threads. The CLI
 * builds its own pool from `--compression-threads` and passes it down instead.
 */
export function defaultCompressionPool(): CompressionPool {
  processPool ??= new CompressionPool();
  return processPool;
}
