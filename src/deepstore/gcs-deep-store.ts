// The deep store on Google Cloud Storage (`gs://bucket/prefix`), as Pinot's GcsPinotFS reads it
// (pinot-plugins/pinot-file-system/pinot-gcs, GcsPinotFS.java and GcsUri.java): the object name is the URI's
// decoded path without its leading "/", runs of "/" collapsed (store-uri.ts).
//
// Uploads are GCS resumable uploads, chunk by chunk (gcs-resumable-upload.ts), create-only unless the caller
// names the generation to replace; everything else goes through @google-cloud/storage.

import { Storage, type File, type StorageOptions } from '@google-cloud/storage';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { silentLogger, type Logger } from '../log.js';
import { verifyArchiveStream } from './archive-verifier.js';
import type {
  ArchiveVerdict,
  DeepStore,
  DeepStoreCallOptions,
  ObjectRead,
  ProbeOptions,
  PutOptions,
  SegmentObjectMeta,
  StoredObject,
  SweepOptions,
  SweepResult,
} from './deep-store.js';
import { DeepStoreError, invalidArgument } from './errors.js';
import { classifyGcsError, gcsErrorFacts } from './gcs-classify.js';
import { GCS_CHUNK_QUANTUM, resumableUpload } from './gcs-resumable-upload.js';
import { destroyOnAbort } from './object-body.js';
import {
  PROBE_FOLDER,
  PROBE_READ_LIMIT_BYTES,
  probeBody,
  probeMismatch,
  probeObjectName,
  runProbe,
  type ProbeMode,
  type ProbeResult,
} from './probe.js';
import { acceptPut } from './put-guard.js';
import { verdictFromRecord } from './recorded-verdict.js';
import { assertSegmentCrc } from './segment-crc.js';
import { segmentUri } from './segment-key.js';
import { locateObject, parseStoreUri, type StoreLocation } from './store-uri.js';

/**
 * The custom metadata keys of the S3 store (CRC_METADATA_KEY, BYTES_METADATA_KEY in s3-deep-store.ts), repeated
 * here because src/deepstore stores do not import each other's SDK modules: one object shape everywhere.
 */
export const GCS_CRC_METADATA_KEY = 'segment-crc';
export const GCS_BYTES_METADATA_KEY = 'segment-bytes';

export interface GcsDeepStoreOptions {
  /**
   * The project (Pinot's `projectId`). Default: from the credentials. Uploads and reads name the bucket, so
   * only needed when the credentials do not say it.
   */
  projectId?: string;
  /**
   * A service-account JSON key file (Pinot's `gcpKey`). Default: Application Default Credentials
   * (GOOGLE_APPLICATION_CREDENTIALS, gcloud's user credentials, the GKE workload identity / metadata server).
   */
  keyFile?: string;
  /** An emulator (fake-gcs-server, `http://host:port`): requests go there without credentials. */
  emulatorEndpoint?: string;
  /** Another GCS endpoint (Private Service Connect, a regional endpoint); requests keep their credentials. */
  apiEndpoint?: string;
  /** Bytes per upload request, a multiple of 256 KiB (default 16 MiB): the memory one put() holds. */
  chunkBytes?: number;
  /**
   * Attempts per metadata or read request inside the SDK (default 3; 1 = no retry, tests). Upload requests are
   * not retried here: the caller retries the whole put().
   */
  maxAttempts?: number;
  /** Each request fails with a timeout after this long (default 120 s): no upload hangs forever. */
  requestTimeoutMs?: number;
  logger?: Logger;
}

export const GCS_DEFAULTS = {
  chunkBytes: 16 * 1024 * 1024,
  maxAttempts: 3,
  requestTimeoutMs: 120_000,
} as const;

/** The SDK client options for `options`, pure. */
export function gcsStorageOptions(options: GcsDeepStoreOptions): StorageOptions {
  if (options.emulatorEndpoint !== undefined && options.apiEndpoint !== undefined) {
    throw invalidArgument('InvalidGcsOptions', 'give either emulatorEndpoint or apiEndpoint, not both');
  }
  const attempts = options.maxAttempts ?? GCS_DEFAULTS.maxAttempts;
  return {
    ...(options.projectId === undefined ? {} : { projectId: options.projectId }),
    ...(options.keyFile === undefined ? {} : { keyFilename: options.keyFile }),
    // A custom endpoint goes without credentials in the SDK unless useAuthWithCustomEndpoint says otherwise.
    ...(options.emulatorEndpoint === undefined
      ? {}
      : { apiEndpoint: options.emulatorEndpoint, useAuthWithCustomEndpoint: false }),
    ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint, useAuthWithCustomEndpoint: true }),
    // maxRetries 0 is read as "default" by the SDK; autoRetry false is how to switch retries off.
    retryOptions: attempts <= 1 ? { autoRetry: false } : { autoRetry: true, maxRetries: attempts - 1 },
    timeout: options.requestTimeoutMs ?? GCS_DEFAULTS.requestTimeoutMs,
  };
}

interface ObjectMetadata {
  size?: string | number;
  generation?: string | number;
  metadata?: Record<string, unknown> | null;
}

export class GcsDeepStore implements DeepStore {
  readonly baseUri: string;
  private readonly base: StoreLocation;
  private readonly storage: Storage;
  private readonly bucket: string;
  /** The base object-name prefix without a trailing '/': '' for the bucket root. */
  private readonly prefix: string;
  private readonly anonymous: boolean;
  private readonly chunkBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly logger: Logger;
  /** Who the probe's "cannot reach" names. */
  private readonly endpoint: string;
  private readonly probeName = randomUUID();

  constructor(baseUri: string, options: GcsDeepStoreOptions = {}) {
    this.base = parseStoreUri(baseUri);
    if (this.base.kind !== 'gcs') throw new TypeError(`GcsDeepStore needs a gs:// URI, got ${baseUri}`);
    this.baseUri = baseUri;
    this.bucket = this.base.bucket;
    this.prefix = this.base.key.replace(/\/$/, '');
    this.chunkBytes = options.chunkBytes ?? GCS_DEFAULTS.chunkBytes;
    if (this.chunkBytes <= 0 || this.chunkBytes % GCS_CHUNK_QUANTUM !== 0) {
      throw invalidArgument(
        'InvalidGcsOptions',
        `chunkBytes must be a positive multiple of 256 KiB, got ${this.chunkBytes}`,
      );
    }
    this.requestTimeoutMs = options.requestTimeoutMs ?? GCS_DEFAULTS.requestTimeoutMs;
    this.logger = options.logger ?? silentLogger;
    this.storage = new Storage(gcsStorageOptions(options));
    this.anonymous = options.emulatorEndpoint !== undefined;
    this.endpoint = options.emulatorEndpoint ?? options.apiEndpoint ?? this.storage.apiEndpoint;
  }

  segmentUri(rawTableName: string, segmentName: string): string {
    return segmentUri(this.baseUri, rawTableName, segmentName);
  }

  /**
   * A resumable upload with `ifGenerationMatch: 0` (create-only) or `replaceVersion` (only that generation),
   * so an object another replica finished meanwhile is never replaced; GCS answers a failed condition with 412,
   * a retriable PreconditionFailed. The CRC goes into the metadata with the upload. So does the size when the
   * body fits in one chunk; a longer body's size is added afterwards by a metadata patch pinned to the new
   * generation and metageneration (if that patch fails, the object is whole but verifyArchive() reads it in full).
   */
  async put(
    uri: string,
    body: Readable,
    meta: SegmentObjectMeta,
    options: PutOptions = {},
  ): Promise<{ bytes: number }> {
    const { signal, replaceVersion } = options;
    const target = acceptPut(body, meta, signal, () => {
      if (replaceVersion !== undefined && !/^[1-9]\d*$/.test(replaceVersion)) {
        throw invalidArgument(
          'InvalidVersion',
          `replaceVersion must be a GCS generation (digits), got ${JSON.stringify(replaceVersion)}`,
        );
      }
      return this.locate(uri);
    });
    const uploaded = await resumableUpload(body, {
      endpoint: this.storage.apiEndpoint,
      bucket: target.bucket,
      name: target.key,
      metadata: { [GCS_CRC_METADATA_KEY]: meta.crc },
      sizeMetadataKey: GCS_BYTES_METADATA_KEY,
      ifGenerationMatch: replaceVersion ?? '0',
      chunkBytes: this.chunkBytes,
      authHeaders: () => this.authHeaders(),
      requestTimeoutMs: this.requestTimeoutMs,
      ...(signal === undefined ? {} : { signal }),
      what: `GCS put ${uri}`,
    });
    if (!uploaded.sizeRecorded && uploaded.generation !== '') await this.recordSize(uri, target.key, uploaded);
    return { bytes: uploaded.bytes };
  }

  async head(uri: string, options: DeepStoreCallOptions = {}): Promise<StoredObject | null> {
    const found = await this.metadataOf(uri, options.signal);
    if (found === null) return null;
    const crc = found.metadata?.[GCS_CRC_METADATA_KEY];
    return {
      bytes: Number(found.size ?? 0),
      crc: typeof crc === 'string' ? crc : null,
      version: String(found.generation),
    };
  }

  /**
   * One metadata read when put() recorded size and CRC and both match; `unverified` at once on a mismatch; else
   * (written by Pinot, or the size patch failed) a full read of the generation the metadata read saw.
   */
  async verifyArchive(
    uri: string,
    expected: SegmentObjectMeta,
    options: DeepStoreCallOptions = {},
  ): Promise<ArchiveVerdict> {
    const { signal } = options;
    assertSegmentCrc(expected.crc);
    const found = await this.metadataOf(uri, signal);
    if (found === null) return { kind: 'absent' };
    const bytes = Number(found.size ?? 0);
    const version = String(found.generation);
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    const decided = verdictFromRecord(
      {
        bytes,
        crc: text(found.metadata?.[GCS_CRC_METADATA_KEY]),
        recordedBytes: text(found.metadata?.[GCS_BYTES_METADATA_KEY]),
        version,
      },
      expected.crc,
    );
    if (decided !== null) return decided;
    const body = this.readStream(this.locate(uri).key, version, signal);
    try {
      const check = await verifyArchiveStream(body, expected.crc, signal ? { signal } : {});
      if (check.kind === 'unverified') return { ...check, version };
      if (check.bytes !== bytes)
        return { kind: 'unverified', reason: `read ${check.bytes} of ${bytes} bytes`, bytes: check.bytes, version };
      return { ...check, by: 'full_read' };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // The read names the generation: a 404 means that object was replaced or deleted since the metadata read.
      if (gcsErrorFacts(err).httpStatus === 404) {
        throw new DeepStoreError(`GCS verify ${uri}: the object was replaced while it was being verified`, {
          code: 'ObjectChanged',
          retriable: true,
          httpStatus: 404,
          cause: err,
        });
      }
      throw classifyGcsError(err, `GCS verify ${uri}`, { bucket: this.bucket });
    }
  }

  /**
   * Nothing to sweep: put() writes through a resumable upload session, and only a completed session makes an
   * object ("Only a completed resumable upload appears in your bucket", cloud.google.com/storage/docs/
   * resumable-uploads). A put() that fails cancels its session (DELETE); one killed mid-upload leaves a session
   * holding the bytes sent so far, invisible to readers and listings, that GCS discards when it expires ("A
   * resumable upload must be completed within a week of being initiated"). There is no API to list sessions.
   */
  async sweepStaleTemps(options: SweepOptions = {}): Promise<SweepResult> {
    options.signal?.throwIfAborted();
    return { removed: 0, bytes: 0 };
  }

  async get(uri: string, options: DeepStoreCallOptions = {}): Promise<ObjectRead> {
    const { signal } = options;
    const found = await this.metadataOf(uri, signal);
    if (found === null) {
      throw new DeepStoreError(`GCS get ${uri} failed: NoSuchKey (HTTP 404): no object there`, {
        code: 'NoSuchKey',
        retriable: false,
        httpStatus: 404,
      });
    }
    signal?.throwIfAborted();
    return {
      body: this.readStream(this.locate(uri).key, String(found.generation), signal),
      bytes: Number(found.size ?? 0),
    };
  }

  /**
   * Write: a resumable upload (as put() writes, without the create-only condition: the probe object has a fixed
   * name and is overwritten) of a small object at `<prefix>/.pinot-sidecar.probe/<name>`, read back and compared,
   * deleted; the permissions repair needs (storage.objects.create, storage.objects.get; storage.objects.delete to
   * overwrite the probe object and to delete it, whose refusal on the delete step is only a warning).
   * Read: a list of one object under the prefix (storage.objects.list, which a missing bucket answers with 404),
   * then a metadata read of the probe object (storage.objects.get; 404 is the expected answer).
   */
  async probe(mode: ProbeMode, options: ProbeOptions = {}): Promise<ProbeResult> {
    const { signal } = options;
    const { bucket, prefix } = this;
    const name = probeObjectName(options.name ?? '') || this.probeName;
    const key = `${prefix === '' ? '' : `${prefix}/`}${PROBE_FOLDER}/${name}`;
    const uri = `gs://${bucket}/${key}`;
    const context = {
      mode,
      uri,
      target: { endpoint: this.endpoint, bucket },
      signal,
      classify: (err: unknown, step: string) =>
        classifyGcsError(err, `GCS probe ${step} ${uri}`, {
          bucket,
          ...(step === 'list' ? { notFound: 'bucket' as const } : {}),
        }),
    };
    return runProbe(context, async (run) => {
      if (mode === 'read') {
        await run.step('list', () =>
          this.storage
            .bucket(bucket)
            .getFiles({ maxResults: 1, autoPaginate: false, ...(prefix === '' ? {} : { prefix: `${prefix}/` }) }),
        );
        await run.step('head', () => this.metadataOf(uri, signal));
        return undefined;
      }
      const body = probeBody();
      await run.step('write', () =>
        resumableUpload(Readable.from([body]), {
          endpoint: this.storage.apiEndpoint,
          bucket,
          name: key,
          metadata: {},
          sizeMetadataKey: GCS_BYTES_METADATA_KEY,
          ifGenerationMatch: undefined,
          chunkBytes: GCS_CHUNK_QUANTUM,
          authHeaders: () => this.authHeaders(),
          requestTimeoutMs: this.requestTimeoutMs,
          ...(signal === undefined ? {} : { signal }),
          what: `GCS probe write ${uri}`,
        }),
      );
      const file = this.storage.bucket(bucket).file(key);
      let deleteTried = false;
      try {
        const back = await run.step('read', () => this.readHead(file, signal, PROBE_READ_LIMIT_BYTES + 1));
        await run.step('compare', async () => {
          if (!back.equals(body))
            throw probeMismatch(uri, body, back, { truncated: back.length > PROBE_READ_LIMIT_BYTES });
        });
        deleteTried = true;
        return await run.tolerate('delete', () => file.delete());
      } finally {
        if (!deleteTried) await file.delete().catch(() => {});
      }
    });
  }

  async close(): Promise<void> {
    // The SDK keeps no connections of its own to release; fetch's pool closes idle sockets by itself.
  }

  /** Headers that authenticate a raw request (the resumable upload): none for the emulator. */
  private async authHeaders(): Promise<Record<string, string>> {
    if (this.anonymous) return {};
    return await this.storage.authClient.getRequestHeaders();
  }

  /** Add the size to the metadata of a multi-chunk upload, only if the object is still the one just written. */
  private async recordSize(
    uri: string,
    name: string,
    uploaded: { bytes: number; generation: string; metageneration: string },
  ): Promise<void> {
    try {
      await this.storage
        .bucket(this.bucket)
        .file(name)
        .setMetadata(
          { metadata: { [GCS_BYTES_METADATA_KEY]: String(uploaded.bytes) } },
          { ifGenerationMatch: uploaded.generation, ifMetagenerationMatch: uploaded.metageneration },
        );
    } catch (err) {
      this.logger.warn(
        { uri, err: classifyGcsError(err, `GCS record size ${uri}`) },
        'uploaded, but could not record its size: verifying it will read it in full',
      );
    }
  }

  /** The object's metadata, or null when there is none. */
  private async metadataOf(uri: string, signal: AbortSignal | undefined): Promise<ObjectMetadata | null> {
    const target = this.locate(uri);
    signal?.throwIfAborted();
    try {
      const [metadata] = await abortable(this.storage.bucket(target.bucket).file(target.key).getMetadata(), signal);
      return metadata;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // A metadata read cannot tell a missing object from a missing bucket (both 404 notFound); a missing
      // bucket shows up as NoSuchBucket on the next put().
      if (gcsErrorFacts(err).httpStatus === 404) return null;
      throw classifyGcsError(err, `GCS head ${uri}`, { bucket: this.bucket });
    }
  }

  /** A read of generation `generation` of `name`: replaced meanwhile, it fails with 404 on the body. */
  private readStream(name: string, generation: string, signal: AbortSignal | undefined): Readable {
    const file = this.storage.bucket(this.bucket).file(name, { generation: Number(generation) });
    return destroyOnAbort(file.createReadStream(), signal);
  }

  /** The first `limit` bytes of `file` (fewer when it is shorter); the rest is not downloaded. */
  private async readHead(file: File, signal: AbortSignal | undefined, limit: number): Promise<Buffer> {
    const body = destroyOnAbort(file.createReadStream({ start: 0, end: limit - 1 }), signal);
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        bytes += chunk.length;
        if (bytes >= limit) break;
      }
    } finally {
      body.destroy();
    }
    return Buffer.concat(chunks).subarray(0, limit);
  }

  private locate(uri: string): { bucket: string; key: string } {
    const target = locateObject(this.base, uri);
    if (target.kind !== 'gcs') throw new TypeError('unreachable: locateObject keeps the base kind');
    return target;
  }
}

/**
 * Settle with `signal.reason` as soon as it aborts. The SDK's metadata calls take no signal; the request itself
 * runs to its answer (or the request timeout) in the background, its result ignored.
 */
async function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  work.catch(() => {});
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
