import { afterAll, afterEach, beforeAll } from 'vitest';
import { S3DeepStore, type S3DeepStoreOptions } from '../../src/deepstore/s3-deep-store.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { FAKE_CREDENTIALS, FAKE_REGION, startS3Fake, type S3Fake } from './s3-fake.js';

export interface ProxiedStoreSpec extends Partial<S3DeepStoreOptions> {
  /** Key prefix of the store's URI (default `pinot/data`; '' for the bucket root). */
  prefix?: string;
  /** Use this bucket, not created (default: a new bucket, created). */
  bucket?: string;
}

export interface ProxiedS3 {
  readonly fake: S3Fake;
  readonly proxy: FaultProxy;
  /**
   * An S3DeepStore on a bucket of its own, through the proxy, path-style, `maxAttempts: 1` (every injected fault
   * reaches the store's own handling); closed after the test. The proxy log starts empty.
   */
  newStore(spec?: ProxiedStoreSpec): Promise<{ store: S3DeepStore; bucket: string }>;
}

let buckets = 0;

/**
 * Registers the file's hooks: one S3 fake and one fault proxy in front of it for the whole file; after each
 * test, the stores it made are closed and the proxy forgets its log and faults.
 */
export function useProxiedS3(): ProxiedS3 {
  let fake: S3Fake | undefined;
  let proxy: FaultProxy | undefined;
  const stores: S3DeepStore[] = [];
  beforeAll(async () => {
    fake = await startS3Fake();
    proxy = await startFaultProxy(fake.endpoint);
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
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
      const store = new S3DeepStore(`s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`, {
        endpoint: proxy!.endpoint,
        region: FAKE_REGION,
        credentials: FAKE_CREDENTIALS,
        forcePathStyle: true,
        maxAttempts: 1,
        ...options,
      });
      stores.push(store);
      proxy!.reset();
      return { store, bucket };
    },
  };
}
