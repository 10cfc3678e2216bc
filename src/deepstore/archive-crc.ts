import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { crcFromCreationMeta, isCreationMetaEntry } from '../pinot-format/index.js';

/**
 * The segment CRC stored inside a segment archive: gunzip, walk the tar entries up to `creation.meta`, read
 * its first 8 bytes, and stop reading there (the rest of the archive is never inflated).
 *
 * Resolves to null when the bytes are not a gzipped tar holding a `creation.meta`: another compressor
 * (Pinot can write zstd or lz4, which Node 20's zlib cannot inflate), a truncated or corrupt file, or
 * something that is not a segment. Rejects only when the source itself fails (an I/O error).
 *
 * The gunzip runs in zlib's threadpool (not node-tar's own gzip, which inflates on the event loop); node-tar
 * only parses headers.
 */
export async function readArchiveCrc(source: Readable): Promise<string | null> {
  let crc: string | null | undefined;
  const parser = new Parser();
  parser.on('entry', (entry: ReadEntry) => {
    if (crc === undefined && entry.type === 'File' && isCreationMetaEntry(entry.path)) {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => {
        crc = crcFromCreationMeta(Buffer.concat(chunks));
      });
    } else {
      entry.resume();
    }
  });
  // A malformed tar makes node-tar warn and skip, or error: either way there is no CRC to report.
  parser.on('error', () => {
    crc ??= null;
  });

  try {
    await pipeline(source, createGunzip(), async (inflated: AsyncIterable<Buffer>) => {
      for await (const chunk of inflated) {
        parser.write(chunk);
        // Returning early makes pipeline() destroy the file stream and the gunzip (and reject with an
        // AbortError, handled below): nothing after creation.meta is read.
        if (crc !== undefined) return;
      }
      parser.end();
    });
  } catch (err) {
    if (crc !== undefined) return crc;
    if (isZlibFormatError(err)) return null;
    throw err;
  }
  return crc ?? null;
}

function isZlibFormatError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}
