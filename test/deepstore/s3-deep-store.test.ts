import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it, vi } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { type S3DeepStore, s3ClientConfig } from '../../src/deepstore/s3-deep-store.js';
import { faults, type S3Operation } from '../helpers/fault-proxy.js';
import { useProxiedS3 } from '../helpers/proxied-s3.js';
import { FAKE_CREDENTIALS } from '../helpers/s3-fake.js';
import { MiB, PatternSource, rejection, sha256 } from './support.js';

/**
 * The S3 deep store against an S3 fake over real HTTP, through a fault-injecting proxy (test/helpers).
 * Each test has its own bucket; `maxAttempts: 1` unless a test is about the SDK's own retries, so every
 * injected fault reaches the store's error handling.
 */
const s3 = useProxiedS3();
/** A store on a bucket of its own, through the proxy, `maxAttempts: 1` unless given (useProxiedS3). */
const newStore = s3.newStore;

async function storedBytes(bucket: string, key: string): Promise<Buffer> {
  const out = await s3.fake.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** Statuses the client received for one operation, in order. */
function statuses(op: S3Operation): Array<number | 'reset' | null> {
  return s3.proxy.log.filter((r) => r.op === op).map((r) => r.status);
}

/** After a failed put: never completed, the multipart upload aborted, nothing at the key, no upload in progress. */
async function expectNothingLeft(
  store: S3DeepStore,
  bucket: string,
  uri: string,
  abortStatuses: number[] = [204],
): Promise<void> {
  expect(s3.proxy.count('CompleteMultipartUpload')).toBe(0);
  expect(statuses('AbortMultipartUpload')).toEqual(abortStatuses);
  expect(await store.head(uri)).toBeNull();
  expect(await s3.fake.hasInProgressMultipartUploads(bucket)).toBe(false);
}

describe('S3DeepStore round trips', () => {
  it('puts a small segment with its CRC as user metadata and heads it back', async () => {
    const { store, bucket } = await newStore();
    const uri = store.segmentUri('myTable', 'myTable__0__5__20240101T0000Z');
    expect(uri).toBe(`s3://${bucket}/pinot/data/myTable/myTable__0__5__20240101T0000Z`);
    const data = Buffer.from('a tiny segment archive');

    expect(await store.put(uri, Readable.from([data]), { crc: '1299627447' })).toEqual({ bytes: data.length });
    expect(await store.head(uri)).toEqual({ bytes: data.length, crc: '1299627447' });

    expect(await storedBytes(bucket, 'pinot/data/myTable/myTable__0__5__20240101T0000Z')).toEqual(data);
    // one PutObject (small bodies skip multipart) carrying the metadata header
    expect(s3.proxy.count('PutObject')).toBe(1);
    expect(s3.proxy.log.find((r) => r.op === 'PutObject')?.headers['x-amz-meta-segment-crc']).toBe('1299627447');
  });

  it('streams a 40 MiB body as a 3-part multipart upload, byte-identical', async () => {
    const { store, bucket } = await newStore();
    const uri = store.segmentUri('big', 'big__0__1__20240101T0000Z');
    const source = new PatternSource(40 * MiB);

    expect(await store.put(uri, source, { crc: '4294967295' })).toEqual({ bytes: 40 * MiB });
    expect(await store.head(uri)).toEqual({ bytes: 40 * MiB, crc: '4294967295' });

    const stored = await storedBytes(bucket, 'pinot/data/big/big__0__1__20240101T0000Z');
    expect(stored.length).toBe(40 * MiB);
    expect(sha256(stored)).toBe(source.digest());
    expect(s3.proxy.count('CreateMultipartUpload')).toBe(1);
    expect(
      s3.proxy.log
        .filter((r) => r.op === 'UploadPart')
        .map((r) => r.query.get('partNumber'))
        .sort(),
    ).toEqual(['1', '2', '3']);
    expect(s3.proxy.count('CompleteMultipartUpload')).toBe(1);
    expect(s3.proxy.count('AbortMultipartUpload')).toBe(0);
  });

  it('head() of a missing object is null', async () => {
    const { store } = await newStore();
    expect(await store.head(store.segmentUri('t', 'nothing_here'))).toBeNull();
    expect(s3.proxy.log.map((r) => [r.op, r.status])).toEqual([['HeadObject', 404]]);
  });

  it('head() of an object written without our metadata (e.g. by Pinot) has crc null', async () => {
    const { store, bucket } = await newStore();
    await s3.fake.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'pinot/data/t/by_pinot', Body: Buffer.from('xyz') }),
    );
    expect(await store.head(store.segmentUri('t', 'by_pinot'))).toEqual({ bytes: 3, crc: null });
  });

  it('stores odd segment names at the keys Pinot would use', async () => {
    const { store, bucket } = await newStore();
    const names = ['seg with space', 'seg~tilde', 'séga', '100%', "it's(1)", '*-._'];
    for (const [i, name] of names.entries()) {
      await store.put(store.segmentUri('t', name), Readable.from([Buffer.from(name)]), { crc: String(i) });
    }
    const listed = await s3.fake.client.send(new ListObjectsV2Command({ Bucket: bucket }));
    // The key is the URI path decoded like java.net.URI.getPath(): %XX decoded, "+" kept as "+".
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual(
      [
        'pinot/data/t/seg+with+space',
        'pinot/data/t/seg~tilde',
        'pinot/data/t/séga',
        'pinot/data/t/100%',
        "pinot/data/t/it's(1)",
        'pinot/data/t/*-._',
      ].sort(),
    );
    for (const [i, name] of names.entries()) {
      expect(await store.head(store.segmentUri('t', name))).toEqual({ bytes: Buffer.byteLength(name), crc: String(i) });
    }
  });

  it('maps "a b" and "a+b" to one key, as Pinot does (URLEncoder, S3PinotFS.sanitizePath)', async () => {
    const { store, bucket } = await newStore();
    // Two URIs (URLEncoder: space → "+", "+" → %2B) ...
    expect(store.segmentUri('t', 'a b')).toBe(`s3://${bucket}/pinot/data/t/a+b`);
    expect(store.segmentUri('t', 'a+b')).toBe(`s3://${bucket}/pinot/data/t/a%2Bb`);
    await store.put(store.segmentUri('t', 'a b'), Readable.from([Buffer.from('space')]), { crc: '1' });
    // ... whose decoded keys are both "a+b": the same object
    expect(await store.head(store.segmentUri('t', 'a+b'))).toEqual({ bytes: 5, crc: '1' });
    await store.put(store.segmentUri('t', 'a+b'), Readable.from([Buffer.from('plus!!')]), { crc: '2' });
    expect(
      (await s3.fake.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key),
    ).toEqual(['pinot/data/t/a+b']);
    expect(await storedBytes(bucket, 'pinot/data/t/a+b')).toEqual(Buffer.from('plus!!'));
    expect(await store.head(store.segmentUri('t', 'a b'))).toEqual({ bytes: 6, crc: '2' });
  });

  it('finds the same key for a base URI with a trailing slash (Pinot writes "//", S3PinotFS collapses it)', async () => {
    const { store, bucket } = await newStore({ prefix: 'pinot/data/' });
    const uri = store.segmentUri('t', 'seg');
    expect(uri).toBe(`s3://${bucket}/pinot/data//t/seg`);
    await store.put(uri, Readable.from([Buffer.from('x')]), { crc: '5' });
    expect(
      (await s3.fake.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key),
    ).toEqual(['pinot/data/t/seg']);
  });

  it.each(['WHEN_REQUIRED', 'WHEN_SUPPORTED'] as const)(
    'round-trips multipart with checksums %s, sending checksums only when asked',
    async (checksums) => {
      const { store } = await newStore({ checksums, partSizeBytes: 5 * MiB });
      const uri = store.segmentUri('t', `sum_${checksums}`);
      await store.put(uri, new PatternSource(11 * MiB), { crc: '77' });
      expect(await store.head(uri)).toEqual({ bytes: 11 * MiB, crc: '77' });
      const parts = s3.proxy.log.filter((r) => r.op === 'UploadPart');
      expect(parts).toHaveLength(3);
      for (const part of parts) {
        expect(part.headers['content-encoding'] ?? '').not.toContain('aws-chunked');
        expect('x-amz-checksum-crc32' in part.headers).toBe(checksums === 'WHEN_SUPPORTED');
      }
    },
  );
});

describe('S3DeepStore failures', () => {
  it('surfaces 503 SlowDown with Retry-After as retriable, with retryAfterMs', async () => {
    const { store } = await newStore();
    s3.proxy.inject('PutObject', faults.slowDown(7));
    const body = Readable.from([Buffer.from('x')]);
    const err = await rejection(store.put(store.segmentUri('t', 'seg'), body, { crc: '1' }));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ code: 'SlowDown', httpStatus: 503, retryAfterMs: 7000, retriable: true });
    expect(body.destroyed).toBe(true);
  });

  it('surfaces SlowDown on a multipart step the same way', async () => {
    const { store } = await newStore({ partSizeBytes: 5 * MiB });
    s3.proxy.inject('CreateMultipartUpload', faults.slowDown(2));
    const err = await rejection(store.put(store.segmentUri('t', 'seg'), new PatternSource(12 * MiB), { crc: '1' }));
    expect(err).toMatchObject({ code: 'SlowDown', httpStatus: 503, retryAfterMs: 2000, retriable: true });
    expect(s3.proxy.count('UploadPart')).toBe(0);
  });

  it('surfaces 403 AccessDenied as permanent, with its code', async () => {
    const { store } = await newStore();
    s3.proxy.inject('PutObject', faults.accessDenied());
    const err = await rejection(
      store.put(store.segmentUri('t', 'seg'), Readable.from([Buffer.from('x')]), { crc: '1' }),
    );
    expect(err).toMatchObject({ code: 'AccessDenied', httpStatus: 403, retriable: false, retryAfterMs: undefined });
    expect((err as Error).message).toContain('AccessDenied (HTTP 403)');
  });

  it('surfaces a 403 to HEAD (no body to name it) as permanent Forbidden, not as "missing"', async () => {
    const { store } = await newStore();
    s3.proxy.inject('HeadObject', faults.accessDenied());
    const err = await rejection(store.head(store.segmentUri('t', 'seg')));
    expect(err).toMatchObject({ code: 'Forbidden', httpStatus: 403, retriable: false });
  });

  it('surfaces NoSuchBucket as permanent', async () => {
    const { store: missing } = await newStore({ bucket: 'no-such-bucket-here', prefix: 'data' });
    const err = await rejection(
      missing.put(missing.segmentUri('t', 's'), Readable.from([Buffer.from('x')]), { crc: '1' }),
    );
    expect(err).toMatchObject({ code: 'NoSuchBucket', httpStatus: 404, retriable: false });
  });

  it('surfaces a connection reset before the request reached S3 as retriable', async () => {
    const { store } = await newStore({ partSizeBytes: 5 * MiB });
    s3.proxy.inject('UploadPart', faults.resetBeforeForward());
    const body = new PatternSource(12 * MiB);
    const uri = store.segmentUri('t', 'seg');
    const err = await rejection(store.put(uri, body, { crc: '1' }));
    // the client was writing the part when its socket died: reset or broken pipe, both retriable
    expect(err).toMatchObject({ httpStatus: undefined, retriable: true });
    expect(['ECONNRESET', 'EPIPE']).toContain((err as DeepStoreError).code);
    expect(body.destroyed).toBe(true);
    expect(await store.head(uri)).toBeNull();
  });

  it('ambiguous success: CompleteMultipartUpload succeeds in S3 but the client sees a 500', async () => {
    const { store, bucket } = await newStore({ partSizeBytes: 5 * MiB });
    s3.proxy.inject('CompleteMultipartUpload', faults.forwardThenFail());
    const uri = store.segmentUri('t', 'seg');
    const source = new PatternSource(12 * MiB);

    const err = await rejection(store.put(uri, source, { crc: '31337' }));
    expect(err).toMatchObject({ code: 'InternalError', httpStatus: 500, retriable: true });
    const complete = s3.proxy.log.find((r) => r.op === 'CompleteMultipartUpload');
    expect([complete?.upstreamStatus, complete?.status]).toEqual([200, 500]);

    // The object is there, whole, with its CRC: the reconciler must count it as uploaded.
    expect(await store.head(uri)).toEqual({ bytes: 12 * MiB, crc: '31337' });
    expect(sha256(await storedBytes(bucket, 'pinot/data/t/seg'))).toBe(source.digest());
    // lib-storage's clean-up abort found nothing to remove (the upload was completed).
    expect(statuses('AbortMultipartUpload')).toEqual([404]);

    // Doing it again is harmless: same key, same bytes.
    const again = new PatternSource(12 * MiB);
    await store.put(uri, again, { crc: '31337' });
    expect(await store.head(uri)).toEqual({ bytes: 12 * MiB, crc: '31337' });
  });

  it('ambiguous success: PutObject stored but the client sees a 500', async () => {
    const { store } = await newStore();
    s3.proxy.inject('PutObject', faults.forwardThenFail());
    const uri = store.segmentUri('t', 'small');
    const err = await rejection(store.put(uri, Readable.from([Buffer.from('0123456789')]), { crc: '10' }));
    expect(err).toMatchObject({ code: 'InternalError', retriable: true });
    expect(await store.head(uri)).toEqual({ bytes: 10, crc: '10' });
  });

  it('ambiguous success: PutObject stored, then the connection reset before the answer', async () => {
    const { store } = await newStore();
    s3.proxy.inject('PutObject', faults.resetAfterForward());
    const uri = store.segmentUri('t', 'small');
    const err = await rejection(store.put(uri, Readable.from([Buffer.from('0123')]), { crc: '4' }));
    expect(err).toMatchObject({ code: 'ECONNRESET', retriable: true });
    expect(await store.head(uri)).toEqual({ bytes: 4, crc: '4' });
  });
});

describe('S3DeepStore clean-up after a failed upload', () => {
  it('a failing part aborts the multipart upload, stops reading the body and destroys it', async () => {
    const { store, bucket } = await newStore();
    s3.proxy.inject('UploadPart', faults.internalError(), { after: 1 }); // the second part to arrive fails
    const total = 320 * MiB; // 20 parts; far more than is ever read once a part has failed
    const body = new PatternSource(total);
    const uri = store.segmentUri('t', 'seg');

    const err = await rejection(store.put(uri, body, { crc: '1' }));
    expect(err).toMatchObject({ code: 'InternalError', httpStatus: 500, retriable: true });
    expect(body.destroyed).toBe(true);
    // lib-storage alone would keep reading and uploading all 20 parts before giving up
    expect(body.emitted).toBeLessThan(total / 2);
    expect(s3.proxy.count('UploadPart')).toBeLessThan(10);
    await expectNothingLeft(store, bucket, uri);
  });

  it('a source stream failing mid-way aborts the upload and rejects with the source error itself', async () => {
    const { store, bucket } = await newStore({ partSizeBytes: 5 * MiB });
    const vanished = Object.assign(new Error('ENOENT: segment directory removed'), { code: 'ENOENT' });
    const body = new PatternSource(100 * MiB, { failAfter: 17 * MiB, failWith: vanished });
    const uri = store.segmentUri('t', 'seg');

    const err = await rejection(store.put(uri, body, { crc: '1' }));
    expect(err).toBe(vanished);
    expect(body.destroyed).toBe(true);
    await expectNothingLeft(store, bucket, uri);
  });

  it("retries the abort itself when lib-storage's abort fails, and still reports the original error", async () => {
    const { store, bucket } = await newStore({ partSizeBytes: 5 * MiB });
    s3.proxy.inject('UploadPart', faults.accessDenied());
    s3.proxy.inject('AbortMultipartUpload', faults.internalError());
    const uri = store.segmentUri('t', 'seg');
    const err = await rejection(store.put(uri, new PatternSource(30 * MiB), { crc: '1' }));
    expect(err).toMatchObject({ code: 'AccessDenied', retriable: false }); // not the abort's InternalError
    await expectNothingLeft(store, bucket, uri, [500, 204]);
  });

  it('aborting the signal mid-upload rejects with its reason and leaves nothing behind', async () => {
    const { store, bucket } = await newStore({ partSizeBytes: 5 * MiB });
    const body = new PatternSource(100 * MiB, { stallAfter: 11 * MiB }); // then never produces again
    const controller = new AbortController();
    const uri = store.segmentUri('t', 'seg');
    const put = store.put(uri, body, { crc: '1' }, { signal: controller.signal });
    await vi.waitFor(() =>
      expect(s3.proxy.log.filter((r) => r.op === 'UploadPart' && r.status === 200)).toHaveLength(2),
    );

    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await rejection(put)).toBe(reason);
    expect(body.destroyed).toBe(true);
    await expectNothingLeft(store, bucket, uri);
  });

  it('aborting while a part request is held on the wire settles at once, not when the request would end', async () => {
    const { store, bucket } = await newStore({ partSizeBytes: 5 * MiB });
    // Every part is held for ten minutes: only cancelling the requests themselves lets put() settle
    // within this test's timeout.
    const hold = s3.proxy.inject('UploadPart', faults.delay(600_000), { times: Infinity });
    const body = new PatternSource(20 * MiB);
    const controller = new AbortController();
    const uri = store.segmentUri('t', 'held');
    const put = store.put(uri, body, { crc: '1' }, { signal: controller.signal });
    await vi.waitFor(() => expect(s3.proxy.count('UploadPart')).toBeGreaterThan(0));
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await rejection(put)).toBe(reason);
    // Settled while every part request is still held at the proxy, none of them forwarded to the store: the
    // requests themselves were cancelled, not waited out (the hold outlasts the test's timeout).
    const parts = s3.proxy.log.filter((r) => r.op === 'UploadPart');
    expect(parts.map((r) => [r.fault, r.upstreamStatus])).toEqual(parts.map(() => ['delay', null]));
    expect(body.destroyed).toBe(true);
    hold.remove();
    await expectNothingLeft(store, bucket, uri);
  });

  it('with SDK retries on, a part that fails once is retried alone and the upload succeeds', async () => {
    const { store, bucket } = await newStore({ partSizeBytes: 5 * MiB, maxAttempts: 3 });
    s3.proxy.inject('UploadPart', faults.internalError(), { after: 1 });
    const source = new PatternSource(12 * MiB);
    const uri = store.segmentUri('t', 'seg');
    expect(await store.put(uri, source, { crc: '9' })).toEqual({ bytes: 12 * MiB });
    expect(statuses('UploadPart').sort()).toEqual([200, 200, 200, 500]);
    expect(s3.proxy.count('AbortMultipartUpload')).toBe(0);
    expect(sha256(await storedBytes(bucket, 'pinot/data/t/seg'))).toBe(source.digest());
  });
});

describe('S3DeepStore.get', () => {
  it('streams a multipart object back byte for byte, with its size', async () => {
    const { store } = await newStore({ partSizeBytes: 5 * MiB });
    const uri = store.segmentUri('t', 'seg');
    const source = new PatternSource(12 * MiB);
    await store.put(uri, source, { crc: '1' });
    s3.proxy.reset();
    const { body, bytes } = await store.get(uri);
    expect(bytes).toBe(12 * MiB);
    expect(sha256(await buffer(body))).toBe(source.digest());
    // one request: the whole object in one streamed answer (the proxy records its status once it has finished)
    await vi.waitFor(() => expect(s3.proxy.log.map((r) => [r.op, r.status])).toEqual([['GetObject', 200]]));
  });

  it('a missing key is NoSuchKey (404), permanent', async () => {
    const { store } = await newStore();
    const err = await rejection(store.get(store.segmentUri('t', 'nothing_here')));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ code: 'NoSuchKey', httpStatus: 404, retriable: false });
  });

  it('503 SlowDown is retriable, with retryAfterMs', async () => {
    const { store } = await newStore();
    s3.proxy.inject('GetObject', faults.slowDown(3));
    expect(await rejection(store.get(store.segmentUri('t', 'seg')))).toMatchObject({
      code: 'SlowDown',
      httpStatus: 503,
      retryAfterMs: 3000,
      retriable: true,
    });
  });

  it('refuses a URI outside the deep store before any request', async () => {
    const { store } = await newStore();
    expect(await rejection(store.get('s3://other-bucket/pinot/data/t/seg'))).toMatchObject({
      code: 'UriOutsideDeepStore',
      retriable: false,
    });
    expect(s3.proxy.log).toHaveLength(0);
  });

  it("aborting mid-body destroys the body with the signal's reason", async () => {
    const { store } = await newStore({ partSizeBytes: 5 * MiB });
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, new PatternSource(12 * MiB), { crc: '1' });
    const controller = new AbortController();
    const { body } = await store.get(uri, { signal: controller.signal });
    const reason = new Error('stop');
    const read = (async () => {
      for await (const _chunk of body) controller.abort(reason);
    })();
    expect(await rejection(read)).toBe(reason);
    expect(body.destroyed).toBe(true);
  });
});

describe('S3DeepStore refuses bad input before any request', () => {
  it.each([
    ['a URI outside the deep store', 's3://other-bucket/pinot/data/t/seg', '1', 'UriOutsideDeepStore'],
    ['a URI of another scheme', 'file:///pinot/data/t/seg', '1', 'UriOutsideDeepStore'],
    ['a CRC that is not an unsigned 32-bit decimal', null, '-5', 'InvalidCrc'],
    ['a CRC out of range', null, '4294967296', 'InvalidCrc'],
  ])('%s', async (_what, uri, crc, code) => {
    const { store } = await newStore();
    const body = Readable.from([Buffer.from('x')]);
    const err = await rejection(store.put(uri ?? store.segmentUri('t', 'seg'), body, { crc }));
    expect(err).toMatchObject({ code, retriable: false });
    expect(body.destroyed).toBe(true);
    expect(s3.proxy.log).toHaveLength(0);
  });

  it('an already aborted signal', async () => {
    const { store } = await newStore();
    const body = Readable.from([Buffer.from('x')]);
    const reason = new Error('stop');
    expect(
      await rejection(store.put(store.segmentUri('t', 's'), body, { crc: '1' }, { signal: AbortSignal.abort(reason) })),
    ).toBe(reason);
    expect(body.destroyed).toBe(true);
    expect(s3.proxy.log).toHaveLength(0);
  });
});

describe("the S3 fake's in-progress-upload probe (so the clean-up checks above can fail)", () => {
  it('sees a multipart upload that was neither completed nor aborted', async () => {
    const { bucket } = await newStore();
    await s3.fake.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'dangling' }));
    expect(await s3.fake.hasInProgressMultipartUploads(bucket)).toBe(true);
  });
});

describe('s3ClientConfig', () => {
  it.each([
    [{}, 'WHEN_SUPPORTED'], // AWS itself: full checksums
    [{ endpoint: 'http://minio:9000' }, 'WHEN_REQUIRED'], // S3-compatible stores: no aws-chunked framing
    [{ endpoint: 'http://minio:9000', checksums: 'WHEN_SUPPORTED' as const }, 'WHEN_SUPPORTED'],
    [{ checksums: 'WHEN_REQUIRED' as const }, 'WHEN_REQUIRED'],
  ])('checksums for %j → %s', (options, mode) => {
    const config = s3ClientConfig(options);
    expect(config.requestChecksumCalculation).toBe(mode);
    expect(config.responseChecksumValidation).toBe(mode);
  });

  it('defaults to 3 SDK attempts, path-style off, and bounded connect/idle timeouts', () => {
    expect(s3ClientConfig({})).toMatchObject({
      maxAttempts: 3,
      forcePathStyle: false,
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    });
    expect(s3ClientConfig({})).not.toHaveProperty('credentials'); // the standard AWS chain
    expect(s3ClientConfig({ credentials: FAKE_CREDENTIALS, maxAttempts: 1 })).toMatchObject({
      credentials: FAKE_CREDENTIALS,
      maxAttempts: 1,
    });
  });
});
