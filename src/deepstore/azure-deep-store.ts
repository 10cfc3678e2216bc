// The deep store on Azure Data Lake Storage Gen2, `adl2://<fileSystem>/<prefix>`, Pinot's ADLSGen2PinotFS
// (pinot-plugins/pinot-file-system/pinot-adls). It speaks the Blob API (@azure/storage-blob), not the DFS API
// that ADLSGen2PinotFS uses: on an account with a hierarchical namespace both APIs see the same files (a DFS
// path is a blob name), the Blob API also works on accounts without one and on Azurite (which has no DFS
// endpoint), and only the Blob API offers what put() needs: staged blocks committed at once with a condition
// (Put Block List with If-None-Match / If-Match) and the metadata, so the file appears whole or not at all. A
// DFS upload (create, append, flush) makes an empty file visible first.

import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobGetPropertiesResponse, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { silentLogger, type Logger } from '../log.js';
import { verifyArchiveStream } from './archive-verifier.js';
import { azureErrorFacts, classifyAzureError, PRECONDITION_FAILED_CODE } from './azure-classify.js';
import { azureAuth, azureServiceClient, type AzureCredentialOptions } from './azure-client.js';
import { BlockUploadFailure, uploadInBlocks } from './azure-block-upload.js';
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
 * Blob metadata name of the segment CRC. Not S3's `segment-crc` (CRC_METADATA_KEY): Azure metadata names must
 * be C# identifiers ("Setting and retrieving properties and metadata for Blob service resources"), so Azure
 * refuses a hyphen with 400 InvalidMetadata. Same meaning and value; names are read case-insensitively.
 */
export const AZURE_CRC_METADATA_KEY = 'segment_crc';

/**
 * Blob metadata name of the archive's size in bytes (S3's `segment-bytes`). Unlike S3, every put() records it:
 * the metadata goes with the last request (Put Blob or Put Block List), when the size is known.
 */
export const AZURE_BYTES_METADATA_KEY = 'segment_bytes';

export interface AzureDeepStoreOptions extends AzureCredentialOptions {
  /**
   * The container (ADLS Gen2 file system) when it is not the URI's authority. ADLSGen2PinotFS itself takes it from
   * its `fileSystemName` setting and ignores the URI's authority (it reads only the path): set this to that value
   * when the controller's `controller.data.dir` names something else there.
   */
  fileSystem?: string;
  /** Attempts per HTTP request inside the SDK (default 3); the caller retries whole uploads. Set 1 in tests. */
  maxTries?: number;
  /** A request without an answer (its headers) after this long is cancelled and retried (default 120 s). */
  tryTimeoutMs?: number;
  /** Block size (default 8 MiB, at most 4000 MiB). Memory per upload is about (concurrency + 1) blocks. */
  blockSizeBytes?: number;
  /** Blocks staged at once per upload (default 4). */
  concurrency?: number;
  logger?: Logger;
}

export const AZURE_DEFAULTS = {
  blockSizeBytes: 8 * 1024 * 1024,
  concurrency: 4,
  maxTries: 3,
  tryTimeoutMs: 120_000,
} as const;

/** Azure container names: 3 to 63 lower-case letters, digits and single hyphens, starting with a letter or digit. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;

export class AzureDeepStore implements DeepStore {
  readonly baseUri: string;
  private readonly base: StoreLocation & { kind: 'adl2' };
  private readonly container: ContainerClient;
  private readonly containerName: string;
  private readonly logger: Logger;
  private readonly blockSize: number;
  private readonly concurrency: number;
  /** Who the probe's "cannot reach" names (never with a SAS token). */
  private readonly endpoint: string;
  /** The probe object's name when probe() is given none (ProbeOptions.name). */
  private readonly probeName = randomUUID();

  constructor(baseUri: string, options: AzureDeepStoreOptions = {}) {
    const base = parseStoreUri(baseUri);
    if (base.kind !== 'adl2') throw new TypeError(`AzureDeepStore needs an adl2:// URI, got ${baseUri}`);
    this.base = base;
    this.baseUri = baseUri;
    this.containerName = options.fileSystem ?? base.fileSystem;
    if (!CONTAINER_NAME.test(this.containerName)) {
      throw invalidArgument(
        'InvalidDeepStoreUri',
        `invalid Azure container (file system) name ${JSON.stringify(this.containerName)}: ` +
          '3 to 63 lower-case letters, digits and single hyphens',
      );
    }
    this.blockSize = options.blockSizeBytes ?? AZURE_DEFAULTS.blockSizeBytes;
    this.concurrency = options.concurrency ?? AZURE_DEFAULTS.concurrency;
    this.logger = options.logger ?? silentLogger;
    const auth = azureAuth(options);
    this.endpoint = auth.kind === 'connectionString' ? 'the endpoint of the connection string' : auth.endpoint;
    const service = azureServiceClient(options, {
      retryOptions: {
        maxTries: options.maxTries ?? AZURE_DEFAULTS.maxTries,
        tryTimeoutInMs: options.tryTimeoutMs ?? AZURE_DEFAULTS.tryTimeoutMs,
      },
    });
    this.container = service.getContainerClient(this.containerName);
  }

  segmentUri(rawTableName: string, segmentName: string): string {
    return segmentUri(this.baseUri, rawTableName, segmentName);
  }

  /**
   * Streams `body` in blocks (uploadInBlocks) and commits them with the metadata and the condition: create-only
   * (If-None-Match: *) unless `replaceVersion` names the ETag to replace (If-Match). A body that fits in one
   * block goes as one Put Blob with the same condition. Either way the blob appears whole or not at all.
   */
  async put(
    uri: string,
    body: Readable,
    meta: SegmentObjectMeta,
    options: PutOptions = {},
  ): Promise<{ bytes: number }> {
    const { signal } = options;
    const blob = acceptPut(body, meta, signal, () => this.blockBlob(uri));
    const conditions =
      options.replaceVersion === undefined ? { ifNoneMatch: '*' } : { ifMatch: options.replaceVersion };
    const metadata = (bytes: number): Record<string, string> => ({
      [AZURE_CRC_METADATA_KEY]: meta.crc,
      [AZURE_BYTES_METADATA_KEY]: String(bytes),
    });
    try {
      return await uploadInBlocks(
        body,
        {
          putWhole: async (data, abortSignal) => {
            await blob.upload(data, data.length, { conditions, metadata: metadata(data.length), abortSignal });
          },
          stageBlock: async (blockId, data, abortSignal) => {
            await blob.stageBlock(blockId, data, data.length, { abortSignal });
          },
          commit: async (blockIds, bytes, abortSignal) => {
            await blob.commitBlockList(blockIds, { conditions, metadata: metadata(bytes), abortSignal });
          },
        },
        { blockSizeBytes: this.blockSize, concurrency: this.concurrency, signal },
      );
    } catch (err) {
      if (!(err instanceof BlockUploadFailure)) throw err;
      if (err.from !== 'store') throw err.error;
      const classified = classifyAzureError(err.error, `Azure put ${uri}`);
      this.logger.debug(
        { uri, code: classified.code },
        'Azure put failed; any staged blocks stay uncommitted until the next commit or 7 days',
      );
      if (classified.code === PRECONDITION_FAILED_CODE) {
        const expected = options.replaceVersion === undefined ? 'no object' : `version ${options.replaceVersion}`;
        throw new DeepStoreError(
          `Azure put ${uri}: expected ${expected} there, found another (someone else wrote it): ${classified.message}`,
          {
            code: PRECONDITION_FAILED_CODE,
            retriable: true,
            ...(classified.httpStatus === undefined ? {} : { httpStatus: classified.httpStatus }),
            cause: err.error,
          },
        );
      }
      throw classified;
    }
  }

  async head(uri: string, options: DeepStoreCallOptions = {}): Promise<StoredObject | null> {
    const props = await this.properties(uri, options.signal);
    if (props === null) return null;
    return {
      bytes: props.contentLength ?? 0,
      crc: metadataValue(props, AZURE_CRC_METADATA_KEY) ?? null,
      ...version(props),
    };
  }

  /**
   * One Get Blob Properties when the blob carries the size and CRC put() recorded: both match, verified; either
   * differs, unverified at once. Without them (written by Pinot), a full read pinned to the ETag just seen.
   */
  async verifyArchive(
    uri: string,
    expected: SegmentObjectMeta,
    options: DeepStoreCallOptions = {},
  ): Promise<ArchiveVerdict> {
    const { signal } = options;
    assertSegmentCrc(expected.crc);
    const props = await this.properties(uri, signal);
    if (props === null) return { kind: 'absent' };
    const bytes = props.contentLength ?? 0;
    const crc = metadataValue(props, AZURE_CRC_METADATA_KEY);
    const recordedBytes = metadataValue(props, AZURE_BYTES_METADATA_KEY);
    const decided = verdictFromRecord({ bytes, crc, recordedBytes, ...version(props) }, expected.crc);
    if (decided !== null) return decided;
    const read = await this.download(uri, signal, props.etag);
    try {
      const check = await verifyArchiveStream(read.body, expected.crc, signal ? { signal } : {});
      if (check.kind === 'unverified') return { ...check, ...version(props) };
      if (read.bytes !== null && check.bytes !== read.bytes) {
        return {
          kind: 'unverified',
          reason: `read ${check.bytes} of ${read.bytes} bytes`,
          bytes: check.bytes,
          ...version(props),
        };
      }
      return { ...check, by: 'full_read' };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classifyAzureError(err, `Azure verify ${uri}`);
    }
  }

  /**
   * Nothing to sweep: a put() that dies mid-upload leaves no blob, only uncommitted blocks, which no reader and no
   * ordinary listing sees (only List Blobs with include=uncommittedblobs) and which cannot be deleted. The blob's next
   * Put Block List (the retry) discards every uncommitted block it does not name, and Azure deletes uncommitted blocks
   * after 7 days (BlockBlobClient.commitBlockList: "Uncommitted blocks will expire and be permanently deleted after 7
   * days").
   */
  async sweepStaleTemps(options: SweepOptions = {}): Promise<SweepResult> {
    options.signal?.throwIfAborted();
    return { removed: 0, bytes: 0 };
  }

  async get(uri: string, options: DeepStoreCallOptions = {}): Promise<ObjectRead> {
    return this.download(uri, options.signal);
  }

  /**
   * Write: Put Blob of a small object at `<prefix>/.pinot-sidecar.probe/<name>`, Get Blob and compare, Delete
   * Blob (a refused delete is only a warning). Read: List Blobs of one name under the prefix (the container exists
   * and may be listed), then Get Blob Properties of the probe name, 404 expected. The role that repair needs,
   * Storage Blob Data Contributor, grants them all.
   */
  async probe(mode: ProbeMode, options: ProbeOptions = {}): Promise<ProbeResult> {
    const { signal } = options;
    const prefix = this.base.path;
    const probeName = probeObjectName(options.name ?? '') || this.probeName;
    const name = `${prefix === '' ? '' : `${prefix}/`}${PROBE_FOLDER}/${probeName}`;
    const uri = `adl2://${this.base.fileSystem}/${name}`;
    const blob = this.container.getBlockBlobClient(name);
    const abort = signal === undefined ? {} : { abortSignal: signal };
    const context = {
      mode,
      uri,
      target: { endpoint: this.endpoint, bucket: this.containerName },
      signal,
      classify: (err: unknown, step: string) => classifyAzureError(err, `Azure probe ${step} ${uri}`),
    };
    return runProbe(context, async (run) => {
      if (mode === 'read') {
        await run.step('list', () =>
          this.container
            .listBlobsFlat({ ...(prefix === '' ? {} : { prefix: `${prefix}/` }), ...abort })
            .byPage({ maxPageSize: 1 })
            .next(),
        );
        await run.step('head', () => this.properties(uri, signal));
        return undefined;
      }
      const body = probeBody();
      await run.step('write', () => blob.upload(body, body.length, abort));
      let deleteTried = false;
      try {
        const back = await run.step('read', () => this.readHead(uri, signal, PROBE_READ_LIMIT_BYTES + 1));
        await run.step('compare', async () => {
          if (!back.equals(body))
            throw probeMismatch(uri, body, back, { truncated: back.length > PROBE_READ_LIMIT_BYTES });
        });
        deleteTried = true;
        return await run.tolerate('delete', () => blob.delete(abort));
      } finally {
        if (!deleteTried) await blob.delete().catch(() => {});
      }
    });
  }

  /** Nothing to release: the SDK's HTTP agent is shared and keeps no connection open on its own. */
  async close(): Promise<void> {}

  /** The first `limit` bytes of the blob at `uri` (fewer when it is shorter). */
  private async readHead(uri: string, signal: AbortSignal | undefined, limit: number): Promise<Buffer> {
    const { body } = await this.download(uri, signal);
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

  /**
   * Get Blob of `uri`; with `ifMatch`, only the version with that ETag (else a retriable ObjectChanged). The
   * SDK resumes a body cut mid-way from where it stopped, pinned to the blob's ETag, so a resumed read never
   * mixes two versions.
   */
  private async download(uri: string, signal: AbortSignal | undefined, ifMatch?: string): Promise<ObjectRead> {
    const blob = this.blockBlob(uri);
    try {
      const out = await blob.download(0, undefined, {
        ...(ifMatch === undefined ? {} : { conditions: { ifMatch } }),
        ...(signal === undefined ? {} : { abortSignal: signal }),
      });
      const body = out.readableStreamBody;
      if (!(body instanceof Readable)) {
        throw new DeepStoreError(`Azure get ${uri}: the SDK returned no readable body`, {
          code: 'NoBody',
          retriable: false,
        });
      }
      return { body: destroyOnAbort(body, signal), bytes: out.contentLength ?? null };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (ifMatch !== undefined && azureErrorFacts(err).httpStatus === 412) {
        throw new DeepStoreError(`Azure get ${uri}: the object was replaced while it was being verified`, {
          code: 'ObjectChanged',
          retriable: true,
          httpStatus: 412,
          cause: err,
        });
      }
      throw classifyAzureError(err, `Azure get ${uri}`);
    }
  }

  /** Get Blob Properties of `uri`, or null when there is no blob (a missing container is an error). */
  private async properties(uri: string, signal: AbortSignal | undefined): Promise<BlobGetPropertiesResponse | null> {
    const blob = this.blockBlob(uri);
    try {
      return await blob.getProperties(signal === undefined ? {} : { abortSignal: signal });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // Azure names the 404 of a HEAD in its x-ms-error-code header: BlobNotFound and ContainerNotFound differ.
      const facts = azureErrorFacts(err);
      if (facts.httpStatus === 404 && facts.code !== 'ContainerNotFound') return null;
      throw classifyAzureError(err, `Azure head ${uri}`);
    }
  }

  private blockBlob(uri: string): BlockBlobClient {
    const target = locateObject(this.base, uri);
    if (target.kind !== 'adl2') throw new TypeError('unreachable: locateObject keeps the base kind');
    return this.container.getBlockBlobClient(target.path);
  }
}

/** A metadata value by name, case-insensitively (Azure metadata names are; HNS accounts may change their case). */
function metadataValue(props: BlobGetPropertiesResponse, name: string): string | undefined {
  const entry = Object.entries(props.metadata ?? {}).find(([key]) => key.toLowerCase() === name);
  return entry?.[1];
}

function version(props: BlobGetPropertiesResponse): { version?: string } {
  return props.etag === undefined ? {} : { version: props.etag };
}
