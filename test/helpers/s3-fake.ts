import {
  CreateBucketCommand,
  DeleteBucketCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';

/**
 * An in-process S3 over real HTTP on a loopback port: fauxqs (fastify + an in-memory store).
 *
 * Two adjustments to fauxqs 1.9.2, both through fastify's public API on the app it builds:
 * - It caps request bodies at 11 MiB (`bodyLimit` in fauxqs' buildApp), below the deep store's 16 MiB
 *   parts. We register a catch-all body parser with a 64 MiB limit; fastify prefers a RegExp parser over
 *   fauxqs' `*` one, and it still hands fauxqs the raw Buffer it expects.
 * - `startFauxqs` listens on 0.0.0.0; we listen on 127.0.0.1 only.
 *
 * fauxqs has no ListMultipartUploads (GET ?uploads is answered as ListObjects, which the SDK would read as
 * "no uploads": a check that cannot fail). `hasInProgressMultipartUploads` uses a behaviour it does have:
 * DeleteBucket answers 409 BucketNotEmpty while a multipart upload of that bucket is in progress.
 */
export const FAKE_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;
export const FAKE_REGION = 'us-east-1';

const PART_BODY_LIMIT = 64 * 1024 * 1024;

export interface S3Fake {
  /** `http://127.0.0.1:<port>`: point a client (or the fault proxy) here. */
  readonly endpoint: string;
  readonly port: number;
  /** An SDK client straight to the fake (no proxy), for setup and for checking what was stored. */
  readonly client: S3Client;
  createBucket(name: string): Promise<void>;
  /**
   * True when `bucket` has a multipart upload that was neither completed nor aborted. Needs a bucket without
   * objects (throws otherwise: the answer would be ambiguous). Leaves the bucket as it found it.
   */
  hasInProgressMultipartUploads(bucket: string): Promise<boolean>;
  /** Requests the fake has received and not finished with: answered, or their connection gone. */
  openRequests(): number;
  stop(): Promise<void>;
}

export async function startS3Fake(): Promise<S3Fake> {
  const app = buildApp({ logger: false });
  app.addContentTypeParser(/^.*/, { parseAs: 'buffer', bodyLimit: PART_BODY_LIMIT }, (_req, body, done) => {
    done(null, body);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fauxqs did not listen on a TCP port');
  const endpoint = `http://127.0.0.1:${address.port}`;
  let open = 0;
  app.server.on('request', (_req, res) => {
    open += 1;
    res.once('close', () => (open -= 1));
  });
  const client = new S3Client({
    endpoint,
    region: FAKE_REGION,
    credentials: FAKE_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });

  async function createBucket(name: string): Promise<void> {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  }

  return {
    endpoint,
    port: address.port,
    client,
    createBucket,
    async hasInProgressMultipartUploads(bucket) {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      if ((listed.KeyCount ?? 0) > 0) {
        throw new Error(`hasInProgressMultipartUploads needs an empty bucket; ${bucket} has objects`);
      }
      try {
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } catch (err) {
        if (err instanceof S3ServiceException && err.name === 'BucketNotEmpty') return true;
        throw err;
      }
      await createBucket(bucket);
      return false;
    },
    openRequests: () => open,
    async stop() {
      client.destroy();
      await app.close();
    },
  };
}
