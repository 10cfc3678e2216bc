// One GCS resumable upload of a stream of unknown length, chunk by chunk, with the JSON API's protocol
// (cloud.google.com/storage/docs/performing-resumable-uploads): POST .../upload/storage/v1/b/<bucket>/o
// ?uploadType=resumable (metadata and preconditions) answers with a session URI; each chunk is a PUT to it with
// `Content-Range: bytes <first>-<last>/*`, answered 308 with the persisted `Range`; the last PUT names the total
// and is answered with the object resource.
//
// Why not File.createWriteStream() of @google-cloud/storage: its resumable Upload (resumable-upload.ts in the SDK)
// reports a failed chunk as an Error whose message holds the status (buildRetryError: no status, no Retry-After
// for the caller to classify), cannot abort the session-creating POST, never cancels the session when the
// caller gives up, and on a missing precondition switches off retries on the shared Storage object. Here every
// request takes the caller's AbortSignal, every error answer keeps its status, reason and Retry-After, and a
// failed upload cancels its session. Authentication is the SDK's own (GoogleAuth of the Storage client).

import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { DeepStoreError } from './errors.js';
import { classifyGcsError, classifyGcsFacts, gcsAnswerFacts } from './gcs-classify.js';

/** GCS wants every chunk but the last to be a multiple of 256 KiB. */
export const GCS_CHUNK_QUANTUM = 256 * 1024;

export interface ResumableUploadSpec {
  /** `https://storage.googleapis.com`, or the emulator's endpoint. */
  endpoint: string;
  bucket: string;
  /** The object name. */
  name: string;
  /** Custom metadata (`metadata.metadata` of the object resource). */
  metadata: Record<string, string>;
  /**
   * Metadata key that receives the body's size when the whole body fits in the first chunk (the size is then
   * known before the session starts, which carries the metadata).
   */
  sizeMetadataKey: string;
  /** `ifGenerationMatch` of the upload: '0' for create-only, a generation to replace only it, undefined: any. */
  ifGenerationMatch: string | undefined;
  /** Bytes per PUT, a multiple of GCS_CHUNK_QUANTUM; also the memory the upload holds. */
  chunkBytes: number;
  /** Headers that authenticate a request ({} for the emulator). */
  authHeaders(): Promise<Record<string, string>>;
  /** Each request (the POST, each chunk PUT) fails with TimeoutError after this long. */
  requestTimeoutMs: number;
  signal?: AbortSignal;
  /** For error messages: `GCS put gs://bucket/name`. */
  what: string;
}

export interface UploadedObject {
  bytes: number;
  generation: string;
  metageneration: string;
  /** True when the size went into the metadata at the start (sizeMetadataKey). */
  sizeRecorded: boolean;
}

/** How long the best-effort cancel of a failed session may take. */
const CANCEL_TIMEOUT_MS = 10_000;

interface ObjectResource {
  generation?: unknown;
  metageneration?: unknown;
  size?: unknown;
}

/**
 * Upload `body` to `spec.name`. Memory: one chunk buffer, reused. On any failure the session (if one was
 * started) is cancelled with a DELETE and `body` is destroyed; rejects with a classified DeepStoreError, with
 * the body's own error, or with `signal.reason`. A DeepStoreError does not prove that no object was written
 * (the last PUT may have been applied and its answer lost).
 */
export async function resumableUpload(body: Readable, spec: ResumableUploadSpec): Promise<UploadedObject> {
  const { signal } = spec;
  if (spec.chunkBytes <= 0 || spec.chunkBytes % GCS_CHUNK_QUANTUM !== 0) {
    throw new RangeError(`chunkBytes must be a positive multiple of ${GCS_CHUNK_QUANTUM}, got ${spec.chunkBytes}`);
  }
  const onAbort = (): void => {
    body.destroy(signal?.reason as Error);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const buffer = Buffer.allocUnsafe(spec.chunkBytes);
  let fill = 0;
  let offset = 0; // bytes GCS has persisted
  let session: string | undefined;
  let bodyFailed = false;
  try {
    signal?.throwIfAborted();
    const pieces = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await pieces.next();
      } catch (err) {
        bodyFailed = true;
        throw err;
      }
      if (next.done === true) break;
      const piece = next.value;
      let at = 0;
      while (at < piece.length) {
        const n = Math.min(piece.length - at, buffer.length - fill);
        piece.copy(buffer, fill, at, at + n);
        fill += n;
        at += n;
        if (fill === buffer.length) {
          session ??= await startSession(spec, undefined);
          offset = await putChunk(spec, session, buffer, offset);
          fill = 0;
        }
      }
    }
    const total = offset + fill;
    const sizeRecorded = session === undefined;
    session ??= await startSession(spec, total);
    const resource = await putLast(spec, session, buffer.subarray(0, fill), offset, total);
    return {
      bytes: total,
      generation: scalarText(resource.generation, ''),
      metageneration: scalarText(resource.metageneration, '1'),
      sizeRecorded,
    };
  } catch (err) {
    body.destroy();
    if (session !== undefined) await cancelSession(spec, session);
    if (signal?.aborted) throw signal.reason;
    if (bodyFailed) throw err;
    throw classifyGcsError(err, spec.what, { bucket: spec.bucket });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function requestSignal(spec: ResumableUploadSpec): AbortSignal {
  const timeout = AbortSignal.timeout(spec.requestTimeoutMs);
  return spec.signal === undefined ? timeout : AbortSignal.any([spec.signal, timeout]);
}

interface Answer {
  status: number;
  header(name: string): string | null;
  body: Buffer;
}

/**
 * One HTTP request with node:http(s), not fetch: aborting a fetch (undici) whose request body the server has
 * not read yet rejects the promise but leaves the request on its socket, while destroying a node:http request
 * closes the connection, so the store really stops receiving. The answer is read whole (GCS answers with a
 * small JSON document or nothing).
 */
function send(
  url: string | URL,
  init: { method: string; headers: Record<string, string>; body?: Buffer; signal: AbortSignal },
): Promise<Answer> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const headers = { ...init.headers, 'content-length': String(init.body?.length ?? 0) };
    const req = client.request(target, { method: init.method, headers, signal: init.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const raw = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          header: (name) => {
            const value = raw[name.toLowerCase()];
            return typeof value === 'string' ? value : (value?.[0] ?? null);
          },
          body: Buffer.concat(chunks),
        });
      });
    });
    req.on('error', (err) => reject(init.signal.aborted ? init.signal.reason : err));
    req.end(init.body);
  });
}

/** An error answer as a DeepStoreError (its body read for GCS's reason and message). */
function failure(spec: ResumableUploadSpec, res: Answer, step: string, notFound: 'bucket' | 'object'): DeepStoreError {
  const facts = gcsAnswerFacts(res.status, res.header('retry-after'), res.body.toString('utf8'));
  return classifyGcsFacts(facts, `${spec.what} (${step})`, { notFound, bucket: spec.bucket });
}

/** Start the session; `total` when the whole body is known (its size then goes into the metadata). */
async function startSession(spec: ResumableUploadSpec, total: number | undefined): Promise<string> {
  const url = new URL(`${spec.endpoint}/upload/storage/v1/b/${encodeURIComponent(spec.bucket)}/o`);
  url.searchParams.set('uploadType', 'resumable');
  url.searchParams.set('name', spec.name);
  if (spec.ifGenerationMatch !== undefined) url.searchParams.set('ifGenerationMatch', spec.ifGenerationMatch);
  const metadata = total === undefined ? spec.metadata : { ...spec.metadata, [spec.sizeMetadataKey]: String(total) };
  const res = await send(url, {
    method: 'POST',
    headers: {
      ...(await spec.authHeaders()),
      'content-type': 'application/json; charset=UTF-8',
      'x-upload-content-type': 'application/octet-stream',
      ...(total === undefined ? {} : { 'x-upload-content-length': String(total) }),
    },
    body: Buffer.from(JSON.stringify({ name: spec.name, contentType: 'application/octet-stream', metadata })),
    signal: requestSignal(spec),
  });
  // A missing bucket answers the POST with 404: no object is involved yet.
  if (res.status < 200 || res.status > 299) throw failure(spec, res, 'start', 'bucket');
  const location = res.header('location');
  if (location === null) {
    throw new DeepStoreError(`${spec.what}: GCS started no upload session (no Location header)`, {
      code: 'NoUploadSession',
      retriable: true,
    });
  }
  return location;
}

/** The offset after GCS's persisted `Range: bytes=0-<last>` (0 when it has nothing). */
function persistedEnd(res: Answer): number {
  const range = /^bytes=0-(\d+)$/.exec(res.header('range') ?? '');
  return range === null ? 0 : Number(range[1]) + 1;
}

/**
 * PUT `chunk` (a full, non-final chunk) at `offset`; resends what GCS says it did not persist. Returns the new
 * offset.
 */
async function putChunk(spec: ResumableUploadSpec, session: string, chunk: Buffer, offset: number): Promise<number> {
  const end = offset + chunk.length;
  let at = offset;
  while (at < end) {
    const part = chunk.subarray(at - offset);
    const res = await send(session, {
      method: 'PUT',
      headers: { ...(await spec.authHeaders()), 'content-range': `bytes ${at}-${end - 1}/*` },
      body: part,
      signal: requestSignal(spec),
    });
    if (res.status !== 308) throw failure(spec, res, 'chunk', 'object');
    const persisted = persistedEnd(res);
    if (persisted <= at || persisted > end) {
      throw new DeepStoreError(
        `${spec.what}: GCS persisted up to byte ${persisted} of a chunk sent from ${at} to ${end}`,
        {
          code: 'UploadOffsetMismatch',
          retriable: true,
        },
      );
    }
    at = persisted;
  }
  return end;
}

/** PUT the last bytes (possibly none) with the total; resolves with the object resource. */
async function putLast(
  spec: ResumableUploadSpec,
  session: string,
  rest: Buffer,
  offset: number,
  total: number,
): Promise<ObjectResource> {
  const range = rest.length === 0 ? `bytes */${total}` : `bytes ${offset}-${total - 1}/${total}`;
  const res = await send(session, {
    method: 'PUT',
    headers: { ...(await spec.authHeaders()), 'content-range': range },
    body: rest,
    signal: requestSignal(spec),
  });
  if (res.status !== 200 && res.status !== 201) throw failure(spec, res, 'finish', 'object');
  try {
    return JSON.parse(res.body.toString('utf8')) as ObjectResource;
  } catch {
    return {}; // the object was written; its generation is unknown, so its size cannot be recorded
  }
}

/**
 * Cancel a session that will not be finished (DELETE, answered 499 by GCS), so GCS drops the bytes it holds at
 * once. Best effort: a session that is not cancelled holds no object and is not visible to readers; GCS
 * expires it a week after it was started.
 */
async function cancelSession(spec: ResumableUploadSpec, session: string): Promise<void> {
  try {
    await send(session, {
      method: 'DELETE',
      headers: await spec.authHeaders(),
      signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
    });
  } catch {
    // the session expires by itself
  }
}

/** A JSON field GCS sends as a number or a numeric string (generation, metageneration), as text. */
function scalarText(value: unknown, fallback: string): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' ? String(value) : fallback;
}
