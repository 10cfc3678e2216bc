import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CODEC_SNIFF_BYTES, detectArchiveCodec } from '../../segments/index.js';
import { CorruptArchiveError, LengthMismatchError, SourceError, UnsupportedArchiveError } from './errors.js';
import { extractSegmentTar } from './safe-untar.js';
import { checkHead } from './stream-head.js';

export interface ReceiveOptions {
  /** Content-Length or the store's object size; null when the source did not announce one (chunked answer). */
  expectedBytes: number | null;
  /** Empty folder the archive is extracted into; the segment ends up in `<dir>/<segment>/`. */
  dir: string;
  segment: string;
  /** Called with the running byte count (the progress line). */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * One source's bytes into a staging folder: count them against the announced size, sniff the compression,
 * gunzip (in zlib's threadpool, not on the event loop), untar safely. Any failure is this source's
 * SourceError; the caller discards the staging folder.
 */
export async function receiveArchive(body: Readable, options: ReceiveOptions): Promise<{ bytes: number }> {
  const { expectedBytes, onBytes } = options;
  let bytes = 0;
  async function* meter(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) {
        bytes += chunk.length;
        onBytes?.(bytes);
        if (expectedBytes !== null && bytes > expectedBytes) throw new LengthMismatchError(expectedBytes, bytes);
        yield chunk;
      }
    } catch (err) {
      if (err instanceof SourceError || options.signal?.aborted) throw err;
      // The connection broke or the file read failed mid-way.
      if (expectedBytes !== null) throw new LengthMismatchError(expectedBytes, bytes, { cause: err });
      throw new SourceError(`transfer interrupted after ${bytes} bytes: ${(err as Error).message}`, { cause: err });
    }
    // HttpClient.downloadFile: when Content-Length is present it must equal the bytes received.
    if (expectedBytes !== null && bytes !== expectedBytes) throw new LengthMismatchError(expectedBytes, bytes);
  }
  // pipeline() rejects as soon as one stage fails, without waiting for the last one: the extraction is awaited
  // on its own, so that nothing writes into `dir` any more when this returns (the caller removes it next). Its
  // verdict (a refused entry, a corrupt tar, the transfer's error as it saw it) names the failure better than
  // pipeline()'s first error, which may be the teardown of the stages before it (an AbortError).
  let extraction: Promise<SourceError | undefined> = Promise.resolve(undefined);
  const extract = (tar: AsyncIterable<Buffer>): Promise<number> => {
    const run = extractSegmentTar(tar, options.dir, options.segment);
    extraction = run.then(
      () => undefined,
      (err: unknown) => (err instanceof SourceError ? err : undefined),
    );
    return run;
  };
  try {
    // The body is read only by meter(), so a broken transfer surfaces there, where the byte count explains it.
    await pipeline(meter(body), sniffGzip, createGunzip(), extract, {
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    const verdict = await extraction;
    if (options.signal?.aborted) throw options.signal.reason;
    if (verdict) throw verdict;
    if (err instanceof SourceError) throw err;
    throw describeGunzipFailure(err);
  }
  return { bytes };
}

/**
 * Pinot detects the compressor from magic bytes whatever the name (TarCompressionUtils.untar →
 * CompressorStreamFactory.detect; docs/pinot-interop.md, "Archive format"). gzip is what every Pinot endpoint
 * and the default commit path write; zstd and lz4 need codecs Node 20 does not have.
 */
const sniffGzip = (source: AsyncIterable<Buffer>) => checkHead(source, CODEC_SNIFF_BYTES, checkCodec);

function checkCodec(head: Buffer): void {
  const codec = detectArchiveCodec(head);
  if (codec === 'gzip') return;
  if (codec === 'zstd' || codec === 'lz4') {
    throw new UnsupportedArchiveError(
      `the archive is ${codec}-compressed (Pinot's pinot.tar.compression.codec.name); Node 20 has no ${codec} decoder, so this tool reads gzip only`,
    );
  }
  if (codec === 'tar')
    throw new UnsupportedArchiveError(
      'the archive is an uncompressed tar; Pinot only reads compressed segment archives',
    );
  const shown = head.subarray(0, 4).toString('hex');
  throw new UnsupportedArchiveError(
    head.length === 0
      ? 'the answer is empty'
      : `not a segment archive (first bytes ${shown}: neither gzip, zstd nor lz4)`,
  );
}

function describeGunzipFailure(err: unknown): SourceError {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'Z_BUF_ERROR')
    return new CorruptArchiveError(`gzip: ${message}: the archive is truncated`, { cause: err });
  if (typeof code === 'string' && code.startsWith('Z_'))
    return new CorruptArchiveError(`gzip: ${message}`, { cause: err });
  return new SourceError(message, { cause: err });
}
