import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { FileDeepStore } from '../../src/deepstore/file-deep-store.js';
import { BYTES_METADATA_KEY, CRC_METADATA_KEY, S3DeepStore } from '../../src/deepstore/s3-deep-store.js';
import { faults, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../helpers/fixtures.js';
import { FAKE_CREDENTIALS, FAKE_REGION, startS3Fake, type S3Fake } from '../helpers/s3-fake.js';
import { rawTar } from '../helpers/tar-entries.js';
import { openFdCount } from '../helpers/tree.js';
import { builtSegmentArchive, creationMeta, MiB, rejection, uniqueName } from './support.js';

/**
 * verifyArchive() on both stores, over a real file system and the S3 fake behind the fault proxy: an object at
 * the canonical key is adopted only when it is a complete archive of the segment (issue 10, item 1).
 */

const SEGMENT = 'events__0__7__20240101T0000Z';
let archive: Buffer;
let crc: string;

beforeAll(async () => {
  ({ archive, crc } = await builtSegmentArchive({ name: SEGMENT, payloadBytes: 400_000 }));
  expect(archive.length).toBeGreaterThan(200_000);
});

/** The segment's tar cut at an entry boundary (no end-of-archive blocks), gzipped again as a valid gzip. */
function cutAtEntryBoundary(whole: Buffer): Buffer {
  const tar = gunzipSync(whole);
  return gzipSync(tar.subarray(0, tar.length - 1024 - trailingZeroBlocks(tar.subarray(0, tar.length - 1024)) * 512));
}

/** Zero blocks before the end-of-archive marker (node-tar pads to a 512-byte block, not to a record). */
function trailingZeroBlocks(tar: Buffer): number {
  let n = 0;
  while (
    tar.length >= (n + 1) * 512 &&
    tar.subarray(tar.length - (n + 1) * 512, tar.length - n * 512).every((b) => b === 0)
  )
    n += 1;
  return n;
}

describe('FileDeepStore.verifyArchive (always a full read)', () => {
  let root: string;
  let store: FileDeepStore;
  let uri: string;
  let file: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'deepstore-verify-'));
    store = new FileDeepStore(pathToFileURL(root).href);
    uri = store.segmentUri('events', SEGMENT);
    file = path.join(root, 'events', SEGMENT);
    await mkdir(path.dirname(file), { recursive: true });
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('is absent when there is no file, nor a table folder', async () => {
    expect(await store.verifyArchive(uri, { crc })).toEqual({ kind: 'absent' });
    expect(await store.verifyArchive(store.segmentUri('other', SEGMENT), { crc })).toEqual({ kind: 'absent' });
  });

  it('verifies an archive written by put()', async () => {
    await store.put(uri, Readable.from([archive]), { crc });
    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'full_read',
    });
  });

  it('verifies an archive put there by someone else (Pinot), byte for byte the same', async () => {
    await writeFile(file, archive);
    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'full_read',
    });
  });

  it.each([
    [
      'the first 120,000 bytes of the archive (the attack: head() said crc matches)',
      () => archive.subarray(0, 120_000),
      /truncated/,
    ],
    ['a garbage file', () => Buffer.from('garbage, not an archive\n'), /not a gzip file/],
    [
      'an archive of another segment version (wrong CRC)',
      () => gzipSync(rawTar([{ path: `${SEGMENT}/` }, { path: `${SEGMENT}/creation.meta`, body: creationMeta(1n) }])),
      /holds CRC 1, expected/,
    ],
    [
      'the tar cut at an entry boundary, re-gzipped as a valid gzip',
      () => cutAtEntryBoundary(archive),
      /no end-of-archive marker/,
    ],
  ])('is unverified for %s, with a reason', async (_what, bytes, reason) => {
    await writeFile(file, bytes());
    // What the old check looked at: the CRC before the cut is still readable.
    const verdict = await store.verifyArchive(uri, { crc });
    expect(verdict).toMatchObject({ kind: 'unverified', reason: expect.stringMatching(reason) });
  });

  it('the truncated file is what head() alone would have adopted', async () => {
    await writeFile(file, archive.subarray(0, 120_000));
    expect(await store.head(uri)).toEqual({ bytes: 120_000, crc }); // same CRC: not enough to adopt
    expect(await store.verifyArchive(uri, { crc })).toMatchObject({ kind: 'unverified' });
  });

  it('a put() replaces an unverified object (temp + rename), after which it verifies', async () => {
    await writeFile(file, archive.subarray(0, 120_000));
    await store.put(uri, Readable.from([archive]), { crc });
    expect(await readFile(file)).toEqual(archive);
    expect(await store.verifyArchive(uri, { crc })).toMatchObject({ kind: 'verified' });
  });

  it('a folder at the key is unverified (never a segment object)', async () => {
    await mkdir(file);
    expect(await store.verifyArchive(uri, { crc })).toMatchObject({
      kind: 'unverified',
      reason: expect.stringMatching(/not a regular file/),
    });
  });

  it('refuses a malformed CRC', async () => {
    expect(await rejection(store.verifyArchive(uri, { crc: '-1' }))).toMatchObject({
      code: 'InvalidCrc',
      retriable: false,
    });
  });

  it('an abort during the full read rejects with the reason and leaves no file descriptor open', async () => {
    const big = await builtSegmentArchive({ name: SEGMENT, payloadBytes: 24 * MiB, payloadKind: 'random' });
    await writeFile(file, big.archive);
    const before = openFdCount();
    const controller = new AbortController();
    const verifying = store.verifyArchive(uri, { crc: big.crc }, { signal: controller.signal });
    // The read is under way once the object's descriptor is open.
    await vi.waitFor(() => expect(openFdCount()).toBeGreaterThan(before), { interval: 1 });
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await rejection(verifying)).toBe(reason);
    await vi.waitFor(() => expect(openFdCount()).toBe(before));
  });

  describe(`Apache Pinot's own archives${fixturesSkipNote}`, () => {
    it.skipIf(!hasPinotFixtures).each([
      ['legacyRawInverted_OFFLINE_0.tar.gz', '1299627447'],
      ['legacyRawInverted_v3_OFFLINE_0.tar.gz', '1299627447'],
      ['paddingNull.tar.gz', '2641412145'],
    ])('%s at the key is verified; its first half is not', async (name, fixtureCrc) => {
      const bytes = await readFile(pinotFixture(name));
      await writeFile(file, bytes);
      expect(await store.verifyArchive(uri, { crc: fixtureCrc })).toEqual({
        kind: 'verified',
        bytes: bytes.length,
        by: 'full_read',
      });
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
      expect(await store.verifyArchive(uri, { crc: fixtureCrc })).toMatchObject({ kind: 'unverified' });
    });
  });
});

describe('S3DeepStore.verifyArchive', () => {
  let fake: S3Fake;
  let proxy: FaultProxy;
  let store: S3DeepStore;
  let bucket: string;
  let uri: string;
  const key = `pinot/data/events/${SEGMENT}`;

  beforeAll(async () => {
    fake = await startS3Fake();
    proxy = await startFaultProxy(fake.endpoint);
  });

  afterAll(async () => {
    await proxy?.stop();
    await fake?.stop();
  });

  beforeEach(async () => {
    bucket = uniqueName('verify');
    await fake.createBucket(bucket);
    store = new S3DeepStore(`s3://${bucket}/pinot/data`, {
      endpoint: proxy.endpoint,
      region: FAKE_REGION,
      credentials: FAKE_CREDENTIALS,
      forcePathStyle: true,
      maxAttempts: 1,
      partSizeBytes: 5 * MiB,
    });
    uri = store.segmentUri('events', SEGMENT);
    proxy.reset();
  });

  afterEach(async () => {
    await store.close();
  });

  /**
   * Put an object straight into the fake, as Pinot or another tool would (no proxy, no sidecar metadata unless given).
   */
  async function upload(body: Buffer, metadata?: Record<string, string>): Promise<void> {
    await fake.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...(metadata ? { Metadata: metadata } : {}) }),
    );
  }

  it('is absent after one HEAD when there is no object', async () => {
    expect(await store.verifyArchive(uri, { crc })).toEqual({ kind: 'absent' });
    expect(proxy.log.map((r) => [r.op, r.status])).toEqual([['HeadObject', 404]]);
  });

  it('put() records the size beside the CRC; the archive then verifies from one HEAD, without a GET', async () => {
    await store.put(uri, Readable.from([archive]), { crc });
    const putRequest = proxy.log.find((r) => r.op === 'PutObject');
    expect(putRequest?.headers[`x-amz-meta-${CRC_METADATA_KEY}`]).toBe(crc);
    expect(putRequest?.headers[`x-amz-meta-${BYTES_METADATA_KEY}`]).toBe(String(archive.length));
    proxy.reset();

    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'recorded',
    });
    expect(proxy.log.map((r) => r.op)).toEqual(['HeadObject']);
  });

  it('a multipart put (size unknown when its metadata is sent) is verified by a full read', async () => {
    const big = await builtSegmentArchive({ name: SEGMENT, payloadBytes: 6 * MiB, payloadKind: 'random' });
    await store.put(uri, Readable.from([big.archive]), { crc: big.crc });
    expect(proxy.count('CreateMultipartUpload')).toBe(1);
    proxy.reset();

    expect(await store.verifyArchive(uri, { crc: big.crc })).toEqual({
      kind: 'verified',
      bytes: big.archive.length,
      by: 'full_read',
    });
    expect(proxy.log.map((r) => r.op)).toEqual(['HeadObject', 'GetObject']);
  });

  it('a complete archive uploaded without metadata (as Pinot uploads) is verified by a full read of the version HEAD saw', async () => {
    await upload(archive);
    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'full_read',
    });
    expect(proxy.log.map((r) => r.op)).toEqual(['HeadObject', 'GetObject']);
    const { ETag } = await fake.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(proxy.log[1]?.headers['if-match']).toBe(ETag);
  });

  it('the first 120,000 bytes uploaded without metadata are unverified', async () => {
    await upload(archive.subarray(0, 120_000));
    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'unverified',
      reason: 'gzip data cut short: the object is truncated',
      bytes: 120_000,
    });
  });

  it('a 29-byte object carrying the matching CRC metadata (the attack) is unverified', async () => {
    await upload(Buffer.from('not the segment, 29 bytes....'), { [CRC_METADATA_KEY]: crc });
    expect(await store.head(uri)).toEqual({ bytes: 29, crc }); // what the old check trusted
    expect(await store.verifyArchive(uri, { crc })).toMatchObject({
      kind: 'unverified',
      reason: expect.stringMatching(/not a gzip file/),
      bytes: 29,
    });
  });

  it("a matching CRC with a recorded size that is not the object's is unverified, without a GET", async () => {
    await upload(archive.subarray(0, 120_000), {
      [CRC_METADATA_KEY]: crc,
      [BYTES_METADATA_KEY]: String(archive.length),
    });
    proxy.reset();
    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'unverified',
      reason: `recorded size "${archive.length}" bytes, the object has 120000: cut or replaced`,
      bytes: 120_000,
    });
    expect(proxy.log.map((r) => r.op)).toEqual(['HeadObject']);
  });

  it('a recorded CRC of another segment version is unverified, without a GET', async () => {
    await upload(archive, { [CRC_METADATA_KEY]: '12345', [BYTES_METADATA_KEY]: String(archive.length) });
    proxy.reset();
    expect(await store.verifyArchive(uri, { crc })).toMatchObject({
      kind: 'unverified',
      reason: `recorded CRC 12345, expected ${crc}: another segment or version`,
    });
    expect(proxy.log.map((r) => r.op)).toEqual(['HeadObject']);
  });

  it.each([
    ['a garbage object', () => Buffer.from('<html>503 Service Unavailable</html>'), /not a gzip file/],
    [
      'a wrong-CRC archive',
      () => gzipSync(rawTar([{ path: `${SEGMENT}/` }, { path: `${SEGMENT}/creation.meta`, body: creationMeta(1n) }])),
      /holds CRC 1/,
    ],
    ['the tar cut at an entry boundary, re-gzipped', () => cutAtEntryBoundary(archive), /no end-of-archive marker/],
  ])('%s without metadata is unverified', async (_what, bytes, reason) => {
    await upload(bytes());
    expect(await store.verifyArchive(uri, { crc })).toMatchObject({
      kind: 'unverified',
      reason: expect.stringMatching(reason),
    });
  });

  it('a put() replaces an unverified object, after which it verifies from the HEAD', async () => {
    await upload(archive.subarray(0, 120_000), { [CRC_METADATA_KEY]: crc });
    await store.put(uri, Readable.from([archive]), { crc });
    expect(await store.verifyArchive(uri, { crc })).toMatchObject({ kind: 'verified', by: 'recorded' });
  });

  it('a download cut mid-way is a retriable store failure, not "unverified"', async () => {
    await upload(archive);
    proxy.inject('GetObject', faults.cutBody(50_000));
    const err = await rejection(store.verifyArchive(uri, { crc }));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ retriable: true });
  });

  it('a HEAD that fails is a store failure (retriable 503), not "absent"', async () => {
    proxy.inject('HeadObject', faults.error(503, 'ServiceUnavailable'));
    expect(await rejection(store.verifyArchive(uri, { crc }))).toMatchObject({
      code: 'ServiceUnavailable',
      retriable: true,
    });
  });
});
