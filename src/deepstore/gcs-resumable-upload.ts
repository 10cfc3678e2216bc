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
  let bodyError: unknown;
  body.once('error', (err) => (bodyError ??= err));

  const buffer = Buffer.allocUnsafe(spec.chunkBytes);
  let fill = 0;
  let offset = 0; // bytes GCS has persisted
  let session: string | undefined;
  try {
    signal?.throwIfAborted();
    for await (const piece of body as AsyncIterable<Buffer>) {
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
      generation: String(resource.generation ?? ''),
      metageneration: String(resource.metageneration ?? '1'),
      sizeRecorded,
    };
  } catch (err) {
    body.destroy();
    if (session !== undefined) await cancelSession(spec, session);
    if (signal?.aborted) throw signal.reason;
    if (bodyError !== undefined) throw bodyError;
    throw classifyGcsError(err, spec.what, { bucket: spec.bucket });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function requestSignal(spec: ResumableUploadSpec): AbortSignal {
  const timeout = AbortSignal.timeout(spec.requestTimeoutMs);
  return spec.signal === undefined ? timeout : AbortSignal.any([spec.signal, timeout]);
}

/** An error answer as a DeepStoreError (its body read for GCS's reason and message). */
async function failure(spec: ResumableUploadSpec, res: Response, step: string, notFound: 'bucket' | 'object'): Promise<DeepStoreError> {
  const text = await res.text().catch(() => '');
  const facts = gcsAnswerFacts(res.status, res.headers.get('retry-after'), text);
  return classifyGcsFacts(facts, `${spec.what} (${step})`, { notFound, bucket: spec.bucket });
}

/** Start the session; `total` when the whole body is known (its size then goes into the metadata). */
async function startSession(spec: ResumableUploadSpec, total: number | undefined): Promise<string> {
  const url = new URL(`${spec.endpoint}/upload/storage/v1/b/${encodeURIComponent(spec.bucket)}/o`);
  url.searchParams.set('uploadType', 'resumable');
  url.searchParams.set('name', spec.name);
  if (spec.ifGenerationMatch !== undefined) url.searchParams.set('ifGenerationMatch', spec.ifGenerationMatch);
  const metadata = total === undefined ? spec.metadata : { ...spec.metadata, [spec.sizeMetadataKey]: String(total) };
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      ...(await spec.authHeaders()),
      'content-type': 'application/json; charset=UTF-8',
      'x-upload-content-type': 'application/octet-stream',
      ...(total === undefined ? {} : { 'x-upload-content-length': String(total) }),
    },
    body: JSON.stringify({ name: spec.name, contentType: 'application/octet-stream', metadata }),
    signal: requestSignal(spec),
  });
  // A missing bucket answers the POST with 404: no object is involved yet.
  if (!res.ok) throw await failure(spec, res, 'start', 'bucket');
  await res.arrayBuffer();
  const location = res.headers.get('location');
  if (location === null) {
    throw new DeepStoreError(`${spec.what}: GCS started no upload session (no Location header)`, { code: 'NoUploadSession', retriable: true });
  }
  return location;
}

/** The offset after GCS's persisted `Range: bytes=0-<last>` (0 when it has nothing). */
function persistedEnd(res: Response): number {
  const range = /^bytes=0-(\d+)$/.exec(res.headers.get('range') ?? '');
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
    const res = await fetch(session, {
      method: 'PUT',
      headers: { ...(await spec.authHeaders()), 'content-range': `bytes ${at}-${end - 1}/*` },
      body: part,
      signal: requestSignal(spec),
    });
    if (res.status !== 308) throw await failure(spec, res, 'chunk', 'object');
    await res.arrayBuffer();
    const persisted = persistedEnd(res);
    if (persisted <= at || persisted > end) {
      throw new DeepStoreError(`${spec.what}: GCS persisted up to byte ${persisted} of a chunk sent from ${at} to ${end}`, {
        code: 'UploadOffsetMismatch',
        retriable: true,
      });
    }
    at = persisted;
  }
  return end;
}

/** PUT the last bytes (possibly none) with the total; resolves with the object resource. */
async function putLast(spec: ResumableUploadSpec, session: string, rest: Buffer, offset: number, total: number): Promise<ObjectResource> {
  const range = rest.length === 0 ? `bytes */${total}` : `bytes ${offset}-${total - 1}/${total}`;
  const res = await fetch(session, {
    method: 'PUT',
    headers: { ...(await spec.authHeaders()), 'content-range': range },
    body: rest,
    signal: requestSignal(spec),
  });
  if (res.status !== 200 && res.status !== 201) throw await failure(spec, res, 'finish', 'object');
  return (await res.json()) as ObjectResource;
}

/**
 * Cancel a session that will not be finished (DELETE, answered 499 by GCS), so GCS drops the bytes it holds at
 * once. Best effort: a session that is not cancelled holds no object and is not visible to readers; GCS
 * expires it a week after it was started.
 */
async function cancelSession(spec: ResumableUploadSpec, session: string): Promise<void> {
  try {
    const res = await fetch(session, {
      method: 'DELETE',
      headers: { ...(await spec.authHeaders()), 'content-length': '0' },
      signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
    });
    await res.arrayBuffer();
  } catch {
    // the session expires by itself
  }
}
