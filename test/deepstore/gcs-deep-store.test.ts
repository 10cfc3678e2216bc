import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { GCS_BYTES_METADATA_KEY, GCS_CRC_METADATA_KEY, GcsDeepStore } from '../../src/deepstore/gcs-deep-store.js';
import { faults, type LoggedRequest } from '../helpers/fault-proxy.js';
import { gcsRequests, useProxiedGcs } from '../helpers/proxied-gcs.js';
import { creationMeta, MiB, PatternSource, rejection, segmentArchive, sha256 } from './support.js';

/**
 * The GCS deep store against fake-gcs-server over real HTTP, through the fault-injecting proxy (test/helpers).
 * Each test has its own bucket; `maxAttempts: 1`, so every injected fault reaches the store's own handling.
 * 256 KiB chunks (GCS's smallest) make multi-chunk uploads cheap.
 */
const gcs = useProxiedGcs();
const CHUNK = 256 * 1024;

async function stored(bucket: string, name: string): Promise<{ data: Buffer; metadata: Record<string, unknown> }> {
  const file = gcs.fake.storage.bucket(bucket).file(name);
  const [data] = await file.download();
  const [meta] = await file.getMetadata();
  return { data, metadata: meta.metadata ?? {} };
}

async function objectNames(bucket: string): Promise<string[]> {
  const [files] = await gcs.fake.storage.bucket(bucket).getFiles();
  return files.map((f) => f.name).sort();
}

/** Waits for a condition, never a fixed sleep. */
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function archiveOf(crc: bigint, dataBytes = 100): Promise<Buffer> {
  return segmentArchive('seg', [
    { name: 'creation.meta', data: creationMeta(crc) },
    { name: 'columns.psf', data: randomBytes(dataBytes) },
  ]);
}

describe('GcsDeepStore round trips', () => {
  it('puts a small segment in one upload request with its CRC and size as metadata, and heads it back', async () => {
    const { store, bucket } = await gcs.newStore();
    const uri = store.segmentUri('myTable', 'myTable__0__5__20240101T0000Z');
    expect(uri).toBe(`gs://${bucket}/pinot/data/myTable/myTable__0__5__20240101T0000Z`);
    const data = Buffer.from('a tiny segment archive');

    expect(await store.put(uri, Readable.from([data]), { crc: '1299627447' })).toEqual({ bytes: data.length });
    const head = await store.head(uri);
    expect(head).toMatchObject({ bytes: data.length, crc: '1299627447' });
    expect(head?.version).toMatch(/^\d+$/);

    const object = await stored(bucket, 'pinot/data/myTable/myTable__0__5__20240101T0000Z');
    expect(object.data).toEqual(data);
    expect(object.metadata).toMatchObject({
      [GCS_CRC_METADATA_KEY]: '1299627447',
      [GCS_BYTES_METADATA_KEY]: String(data.length),
    });
    expect(gcs.proxy.count(gcsRequests.startUpload)).toBe(1);
    expect(gcs.proxy.count(gcsRequests.chunk)).toBe(1);
    expect(gcs.proxy.log.find(gcsRequests.startUpload)?.query.get('ifGenerationMatch')).toBe('0');
  });

  it('streams a body of several chunks byte-identical, then records its size', async () => {
    const { store, bucket } = await gcs.newStore({ chunkBytes: CHUNK });
    const uri = store.segmentUri('big', 'big__0__1__20240101T0000Z');
    const source = new PatternSource(MiB + 1000);

    expect(await store.put(uri, source, { crc: '4294967295' })).toEqual({ bytes: MiB + 1000 });
    const object = await stored(bucket, 'pinot/data/big/big__0__1__20240101T0000Z');
    expect(object.data.length).toBe(MiB + 1000);
    expect(sha256(object.data)).toBe(source.digest());
    expect(object.metadata).toMatchObject({
      [GCS_CRC_METADATA_KEY]: '4294967295',
      [GCS_BYTES_METADATA_KEY]: String(MiB + 1000),
    });
    // 4 full chunks, each answered 308, then the last 1000 bytes with the total
    expect(gcs.proxy.log.filter(gcsRequests.chunk).map((r) => [r.headers['content-range'], r.status])).toEqual([
      ['bytes 0-262143/*', 308],
      ['bytes 262144-524287/*', 308],
      ['bytes 524288-786431/*', 308],
      ['bytes 786432-1048575/*', 308],
      [`bytes 1048576-${MiB + 999}/${MiB + 1000}`, 200],
    ]);
    expect(gcs.proxy.count(gcsRequests.patch)).toBe(1);
  });

  it('finishes a body of exactly whole chunks with an empty request that names the total', async () => {
    const { store, bucket } = await gcs.newStore({ chunkBytes: CHUNK });
    const uri = store.segmentUri('t', 'whole');
    const source = new PatternSource(2 * CHUNK);
    await store.put(uri, source, { crc: '1' });
    expect(sha256((await stored(bucket, 'pinot/data/t/whole')).data)).toBe(source.digest());
    expect(gcs.proxy.log.filter(gcsRequests.chunk).map((r) => r.headers['content-range'])).toEqual([
      'bytes 0-262143/*',
      'bytes 262144-524287/*',
      'bytes */524288',
    ]);
  });

  it('stores an empty body as an empty object', async () => {
    const { store, bucket } = await gcs.newStore();
    await store.put(store.segmentUri('t', 'empty'), Readable.from([]), { crc: '0' });
    expect((await stored(bucket, 'pinot/data/t/empty')).data.length).toBe(0);
  });

  it('stores odd segment names at the object names Pinot would use (GcsUri: the decoded path)', async () => {
    const { store, bucket } = await gcs.newStore();
    const names = ['seg with space', 'seg~tilde', 'séga', '100%', "it's(1)", '*-._'];
    for (const [i, name] of names.entries()) {
      await store.put(store.segmentUri('t', name), Readable.from([Buffer.from(name)]), { crc: String(i) });
    }
    expect(await objectNames(bucket)).toEqual(
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
      expect(await store.head(store.segmentUri('t', name))).toMatchObject({
        bytes: Buffer.byteLength(name),
        crc: String(i),
      });
    }
  });

  it('head() of a missing object is null; of one without our metadata (e.g. by Pinot) has crc null', async () => {
    const { store, bucket } = await gcs.newStore();
    expect(await store.head(store.segmentUri('t', 'nothing_here'))).toBeNull();
    await gcs.fake.storage.bucket(bucket).file('pinot/data/t/by_pinot').save(Buffer.from('xyz'), { resumable: false });
    expect(await store.head(store.segmentUri('t', 'by_pinot'))).toMatchObject({
      bytes: 3,
      crc: null,
      version: expect.stringMatching(/^\d+$/),
    });
  });

  it('get() streams the object with its size; a missing one is a permanent NoSuchKey', async () => {
    const { store } = await gcs.newStore({ chunkBytes: CHUNK });
    const uri = store.segmentUri('t', 'read_me');
    const source = new PatternSource(CHUNK + 5);
    await store.put(uri, source, { crc: '5' });
    const read = await store.get(uri);
    expect(read.bytes).toBe(CHUNK + 5);
    expect(sha256(await buffer(read.body))).toBe(source.digest());

    const missing = await rejection(store.get(store.segmentUri('t', 'absent')));
    expect(missing).toBeInstanceOf(DeepStoreError);
    expect(missing).toMatchObject({ code: 'NoSuchKey', retriable: false });
  });

  it('get() then abort destroys the body with the signal reason', async () => {
    const { store } = await gcs.newStore();
    const uri = store.segmentUri('t', 'abort_read');
    await store.put(uri, Readable.from([randomBytes(1000)]), { crc: '1' });
    const controller = new AbortController();
    const read = await store.get(uri, { signal: controller.signal });
    const failed = new Promise((resolve) => read.body.once('error', resolve));
    const reason = new Error('stop reading');
    controller.abort(reason);
    expect(read.body.destroyed).toBe(true);
    expect(await failed).toBe(reason);
  });
});

describe('GcsDeepStore conditional writes', () => {
  it('create-only: an object already there is a retriable PreconditionFailed and stays untouched', async () => {
    const { store, bucket } = await gcs.newStore();
    const uri = store.segmentUri('t', 'taken');
    await store.put(uri, Readable.from([Buffer.from('first')]), { crc: '1' });
    const before = await store.head(uri);

    const second = Readable.from([Buffer.from('second!')]);
    const err = await rejection(store.put(uri, second, { crc: '2' }));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ code: 'PreconditionFailed', retriable: true, httpStatus: 412 });
    expect(second.destroyed).toBe(true);
    expect(await store.head(uri)).toEqual(before);
    expect((await stored(bucket, 'pinot/data/t/taken')).data.toString()).toBe('first');
  });

  it('replaceVersion replaces exactly that generation and refuses a stale one', async () => {
    const { store, bucket } = await gcs.newStore();
    const uri = store.segmentUri('t', 'versioned');
    await store.put(uri, Readable.from([Buffer.from('v1')]), { crc: '1' });
    const v1 = (await store.head(uri))!.version!;

    await store.put(uri, Readable.from([Buffer.from('v2 bytes')]), { crc: '2' }, { replaceVersion: v1 });
    const v2 = await store.head(uri);
    expect(v2).toMatchObject({ bytes: 8, crc: '2' });
    expect(v2?.version).not.toBe(v1);
    expect(gcs.proxy.log.filter(gcsRequests.startUpload).map((r) => r.query.get('ifGenerationMatch'))).toEqual([
      '0',
      v1,
    ]);

    const stale = await rejection(
      store.put(uri, Readable.from([Buffer.from('v3')]), { crc: '3' }, { replaceVersion: v1 }),
    );
    expect(stale).toMatchObject({ code: 'PreconditionFailed', retriable: true });
    expect((await stored(bucket, 'pinot/data/t/versioned')).data.toString()).toBe('v2 bytes');
  });

  it('refuses a replaceVersion that is not a generation, before any request', async () => {
    const { store } = await gcs.newStore();
    const body = Readable.from([Buffer.from('x')]);
    const err = await rejection(
      store.put(store.segmentUri('t', 'x'), body, { crc: '1' }, { replaceVersion: '"etag"' }),
    );
    expect(err).toMatchObject({ code: 'InvalidVersion', retriable: false });
    expect(body.destroyed).toBe(true);
    expect(gcs.proxy.log).toHaveLength(0);
  });
});

describe('GcsDeepStore failures', () => {
  it('abort mid-upload stops the request on the wire, cancels the session, destroys the input: no object', async () => {
    // 16 MiB chunks: more than loopback's socket buffers hold, so the held chunk is still on the wire.
    const chunkBytes = 16 * MiB;
    const { store, bucket } = await gcs.newStore({ chunkBytes });
    const uri = store.segmentUri('t', 'aborted');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    gcs.proxy.inject(gcsRequests.chunk, faults.holdUntil(held), { after: 1 }); // the 2nd chunk hangs at the proxy
    const controller = new AbortController();
    const stopHere = gcs.proxy.observe({
      request: (entry) => entry.fault === 'hold' && controller.abort(new Error('shutting down')),
    });
    const source = new PatternSource(4 * chunkBytes);
    try {
      const err = await rejection(store.put(uri, source, { crc: '1' }, { signal: controller.signal }));
      expect((err as Error).message).toBe('shutting down');
      expect(source.destroyed).toBe(true);
      const heldEntry = gcs.proxy.log.find((r) => r.fault === 'hold') as LoggedRequest;
      await until('the session cancel', () => gcs.proxy.count(gcsRequests.cancel) === 1);
      // Let the proxy forward the held chunk now: the client has closed that request, so its body never
      // completes and the proxy abandons it (the store never answers it, no 308).
      release();
      await until('the held chunk request to end', () => heldEntry.endedAt !== null);
      expect(heldEntry.upstreamStatus).toBeNull();
    } finally {
      stopHere();
      release();
    }
    expect(gcs.proxy.count(gcsRequests.chunk)).toBe(2);
    expect(gcs.proxy.count(gcsRequests.lastChunk)).toBe(0);
    expect(await objectNames(bucket)).toEqual([]);
    // bounded memory: the source was read no further than the chunk on the wire (plus its own read-ahead)
    expect(source.emitted).toBeLessThanOrEqual(2 * chunkBytes + 2 * MiB);
  });

  it('503 with Retry-After is retriable and carries retryAfterMs', async () => {
    const { store } = await gcs.newStore();
    gcs.proxy.inject(gcsRequests.startUpload, faults.slowDown(7));
    const err = await rejection(
      store.put(store.segmentUri('t', 'slow'), Readable.from([Buffer.from('x')]), { crc: '1' }),
    );
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ code: 'ServiceUnavailable', retriable: true, httpStatus: 503, retryAfterMs: 7000 });
  });

  it('a connection reset mid-upload is retriable, cancels the session and leaves no object', async () => {
    const { store, bucket } = await gcs.newStore({ chunkBytes: CHUNK });
    gcs.proxy.inject(gcsRequests.chunk, faults.resetBeforeForward(), { after: 1 });
    const source = new PatternSource(3 * CHUNK);
    const err = await rejection(store.put(store.segmentUri('t', 'reset'), source, { crc: '1' }));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ retriable: true });
    expect(source.destroyed).toBe(true);
    expect(gcs.proxy.count(gcsRequests.cancel)).toBe(1);
    expect(await objectNames(bucket)).toEqual([]);
  });

  it('ambiguous success: the last request applied but answered 500 is retriable; head() shows the object', async () => {
    const { store } = await gcs.newStore();
    const uri = store.segmentUri('t', 'ambiguous');
    gcs.proxy.inject(gcsRequests.lastChunk, faults.forwardThenFail());
    const err = await rejection(store.put(uri, Readable.from([Buffer.from('landed')]), { crc: '9' }));
    expect(err).toMatchObject({ retriable: true, httpStatus: 500 });
    expect(await store.head(uri)).toMatchObject({ bytes: 6, crc: '9' });
  });

  it('a missing bucket is a permanent NoSuchBucket that names the bucket', async () => {
    const { store } = await gcs.newStore({ bucket: 'no-such-bucket-here' });
    const err = await rejection(store.put(store.segmentUri('t', 's'), Readable.from([Buffer.from('x')]), { crc: '1' }));
    expect(err).toMatchObject({ code: 'NoSuchBucket', retriable: false, httpStatus: 404 });
    expect((err as Error).message).toContain('gs://no-such-bucket-here does not exist');
  });

  it('403 is a permanent PermissionDenied that says which permissions are needed', async () => {
    const { store } = await gcs.newStore();
    gcs.proxy.inject(gcsRequests.startUpload, faults.error(403, 'AccessDenied', 'denied'));
    const err = await rejection(store.put(store.segmentUri('t', 's'), Readable.from([Buffer.from('x')]), { crc: '1' }));
    expect(err).toMatchObject({ code: 'PermissionDenied', retriable: false, httpStatus: 403 });
    expect((err as Error).message).toContain('storage.objects.create');
  });

  it('credentials that cannot be used are a permanent CredentialsError, and nothing reaches the store', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gcs-key-'));
    try {
      const keyFile = path.join(dir, 'key.json');
      // A well-formed service-account key whose private key is not one: signing the token request fails locally.
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(
        keyFile,
        JSON.stringify({
          type: 'service_account',
          project_id: 'p',
          private_key_id: '1',
          private_key: publicKey.export({ type: 'spki', format: 'pem' }),
          client_email: 'sidecar@p.iam.gserviceaccount.com',
          token_uri: `${gcs.proxy.endpoint}/token`,
        }),
      );
      const bucket = `creds-${process.pid}`;
      await gcs.fake.createBucket(bucket);
      const store = new GcsDeepStore(`gs://${bucket}/pinot`, {
        apiEndpoint: gcs.proxy.endpoint,
        keyFile,
        maxAttempts: 1,
      });
      const err = await rejection(
        store.put(store.segmentUri('t', 's'), Readable.from([Buffer.from('x')]), { crc: '1' }),
      );
      expect(err).toBeInstanceOf(DeepStoreError);
      expect(err).toMatchObject({ code: 'CredentialsError', retriable: false });
      expect(gcs.proxy.count(gcsRequests.startUpload)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('GcsDeepStore.verifyArchive', () => {
  it('verifies a put() archive from its recorded size and CRC with one metadata read', async () => {
    const { store } = await gcs.newStore();
    const uri = store.segmentUri('t', 'recorded');
    const archive = await archiveOf(77n);
    await store.put(uri, Readable.from([archive]), { crc: '77' });
    gcs.proxy.reset();
    expect(await store.verifyArchive(uri, { crc: '77' })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'recorded',
    });
    expect(gcs.proxy.log.map((r) => r.method)).toEqual(['GET']);
    expect(gcs.proxy.count(gcsRequests.media)).toBe(0);
  });

  it('reads a foreign archive (no metadata) in full, pinned to the generation it looked at', async () => {
    const { store, bucket } = await gcs.newStore();
    const archive = await archiveOf(5n, 300_000);
    await gcs.fake.storage.bucket(bucket).file('pinot/data/t/foreign').save(archive, { resumable: false });
    const uri = store.segmentUri('t', 'foreign');
    const version = (await store.head(uri))!.version!;
    gcs.proxy.reset();
    expect(await store.verifyArchive(uri, { crc: '5' })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'full_read',
    });
    expect(gcs.proxy.log.find(gcsRequests.media)?.query.get('generation')).toBe(version);
  });

  it("is unverified at once, with the version to replace, when the recorded CRC is another segment's", async () => {
    const { store } = await gcs.newStore();
    const uri = store.segmentUri('t', 'other');
    await store.put(uri, Readable.from([await archiveOf(1n)]), { crc: '1' });
    const version = (await store.head(uri))!.version;
    gcs.proxy.reset();
    expect(await store.verifyArchive(uri, { crc: '2' })).toMatchObject({
      kind: 'unverified',
      reason: expect.stringContaining('recorded CRC 1'),
      version,
    });
    expect(gcs.proxy.count(gcsRequests.media)).toBe(0);
  });

  it('is unverified when a full read finds a cut archive, and absent when there is nothing', async () => {
    const { store, bucket } = await gcs.newStore();
    const archive = await archiveOf(5n, 10_000);
    await gcs.fake.storage
      .bucket(bucket)
      .file('pinot/data/t/cut')
      .save(archive.subarray(0, archive.length - 30), { resumable: false });
    expect(await store.verifyArchive(store.segmentUri('t', 'cut'), { crc: '5' })).toMatchObject({
      kind: 'unverified',
      version: expect.any(String),
    });
    expect(await store.verifyArchive(store.segmentUri('t', 'none'), { crc: '5' })).toEqual({ kind: 'absent' });
  });
});

describe('GcsDeepStore.probe', () => {
  it('write: puts, reads back and deletes its own object; read: lists and heads', async () => {
    const { store, bucket } = await gcs.newStore();
    expect(await store.probe('write', { name: 'Server_pinot-0_8098' })).toEqual({
      ok: true,
      mode: 'write',
      uri: `gs://${bucket}/pinot/data/.pinot-sidecar.probe/Server_pinot-0_8098`,
    });
    expect(await objectNames(bucket)).toEqual([]);
    expect(await store.probe('read')).toMatchObject({ ok: true, mode: 'read' });
    expect(gcs.proxy.count(gcsRequests.list)).toBe(1);
  });

  it('fails at write on a missing bucket and at list for the read probe, naming the bucket', async () => {
    const { store } = await gcs.newStore({ bucket: 'probe-missing-bucket' });
    expect(await store.probe('write')).toMatchObject({
      ok: false,
      step: 'write',
      error: { code: 'NoSuchBucket', retriable: false },
    });
    const read = await store.probe('read');
    expect(read).toMatchObject({ ok: false, step: 'list', error: { code: 'NoSuchBucket' } });
    expect(read.ok === false && read.error.message).toContain('probe-missing-bucket');
  });

  it('reports a refused write as a permanent PermissionDenied', async () => {
    const { store } = await gcs.newStore();
    gcs.proxy.inject(gcsRequests.startUpload, faults.error(403, 'AccessDenied', 'denied'));
    expect(await store.probe('write')).toMatchObject({
      ok: false,
      step: 'write',
      error: { code: 'PermissionDenied', retriable: false },
    });
  });
});
