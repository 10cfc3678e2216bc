import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { readArchiveCrc } from '../../../src/deepstore/archive-crc.js';
import { isGzip, parseZNRecord } from '../../../src/helix/znrecord.js';
import { gunzipSync } from 'node:zlib';
import { digestTree } from '../../helpers/tree.js';

/** Pure and small IO helpers the suite's assertions share. */

/** simpleFields of raw znode bytes (Helix may gzip large records). */
export function simpleFieldsOf(bytes: Buffer): Record<string, string> {
  return { ...parseZNRecord(bytes).record.simpleFields };
}

/** The record's JSON text (gunzipped when Helix compressed it). */
export function recordText(bytes: Buffer): string {
  return (isGzip(bytes) ? gunzipSync(bytes) : bytes).toString('utf8');
}

/**
 * The bytes `before` would be if only segment.download.url changed from "" to `url`: the value is spliced in as
 * Jackson writes a JSON string (the URL holds no character it escapes but "/" which it leaves as is).
 */
export function withUrlReplaced(beforeText: string, url: string): string {
  const marker = '"segment.download.url" : ""';
  const at = beforeText.indexOf(marker);
  if (at < 0 || beforeText.indexOf(marker, at + 1) >= 0)
    throw new Error(`expected exactly one empty segment.download.url in ${beforeText}`);
  return `${beforeText.slice(0, at)}"segment.download.url" : ${JSON.stringify(url)}${beforeText.slice(at + marker.length)}`;
}

/** The CRC in the archive's creation.meta (read from the bytes, not from any stored metadata). */
export async function archiveCrcOfFile(file: string): Promise<string | null> {
  return readArchiveCrc(createReadStream(file));
}

/** GET a URL into a file; the status code is returned (the body is written only on 200). */
export async function download(url: string, file: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    return res.status;
  }
  await pipeline(Readable.fromWeb(res.body), createWriteStream(file));
  return 200;
}

/** Untar a .tar.gz with GNU tar and digest the tree (path → sha256). */
export async function untarDigest(tarball: string, into: string): Promise<Map<string, string>> {
  await mkdir(into, { recursive: true });
  await promisify(execFile)('tar', ['-xzf', tarball, '-C', into]);
  return digestTree(into);
}

/** Nearest-rank percentile of a list of numbers (null when empty). */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
