import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { AzureDeepStore, type AzureDeepStoreOptions } from './azure-deep-store.js';
import { FileDeepStore } from './file-deep-store.js';
import { GcsDeepStore, type GcsDeepStoreOptions } from './gcs-deep-store.js';
import type { ProbeMode, ProbeResult } from './probe.js';
import { S3DeepStore, type S3DeepStoreOptions } from './s3-deep-store.js';
import { parseStoreUri } from './store-uri.js';

export interface SegmentObjectMeta {
  /** The segment CRC (`creation.meta`, ZK `segment.crc`): an unsigned 32-bit decimal string. */
  crc: string;
}

/**
 * What head() sees. Its CRC says which segment the object claims to be, not that the object is whole (a cut
 * copy keeps the CRC of its creation.meta, and its S3 metadata): before adopting an object, use verifyArchive().
 */
export interface StoredObject {
  bytes: number;
  /**
   * The CRC recorded with the object, or null when it has none that can be read: an object written by Pinot
   * itself (no metadata), or a file that is not a gzipped segment archive. Null never equals a real CRC, so a
   * caller comparing it with ZK's `segment.crc` treats such an object as unverified.
   */
  crc: string | null;
  /**
   * The store's version of the object (GCS generation, Azure ETag), for a conditional replace: see
   * PutOptions.replaceVersion. Absent where the store has no conditional writes (file, S3 here).
   */
  version?: string;
}

export interface ObjectRead {
  /** The object's bytes. The caller consumes or destroys it; destroying it releases the file or connection. */
  body: Readable;
  /**
   * The size the store reports (file size, S3 Content-Length), or null when it did not say. A reader compares it
   * with what it received: a body that ends short of it was cut off.
   */
  bytes: number | null;
}

/** What verifyArchive() found at a URI. */
export type ArchiveVerdict =
  | { kind: 'absent' }
  /**
   * A complete archive of the segment. `by` says how that is known: `recorded` from the size and CRC the
   * sidecar recorded at upload (S3 metadata: one HEAD), `full_read` from reading and checking every byte.
   */
  | { kind: 'verified'; bytes: number; by: 'recorded' | 'full_read' }
  /**
   * Something is there, but not provably a complete archive of this segment: never adopt it, replace it
   * (put() overwrites). `reason` says what is wrong, for logs and status.
   */
  | { kind: 'unverified'; reason: string; bytes: number; version?: string };

export interface SweepOptions extends DeepStoreCallOptions {
  /**
   * Only temp files last modified longer ago than this are removed (default FILE_STORE_DEFAULTS.staleTempAgeMs, 1 h).
   */
  olderThanMs?: number;
}

export interface SweepResult {
  removed: number;
  /** Their total size. */
  bytes: number;
}

export interface DeepStoreCallOptions {
  /** Aborting rejects the call with `signal.reason`, after the store has cleaned up (see put). */
  signal?: AbortSignal;
}

export interface PutOptions extends DeepStoreCallOptions {
  /**
   * Stores with conditional writes (GCS, Azure) put create-only by default (GCS `ifGenerationMatch: 0`, Azure
   * `If-None-Match: *`), so an object another replica finished meanwhile is never replaced. To replace an object
   * verifyArchive() judged unverified, pass the `version` it reported: only that very object is replaced
   * (`ifGenerationMatch` / `If-Match`). A failed precondition rejects with a retriable DeepStoreError, code
   * `PreconditionFailed`: someone else wrote there; look again (verifyArchive) rather than overwrite.
   * Stores without conditional writes (file, S3) ignore this and replace whatever is there.
   */
  replaceVersion?: string;
}

export interface ProbeOptions extends DeepStoreCallOptions {
  /**
   * Names the probe object (probeObjectName() makes it a safe key): give something stable per sidecar, such as
   * its instance id, so that an object a probe could not delete is overwritten by the next one rather than
   * joined by another. Default: a random name chosen once per store.
   */
  name?: string;
}

/**
 * Where segments that exist only on servers are copied to: Pinot's deep store (the controller's
 * `controller.data.dir`). The repair writes a segment archive, looks at what is stored, and verifies an object
 * before adopting it; `pinot-sidecar fetch` also reads one back. The CRC travels with the object (S3 user metadata;
 * inside the archive for a file store), never as an extra file: Pinot's retention and orphan cleanup list the
 * table folder and would trip over one.
 */
export interface DeepStore {
  /** The configured URI, verbatim (it must equal the controller's controller.data.dir). */
  readonly baseUri: string;

  /** Canonical URI for a segment: `<baseUri>/<rawTableName>/<URLEncoder-encoded segmentName>`, no extension. */
  segmentUri(rawTableName: string, segmentName: string): string;

  /**
   * Write a stream of unknown length to `uri` (which must lie under `baseUri`), replacing any object there
   * (or create-only: see PutOptions).
   * The object appears whole or not at all. On failure nothing partial is left behind (the multipart upload is
   * aborted, the temp file removed) and `body` is destroyed.
   *
   * Rejects with a DeepStoreError for storage failures, with `body`'s own error if the body failed, and with
   * `signal.reason` when aborted. A DeepStoreError does not prove the object is absent: a write may have
   * succeeded where the answer was lost ("ambiguous success"), so callers check with head() before retrying.
   */
  put(uri: string, body: Readable, meta: SegmentObjectMeta, options?: PutOptions): Promise<{ bytes: number }>;

  /** Size and stored CRC of the object at `uri`, or null when there is none. */
  head(uri: string, options?: DeepStoreCallOptions): Promise<StoredObject | null>;

  /**
   * Is the object at `uri` a complete archive of the segment whose CRC is `expected.crc`, one Pinot would load?
   * An object already at the canonical key (an earlier attempt whose ZooKeeper write failed, another replica,
   * Pinot itself) may be adopted only then: a cut or foreign object adopted as "already uploaded" gets its URL
   * written to ZooKeeper, and every later download of the segment fails.
   *
   * S3: one HEAD when the object carries the size and CRC that put() recorded and both match; a mismatch is
   * `unverified` at once. Without a recorded size (written by Pinot, or by a multipart put, whose size is not
   * known when its metadata is sent), a full read. File store: always a full read (no metadata to keep).
   * A full read checks the whole gzip member, the tar to its end-of-archive marker and creation.meta
   * (archive-verifier.ts); it costs one download of the object, which is why it is kept for adoption.
   *
   * Rejects with a DeepStoreError when the store fails (nothing is known then: retry), with `signal.reason`
   * when aborted.
   */
  verifyArchive(uri: string, expected: SegmentObjectMeta, options?: DeepStoreCallOptions): Promise<ArchiveVerdict>;

  /**
   * Stream the object at `uri` (which must lie under `baseUri`). Rejects with a DeepStoreError, code `NoSuchKey`
   * when there is no object, and with `signal.reason` when aborted before the body exists; aborting later
   * destroys the body with `signal.reason`. Errors while the body streams (a reset connection, an I/O error)
   * arrive on the body as they are.
   */
  get(uri: string, options?: DeepStoreCallOptions): Promise<ObjectRead>;

  /**
   * Remove what put() leaves behind when the process dies mid-write (SIGKILL, OOM, node loss), where no
   * `finally` runs: only names that put() itself creates, only when older than `olderThanMs`. File store:
   * `<uuid>.part` files in the sidecar's own temp folder `<base>/.pinot-sidecar.tmp`, never anything in a
   * table folder. S3: nothing to do (see S3DeepStore).
   */
  sweepStaleTemps(options?: SweepOptions): Promise<SweepResult>;

  /**
   * Is the store usable for repair now? `write`: put a small object under a key of the sidecar's own (S3
   * `<prefix>/.pinot-sidecar.probe/<name>`; file `<base>/.pinot-sidecar.tmp/<name>.probe`, written as put()
   * writes), read it back and compare, delete it. `read`: look without writing (S3: ListObjectsV2 of one key
   * under the prefix, then HeadObject of the probe key; file: the base folder is a folder that can be listed).
   *
   * A failing store is an answer, `{ ok: false, step, error }`, never a rejection: the caller wants to know
   * why, not to handle it. Rejects only with `signal.reason` when aborted.
   */
  probe(mode: ProbeMode, options?: ProbeOptions): Promise<ProbeResult>;

  /** Release connections (S3 keep-alive sockets). */
  close(): Promise<void>;
}

export interface DeepStoreOptions {
  /** Used for `s3://` URIs only. */
  s3?: Omit<S3DeepStoreOptions, 'logger'>;
  /** Used for `adl2://` URIs only. */
  azure?: Omit<AzureDeepStoreOptions, 'logger'>;
  /** Used for `gs://` URIs only. */
  gcs?: Omit<GcsDeepStoreOptions, 'logger'>;
  logger?: Logger;
}

/**
 * The store for `uri`, by scheme: `s3://bucket/prefix` (also `s3a://`, as S3PinotFS accepts),
 * `gs://bucket/prefix` (GcsPinotFS), `adl2://fileSystem/prefix` (ADLSGen2PinotFS) or `file:///absolute/path`.
 * Anything else throws a non-retriable DeepStoreError (code InvalidDeepStoreUri), meant to be reported as a
 * configuration error before the agent starts.
 */
export function createDeepStore(uri: string, options: DeepStoreOptions = {}): DeepStore {
  const logger = options.logger ? { logger: options.logger } : {};
  const location = parseStoreUri(uri);
  if (location.kind === 'adl2') return new AzureDeepStore(uri, { ...options.azure, ...logger });
  if (location.kind === 'gcs') return new GcsDeepStore(uri, { ...options.gcs, ...logger });
  return location.kind === 's3' ? new S3DeepStore(uri, { ...options.s3, ...logger }) : new FileDeepStore(uri, logger);
}
