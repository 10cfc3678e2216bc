import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type HeadObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomUUID } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import { silentLogger, type Logger } from '../log.js';
import { classifyS3Error, s3ErrorFacts } from './classify.js';
import { verifyArchiveStream } from './archive-verifier.js';
import { assertSegmentCrc } from './segment-crc.js';
import type {
  ArchiveVerdict,
  DeepStore,
  DeepStoreCallOptions,
  ObjectRead,
  ProbeOptions,
  SegmentObjectMeta,
  StoredObject,
  SweepOptions,
  SweepResult,
} from './deep-store.js';
import { DeepStoreError } from './errors.js';
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
import { segmentUri } from './segment-key.js';
import { locateObject, parseStoreUri, type StoreLocation } from './store-uri.js';

/** S3 user metadata key for the segment CRC (sent as `x-amz-meta-segment-crc`). */
export const CRC_METADATA_KEY = 'segment-crc';

/**
 * S3 user metadata key for the archive's size in bytes (`x-amz-meta-segment-bytes`), recorded by put() when
 * the whole body went in one PutObject (up to one part size, 16 MiB by default). A multipart upload sends its
 * metadata with CreateMultipartUpload, before the size of a streamed body is known, and S3 cannot add metadata
 * later without copying the whole object; such objects carry the CRC only, and verifyArchive() reads them in
 * full (adoption is the rare path: an earlier attempt that uploaded and then failed before ZooKeeper).
 */
export const BYTES_METADATA_KEY = 'segment-bytes';

/** The AWS SDK's requestChecksumCalculation / responseChecksumValidation values. */
export const CHECKSUM_MODES = ['WHEN_REQUIRED', 'WHEN_SUPPORTED'] as const;
export type ChecksumMode = (typeof CHECKSUM_MODES)[number];

export interface S3DeepStoreOptions {
  /** A non-AWS endpoint (MinIO, Ceph, a test fake). */
  endpoint?: string;
  /** Default: the AWS chain (AWS_REGION, config files). */
  region?: string;
  forcePathStyle?: boolean;
  /**
   * requestChecksumCalculation and responseChecksumValidation. Default WHEN_REQUIRED with an `endpoint`,
   * WHEN_SUPPORTED on AWS: with WHEN_SUPPORTED the SDK adds CRC32 checksums to every part, and for streamed
   * bodies aws-chunked framing, which several S3-compatible stores mishandle or store as data.
   */
  checksums?: ChecksumMode;
  /** Default: the standard AWS credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Attempts per HTTP request inside the SDK (default 3). The caller retries whole uploads with its own
   * backoff; the SDK's few fast retries are still worth having because they retry one 16 MiB part (already in
   * memory), not the whole segment, and its retry quota keeps them from piling up during an outage.
   * Set 1 to see every failure (tests).
   */
  maxAttempts?: number;
  /** Multipart part size (default 16 MiB, at least 5 MiB). Memory per upload is about (queueSize + 1) parts. */
  partSizeBytes?: number;
  /** Parts in flight per upload (default 4). */
  queueSize?: number;
  /** TCP connect timeout (default 10 s). */
  connectionTimeoutMs?: number;
  /** A socket idle this long fails the request with TimeoutError (default 120 s): no upload hangs forever. */
  socketTimeoutMs?: number;
  logger?: Logger;
}

export const S3_DEFAULTS = {
  partSizeBytes: 16 * 1024 * 1024,
  queueSize: 4,
  maxAttempts: 3,
  connectionTimeoutMs: 10_000,
  socketTimeoutMs: 120_000,
} as const;

/** The SDK client configuration for `options`, pure. */
export function s3ClientConfig(options: S3DeepStoreOptions): S3ClientConfig {
  const checksums = options.checksums ?? (options.endpoint === undefined ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED');
  return {
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    forcePathStyle: options.forcePathStyle ?? false,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    maxAttempts: options.maxAttempts ?? S3_DEFAULTS.maxAttempts,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? S3_DEFAULTS.connectionTimeoutMs,
      socketTimeout: options.socketTimeoutMs ?? S3_DEFAULTS.socketTimeoutMs,
    },
  };
}

/**
 * What one put() learns from the SDK while lib-storage runs the upload. lib-storage hides the two facts we
 * need: that a part failed (it keeps reading the body and uploading the other parts until the input ends) and
 * whether its AbortMultipartUpload worked (if not, it rejects with the abort's error and loses the cause).
 */
interface UploadWatch {
  uploadId?: string;
  aborted: boolean;
  onStoreFailure(err: unknown): void;
  /** Called when an AbortMultipartUpload of this upload has answered (either way). */
  onAbortAnswered?: () => void;
}

// lib-storage builds every PutObject / CreateMultipartUpload / UploadPart / CompleteMultipartUpload input as
// `{ ...params, ... }` (Upload.__doConcurrentUpload and friends), so a symbol-keyed property of params reaches
// each command's input; the serialisers only read modelled members and ignore it. Its AbortMultipartUpload is
// built from Bucket/Key/UploadId only, so aborts are matched by upload id instead.
const WATCH = Symbol('pinot-sidecar.deepstore.uploadWatch');

export class S3DeepStore implements DeepStore {
  readonly baseUri: string;
  private readonly base: StoreLocation;
  private readonly client: S3Client;
  private readonly logger: Logger;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly watchesByUploadId = new Map<string, UploadWatch>();
  private readonly bucket: string;
  /** The base key without a trailing '/': '' for the bucket root. */
  private readonly prefix: string;
  /** Who the probe's "cannot reach" names. */
  private readonly endpoint: string;
  /** The probe object's name when probe() is given none (ProbeOptions.name). */
  private readonly probeName = randomUUID();

  constructor(baseUri: string, options: S3DeepStoreOptions = {}) {
    this.base = parseStoreUri(baseUri);
    if (this.base.kind !== 's3') throw new TypeError(`S3DeepStore needs an s3:// URI, got ${baseUri}`);
    this.baseUri = baseUri;
    this.bucket = this.base.bucket;
    this.prefix = this.base.key.replace(/\/$/, '');
    this.endpoint =
      options.endpoint ?? `the AWS S3 endpoint${options.region === undefined ? '' : ` of ${options.region}`}`;
    this.logger = options.logger ?? silentLogger;
    this.partSize = options.partSizeBytes ?? S3_DEFAULTS.partSizeBytes;
    this.queueSize = options.queueSize ?? S3_DEFAULTS.queueSize;
    this.client = new S3Client(s3ClientConfig(options));
    this.watchUploads();
  }

  segmentUri(rawTableName: string, segmentName: string): string {
    return segmentUri(this.baseUri, rawTableName, segmentName);
  }

  async put(
    uri: string,
    body: Readable,
    meta: SegmentObjectMeta,
    options: DeepStoreCallOptions = {},
  ): Promise<{ bytes: number }> {
    const { signal } = options;
    const target = acceptPut(body, meta, signal, () => this.locate(uri));

    let bytes = 0;
    let failure: { from: 'store' | 'body' | 'signal'; error: unknown } | undefined;
    // lib-storage reads `feed`; destroying it stops the readers of every part at once, and pipeline() then
    // destroys `body` too (lib-storage never cancels its input itself).
    const feed = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    const stop = (from: 'store' | 'body' | 'signal', error: unknown): void => {
      failure ??= { from, error };
      feed.destroy(new Error('deep-store upload stopped'));
    };
    body.once('error', (error) => stop('body', error));
    pipeline(body, feed, () => {});
    let upload: Upload | undefined;
    // Destroying the feed stops new parts, but a part request already on the wire would run to its own
    // timeout: Upload.abort() cancels the in-flight requests too, so an abort settles put() promptly.
    const onAbort = (): void => {
      stop('signal', signal?.reason);
      void upload?.abort().catch(() => {});
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    const watch: UploadWatch = { aborted: false, onStoreFailure: (err) => stop('store', err) };
    const params = Object.assign(
      { Bucket: target.bucket, Key: target.key, Body: feed, Metadata: { [CRC_METADATA_KEY]: meta.crc } },
      { [WATCH]: watch },
    );
    upload = new Upload({
      client: this.client,
      params,
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
      return { bytes };
    } catch (err) {
      failure ??= { from: 'store', error: err };
      // After Upload.abort(), done() rejects at once while lib-storage's own AbortMultipartUpload is still
      // on its way: give it a moment to answer rather than sending a second one beside it.
      if (failure.from === 'signal' && watch.uploadId !== undefined && !watch.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          watch.onAbortAnswered = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      await this.abortIfLeftOpen(watch, target, uri);
      body.destroy();
      if (failure.from === 'store') throw classifyS3Error(failure.error, `S3 put ${uri}`);
      throw failure.error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (watch.uploadId !== undefined) this.watchesByUploadId.delete(watch.uploadId);
    }
  }

  async head(uri: string, options: DeepStoreCallOptions = {}): Promise<StoredObject | null> {
    const out = await this.headObject(uri, options.signal);
    return out === null ? null : { bytes: out.ContentLength ?? 0, crc: out.Metadata?.[CRC_METADATA_KEY] ?? null };
  }

  async verifyArchive(
    uri: string,
    expected: SegmentObjectMeta,
    options: DeepStoreCallOptions = {},
  ): Promise<ArchiveVerdict> {
    const { signal } = options;
    assertSegmentCrc(expected.crc);
    const out = await this.headObject(uri, signal);
    if (out === null) return { kind: 'absent' };
    const bytes = out.ContentLength ?? 0;
    const recorded = recordedArchive(out);
    const decided = verdictFromRecord({ bytes, crc: recorded.crc, recordedBytes: recorded.bytes }, expected.crc);
    if (decided !== null) return decided;
    // No recorded size (written by Pinot, or by a multipart put): read it all. If-Match pins the version HEAD
    // saw, so the verdict is about the object that was looked at.
    const read = await this.getObject(uri, signal, out.ETag);
    try {
      const check = await verifyArchiveStream(read.body, expected.crc, signal ? { signal } : {});
      if (check.kind === 'unverified') return check;
      if (read.bytes !== null && check.bytes !== read.bytes) {
        // Node's HTTP client fails a body cut short of its Content-Length; this guards any other handler.
        return { kind: 'unverified', reason: `read ${check.bytes} of ${read.bytes} bytes`, bytes: check.bytes };
      }
      return { ...check, by: 'full_read' };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classifyS3Error(err, `S3 verify ${uri}`);
    }
  }

  /**
   * Nothing to sweep: a put() that dies mid-upload leaves no object, only the parts of an incomplete multipart
   * upload, invisible to readers. They are not swept here: listing them needs ListMultipartUploads (often not
   * granted to Pinot's deep-store credentials), nothing marks an upload as ours (Pinot's S3PinotFS uploads to the
   * same keys), and an upload's age is its start, not its last part, so a slow large upload would look stale.
   * The bucket lifecycle rule AbortIncompleteMultipartUpload (e.g. after 1 day) is the usual answer, and
   * removes Pinot's own leftovers as well.
   */
  async sweepStaleTemps(options: SweepOptions = {}): Promise<SweepResult> {
    options.signal?.throwIfAborted();
    return { removed: 0, bytes: 0 };
  }

  async get(uri: string, options: DeepStoreCallOptions = {}): Promise<ObjectRead> {
    return this.getObject(uri, options.signal);
  }

  /**
   * Write: PutObject of a small object at `<prefix>/.pinot-sidecar.probe/<name>`, GetObject and compare,
   * DeleteObject; the permissions repair needs (s3:PutObject, s3:GetObject), plus s3:DeleteObject, whose
   * refusal is only a warning (ProbeResult says why). Read: ListObjectsV2 of one key under the prefix, then
   * HeadObject of the probe key. The list needs s3:ListBucket, which repair needs anyway: without it S3
   * answers a HEAD of a missing object with 403 instead of 404, and every repair's first look fails. (HeadBucket
   * needs the same permission but on the whole bucket, so a policy scoped to the prefix with an `s3:prefix`
   * condition refuses it; and its answer has no body to tell why.) The HEAD needs s3:GetObject, which a
   * download from the deep store needs; 404 is the expected answer.
   */
  async probe(mode: ProbeMode, options: ProbeOptions = {}): Promise<ProbeResult> {
    const { signal } = options;
    const { bucket, prefix } = this;
    const key = `${prefix === '' ? '' : `${prefix}/`}${PROBE_FOLDER}/${probeObjectName(options.name ?? '') || this.probeName}`;
    const uri = `s3://${bucket}/${key}`;
    const abort = signal === undefined ? {} : { abortSignal: signal };
    const context = {
      mode,
      uri,
      target: { endpoint: this.endpoint, bucket },
      signal,
      classify: (err: unknown, step: string) => classifyS3Error(err, `S3 probe ${step} ${uri}`),
    };
    return runProbe(context, async (run) => {
      if (mode === 'read') {
        await run.step('list', () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              MaxKeys: 1,
              ...(prefix === '' ? {} : { Prefix: `${prefix}/` }),
            }),
            abort,
          ),
        );
        await run.step('head', () => this.headObject(uri, signal));
        return undefined;
      }
      const body = probeBody();
      await run.step('write', () =>
        this.client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }),
          abort,
        ),
      );
      let deleteTried = false;
      try {
        const back = await run.step('read', () => this.readHead(uri, signal, PROBE_READ_LIMIT_BYTES + 1));
        await run.step('compare', async () => {
          if (!back.equals(body))
            throw probeMismatch(uri, body, back, { truncated: back.length > PROBE_READ_LIMIT_BYTES });
        });
        deleteTried = true;
        return await run.tolerate('delete', () =>
          this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), abort),
        );
      } finally {
        if (!deleteTried) await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => {});
      }
    });
  }

  /** The first `limit` bytes of the object at `uri` (fewer when it is shorter); the rest is not downloaded. */
  private async readHead(uri: string, signal: AbortSignal | undefined, limit: number): Promise<Buffer> {
    const { body } = await this.getObject(uri, signal);
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

  /** GET of `uri`; with `ifMatch`, only the version with that ETag (else a retriable ObjectChanged). */
  private async getObject(uri: string, signal: AbortSignal | undefined, ifMatch?: string): Promise<ObjectRead> {
    const target = this.locate(uri);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: target.bucket,
          Key: target.key,
          ...(ifMatch === undefined ? {} : { IfMatch: ifMatch }),
        }),
        signal === undefined ? {} : { abortSignal: signal },
      );
      // In Node the SDK's Body is the HTTP response itself (an IncomingMessage with helper methods mixed in).
      if (!(out.Body instanceof Readable)) {
        throw new DeepStoreError(`S3 get ${uri}: the SDK returned no readable body`, {
          code: 'NoBody',
          retriable: false,
        });
      }
      return { body: destroyOnAbort(out.Body, signal), bytes: out.ContentLength ?? null };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (ifMatch !== undefined && s3ErrorFacts(err).httpStatus === 412) {
        throw new DeepStoreError(`S3 get ${uri}: the object was replaced while it was being verified`, {
          code: 'ObjectChanged',
          retriable: true,
          httpStatus: 412,
          cause: err,
        });
      }
      // GetObject answers with a body, so a missing key (NoSuchKey) and a missing bucket (NoSuchBucket) differ.
      throw classifyS3Error(err, `S3 get ${uri}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** HEAD of `uri`, or null when there is no object. */
  private async headObject(uri: string, signal: AbortSignal | undefined): Promise<HeadObjectCommandOutput | null> {
    const target = this.locate(uri);
    try {
      return await this.client.send(
        new HeadObjectCommand({ Bucket: target.bucket, Key: target.key }),
        signal === undefined ? {} : { abortSignal: signal },
      );
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // A HEAD answer has no body, so a 404 cannot tell a missing key from a missing bucket; the latter shows
      // up as NoSuchBucket on the next put().
      if (s3ErrorFacts(err).httpStatus === 404) return null;
      throw classifyS3Error(err, `S3 head ${uri}`);
    }
  }

  private locate(uri: string): { bucket: string; key: string } {
    const target = locateObject(this.base, uri);
    if (target.kind !== 's3') throw new TypeError('unreachable: locateObject keeps the base kind');
    return target;
  }

  /**
   * lib-storage aborts the multipart upload when it fails, but a failing abort is only reported in place of
   * the real error. If our watch did not see the abort succeed, try once more ourselves; if that fails too,
   * the parts stay until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them.
   */
  private async abortIfLeftOpen(
    watch: UploadWatch,
    target: { bucket: string; key: string },
    uri: string,
  ): Promise<void> {
    if (watch.uploadId === undefined || watch.aborted) return;
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: watch.uploadId }),
      );
    } catch (err) {
      if (watch.aborted) return;
      this.logger.warn(
        { uri, uploadId: watch.uploadId, err },
        'could not abort a failed multipart upload; its parts stay until a lifecycle rule removes them',
      );
    }
  }

  /** One middleware for the client's lifetime, outside the SDK's retries: it sees each command's final outcome. */
  private watchUploads(): void {
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<PropertyKey, unknown>;
        const isAbort = context.commandName === 'AbortMultipartUploadCommand';
        const watch = isAbort
          ? this.watchesByUploadId.get(String(input['UploadId']))
          : (input[WATCH] as UploadWatch | undefined);
        if (watch === undefined) return next(args);
        if (context.commandName === 'PutObjectCommand') recordArchiveSize(input);
        try {
          const result = await next(args);
          if (isAbort) {
            watch.aborted = true;
            watch.onAbortAnswered?.();
          }
          const uploadId = (result.output as { UploadId?: unknown }).UploadId;
          if (context.commandName === 'CreateMultipartUploadCommand' && typeof uploadId === 'string') {
            watch.uploadId = uploadId;
            this.watchesByUploadId.set(uploadId, watch);
          }
          return result;
        } catch (err) {
          // An abort that finds no upload has nothing left to remove (it was completed or aborted already).
          if (isAbort) {
            watch.aborted ||= s3ErrorFacts(err).code === 'NoSuchUpload';
            watch.onAbortAnswered?.();
          } else watch.onStoreFailure(err);
          throw err;
        }
      },
      { step: 'initialize', name: 'pinotSidecarUploadWatch', priority: 'high', override: true },
    );
  }
}

/** The size and CRC put() recorded with an object (either may be missing). */
function recordedArchive(out: HeadObjectCommandOutput): { crc: string | undefined; bytes: string | undefined } {
  return { crc: out.Metadata?.[CRC_METADATA_KEY], bytes: out.Metadata?.[BYTES_METADATA_KEY] };
}

/**
 * Add the body's size to a single-request put's metadata. lib-storage sends a body that fits in one part as
 * one PutObject whose Body is the whole archive in memory, so its size is known before the request goes out.
 */
function recordArchiveSize(input: Record<PropertyKey, unknown>): void {
  const body = input['Body'];
  if (!(body instanceof Uint8Array)) return;
  input['Metadata'] = {
    ...(input['Metadata'] as Record<string, string> | undefined),
    [BYTES_METADATA_KEY]: String(body.byteLength),
  };
}
