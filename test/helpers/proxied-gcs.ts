import { afterAll, afterEach, beforeAll } from 'vitest';
import { GcsDeepStore, type GcsDeepStoreOptions } from '../../src/deepstore/gcs-deep-store.js';
import { startFakeGcs, type FakeGcs } from './fake-gcs.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from './fault-proxy.js';

export interface ProxiedGcsStoreSpec extends Partial<GcsDeepStoreOptions> {
  /** Object-name prefix of the store's URI (default `pinot/data`; '' for the bucket root). */
  prefix?: string;
  /** Use this bucket, not created (default: a new bucket, created). */
  bucket?: string;
}

export interface ProxiedGcs {
  readonly fake: FakeGcs;
  readonly proxy: FaultProxy;
  /**
   * A GcsDeepStore on a bucket of its own, through the fault proxy to fake-gcs-server, no credentials,
   * `maxAttempts: 1`; the proxy log starts empty.
   */
  newStore(spec?: ProxiedGcsStoreSpec): Promise<{ store: GcsDeepStore; bucket: string }>;
}

/** The GCS JSON API requests, as the fault proxy sees them (its S3 operation names do not apply). */
export const gcsRequests = {
  /** The POST that starts a resumable upload session. */
  startUpload: (r: ProxiedRequest): boolean =>
    r.method === 'POST' && r.url.startsWith('/upload/') && r.query.get('uploadType') === 'resumable',
  /** A PUT of upload data to a session (any chunk). */
  chunk: (r: ProxiedRequest): boolean => r.method === 'PUT' && r.query.has('upload_id'),
  /** The PUT that names the total: the upload's last request. */
  lastChunk: (r: ProxiedRequest): boolean =>
    r.method === 'PUT' && r.query.has('upload_id') && !/\/\*$/.test(String(r.headers['content-range'] ?? '')),
  /** The DELETE that cancels a session. */
  cancel: (r: ProxiedRequest): boolean => r.method === 'DELETE' && r.query.has('upload_id'),
  /** A metadata read of an object. */
  metadata: (r: ProxiedRequest): boolean =>
    r.method === 'GET' && r.url.startsWith('/storage/v1/b/') && r.url.includes('/o/') && r.query.get('alt') !== 'media',
  /** A metadata patch of an object. */
  patch: (r: ProxiedRequest): boolean => r.method === 'PATCH',
  /** A media (content) read. */
  media: (r: ProxiedRequest): boolean => r.method === 'GET' && r.query.get('alt') === 'media',
  /** An object listing. */
  list: (r: ProxiedRequest): boolean => r.method === 'GET' && /^\/storage\/v1\/b\/[^/]+\/o(\?|$)/.test(r.url),
};

let buckets = 0;

/**
 * Registers the file's hooks: one fake-gcs-server and one fault proxy in front of it for the whole file; after
 * each test the proxy forgets its log and faults.
 */
export function useProxiedGcs(): ProxiedGcs {
  let fake: FakeGcs | undefined;
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    fake = await startFakeGcs();
    proxy = await startFaultProxy(fake.endpoint);
  });
  afterEach(() => {
    proxy?.reset();
  });
  afterAll(async () => {
    await proxy?.stop();
    await fake?.stop();
  });
  return {
    get fake() {
      return fake!;
    },
    get proxy() {
      return proxy!;
    },
    async newStore(spec = {}) {
      const { prefix = 'pinot/data', bucket: given, ...options } = spec;
      const bucket = given ?? `store-${process.pid}-${(buckets += 1)}`;
      if (given === undefined) await fake!.createBucket(bucket);
      const store = new GcsDeepStore(`gs://${bucket}${prefix === '' ? '' : `/${prefix}`}`, {
        emulatorEndpoint: proxy!.endpoint,
        maxAttempts: 1,
        ...options,
      });
      proxy!.reset();
      return { store, bucket };
    },
  };
}
