import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import net from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AZURE_BYTES_METADATA_KEY,
  AZURE_CRC_METADATA_KEY,
  AzureDeepStore,
  type AzureDeepStoreOptions,
} from '../../src/deepstore/azure-deep-store.js';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { PROBE_FOLDER } from '../../src/deepstore/probe.js';
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  blobOp,
  blobOperationOf,
  startAzurite,
  type Azurite,
  type BlobOperation,
} from '../helpers/azurite.js';
import { faults, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { builtSegmentArchive, MiB, PatternSource, rejection, sha256, uniqueName } from './support.js';

/**
 * The Azure (adl2://) deep store against Azurite over real HTTP, through the fault-injecting proxy. Each test
 * has its own container; `maxTries: 1` so every injected fault reaches the store's error handling, and small
 * blocks (256 KiB) so that a few MiB make a multi-block upload. What every store does alike is in
 * store-contract.test.ts; this file covers what is Azure's own: create-only writes, the requests made, faults,
 * credentials.
 */
let azurite: Azurite;
let proxy: FaultProxy;
const BLOCK = 256 * 1024;

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy(azurite.origin);
});

afterEach(() => {
  proxy.reset();
});

afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
});

interface NewStore {
  store: AzureDeepStore;
  container: string;
}

async function newStore(
  options: Partial<AzureDeepStoreOptions> & { prefix?: string; container?: string } = {},
): Promise<NewStore> {
  const { prefix = 'pinot/data', container = uniqueName('deep'), ...rest } = options;
  if (options.container === undefined) await azurite.createContainer(container);
  const store = new AzureDeepStore(`adl2://${container}${prefix === '' ? '' : `/${prefix}`}`, {
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    endpoint: `${proxy.endpoint}/${AZURITE_ACCOUNT}`,
    maxTries: 1,
    blockSizeBytes: BLOCK,
    ...rest,
  });
  proxy.reset();
  return { store, container };
}

async function storedBytes(container: string, name: string): Promise<Buffer> {
  return azurite.service.getContainerClient(container).getBlobClient(name).downloadToBuffer();
}

async function blobNames(container: string): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of azurite.service.getContainerClient(container).listBlobsFlat()) names.push(blob.name);
  return names.sort();
}

/** Uncommitted block ids of a blob ([] when it has none, or does not exist at all). */
async function uncommittedBlocks(container: string, name: string): Promise<string[]> {
  try {
    const list = await azurite.service
      .getContainerClient(container)
      .getBlockBlobClient(name)
      .getBlockList('uncommitted');
    return (list.uncommittedBlocks ?? []).map((b) => b.name);
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return [];
    throw err;
  }
}

function ops(): Array<[BlobOperation, number | 'reset' | null]> {
  return proxy.log.map((r) => [blobOperationOf(r.method, r.url), r.status]);
}

function count(op: BlobOperation): number {
  return proxy.count(blobOp(op));
}

describe('AzureDeepStore round trips', () => {
  it('puts a small segment as one create-only Put Blob with CRC and size as metadata, and heads it back', async () => {
    const { store, container } = await newStore();
    const uri = store.segmentUri('myTable', 'myTable__0__5__20240101T0000Z');
    expect(uri).toBe(`adl2://${container}/pinot/data/myTable/myTable__0__5__20240101T0000Z`);
    const data = Buffer.from('a tiny segment archive');

    expect(await store.put(uri, Readable.from([data]), { crc: '1299627447' })).toEqual({ bytes: data.length });
    const head = await store.head(uri);
    expect(head).toEqual({
      bytes: data.length,
      crc: '1299627447',
      version: expect.stringMatching(/^"?0x[0-9A-F]+"?$/),
    });

    expect(await storedBytes(container, 'pinot/data/myTable/myTable__0__5__20240101T0000Z')).toEqual(data);
    const put = proxy.log.find((r) => blobOperationOf(r.method, r.url) === 'PutBlob');
    expect(put?.headers['if-none-match']).toBe('*');
    expect(put?.headers[`x-ms-meta-${AZURE_CRC_METADATA_KEY}`]).toBe('1299627447');
    expect(put?.headers[`x-ms-meta-${AZURE_BYTES_METADATA_KEY}`]).toBe(String(data.length));
    expect(ops()).toEqual([
      ['PutBlob', 201],
      ['GetBlobProperties', 200],
    ]);
  });

  it('streams a body of many blocks as staged blocks and one create-only Put Block List, byte-identical', async () => {
    const { store, container } = await newStore();
    const uri = store.segmentUri('big', 'big__0__1__20240101T0000Z');
    const total = 5 * MiB + 12_345;
    const source = new PatternSource(total);

    expect(await store.put(uri, source, { crc: '4294967295' })).toEqual({ bytes: total });
    expect(await store.head(uri)).toMatchObject({ bytes: total, crc: '4294967295' });
    expect(sha256(await storedBytes(container, 'pinot/data/big/big__0__1__20240101T0000Z'))).toBe(source.digest());

    expect(count('PutBlock')).toBe(Math.ceil(total / BLOCK));
    expect(count('PutBlob')).toBe(0);
    const commit = proxy.log.filter((r) => blobOperationOf(r.method, r.url) === 'PutBlockList');
    expect(
      commit.map((r) => [r.status, r.headers['if-none-match'], r.headers[`x-ms-meta-${AZURE_BYTES_METADATA_KEY}`]]),
    ).toEqual([[201, '*', String(total)]]);
    expect(await uncommittedBlocks(container, 'pinot/data/big/big__0__1__20240101T0000Z')).toEqual([]);
  });

  it('names blobs as ADLSGen2PinotFS does: the path form-decoded ("+" is a space): "a b", "a+b" differ', async () => {
    const { store, container } = await newStore();
    const names = ['seg with space', 'a+b', 'seg~tilde', 'séga', '100%', "it's(1)", '*-._'];
    for (const [i, name] of names.entries()) {
      await store.put(store.segmentUri('t', name), Readable.from([Buffer.from(name)]), { crc: String(i) });
    }
    expect(store.segmentUri('t', 'seg with space')).toBe(`adl2://${container}/pinot/data/t/seg+with+space`);
    expect(store.segmentUri('t', 'a+b')).toBe(`adl2://${container}/pinot/data/t/a%2Bb`);
    expect(await blobNames(container)).toEqual(names.map((n) => `pinot/data/t/${n}`).sort());
    for (const [i, name] of names.entries()) {
      expect(await store.head(store.segmentUri('t', name))).toMatchObject({
        bytes: Buffer.byteLength(name),
        crc: String(i),
      });
      expect(await storedBytes(container, `pinot/data/t/${name}`)).toEqual(Buffer.from(name));
    }
  });

  it('keeps the "//" of a base URI with a trailing slash in the blob name, as Pinot sends it', async () => {
    const { store, container } = await newStore({ prefix: 'pinot/data/' });
    const uri = store.segmentUri('t', 'seg');
    expect(uri).toBe(`adl2://${container}/pinot/data//t/seg`);
    await store.put(uri, Readable.from([Buffer.from('x')]), { crc: '5' });
    expect(await blobNames(container)).toEqual(['pinot/data//t/seg']);
    expect(await store.head(uri)).toMatchObject({ bytes: 1, crc: '5' });
  });

  it('puts at the container root for adl2://<fileSystem>', async () => {
    const { store, container } = await newStore({ prefix: '' });
    await store.put(store.segmentUri('t', 'seg'), Readable.from([Buffer.from('root')]), { crc: '1' });
    expect(await blobNames(container)).toEqual(['t/seg']);
  });

  it("uses the fileSystem option (Pinot's fileSystemName) over the URI authority", async () => {
    const container = uniqueName('fsname');
    await azurite.createContainer(container);
    const { store } = await newStore({ container: 'path', fileSystem: container });
    const uri = store.segmentUri('t', 'seg');
    expect(uri).toBe('adl2://path/pinot/data/t/seg');
    await store.put(uri, Readable.from([Buffer.from('fs')]), { crc: '2' });
    expect(await blobNames(container)).toEqual(['pinot/data/t/seg']);
  });
});

describe('AzureDeepStore create-only writes and replaceVersion', () => {
  it.each([
    ['one Put Blob', 1000],
    ['staged blocks', 3 * BLOCK + 7],
  ])(
    'refuses to replace an object already there (%s): PreconditionFailed, retriable, the object untouched',
    async (_how, size) => {
      const { store, container } = await newStore();
      const uri = store.segmentUri('t', 'seg');
      const first = new PatternSource(size);
      await store.put(uri, first, { crc: '1' });
      const before = await store.head(uri);

      const body = new PatternSource(size);
      const err = await rejection(store.put(uri, body, { crc: '2' }));
      expect(err).toBeInstanceOf(DeepStoreError);
      expect(err).toMatchObject({ code: 'PreconditionFailed', retriable: true, httpStatus: 409 });
      expect((err as Error).message).toContain('expected no object there');
      expect(body.destroyed).toBe(true);
      expect(await store.head(uri)).toEqual(before);
      expect(sha256(await storedBytes(container, 'pinot/data/t/seg'))).toBe(first.digest());
    },
  );

  it.each([
    ['one Put Blob', 1000],
    ['staged blocks', 3 * BLOCK + 7],
  ])('with replaceVersion replaces exactly that version (%s), and refuses it once it is stale', async (_how, size) => {
    const { store, container } = await newStore();
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, Readable.from([Buffer.from('a cut copy')]), { crc: '1' });
    const verdict = await store.verifyArchive(uri, { crc: '7' });
    expect(verdict).toMatchObject({ kind: 'unverified', version: expect.any(String) });
    const stale = (verdict as { version: string }).version;

    const second = new PatternSource(size);
    await store.put(uri, second, { crc: '7' }, { replaceVersion: stale });
    const after = await store.head(uri);
    expect(after).toMatchObject({ bytes: size, crc: '7' });
    expect(after?.version).not.toBe(stale);
    expect(
      proxy.log
        .filter((r) => r.method === 'PUT' && r.headers['if-match'] !== undefined)
        .map((r) => r.headers['if-match']),
    ).toEqual([stale]);

    const third = await rejection(
      store.put(uri, Readable.from([Buffer.from('late')]), { crc: '8' }, { replaceVersion: stale }),
    );
    expect(third).toMatchObject({ code: 'PreconditionFailed', retriable: true, httpStatus: 412 });
    expect((third as Error).message).toContain(`expected version ${stale}`);
    expect(await store.head(uri)).toEqual(after);
    expect(sha256(await storedBytes(container, 'pinot/data/t/seg'))).toBe(second.digest());
  });
});

describe('AzureDeepStore failures', () => {
  it('surfaces 503 with Retry-After as retriable, with retryAfterMs, and destroys the body', async () => {
    const { store } = await newStore();
    proxy.inject(blobOp('PutBlob'), faults.slowDown(7));
    const body = Readable.from([Buffer.from('x')]);
    const err = await rejection(store.put(store.segmentUri('t', 'seg'), body, { crc: '1' }));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ httpStatus: 503, retryAfterMs: 7000, retriable: true });
    expect(body.destroyed).toBe(true);
  });

  it('a throttled block stops the upload: no more blocks read or sent, nothing committed', async () => {
    const { store, container } = await newStore({ concurrency: 2 });
    proxy.inject(blobOp('PutBlock'), faults.slowDown(2), { after: 1 });
    const total = 64 * BLOCK;
    const body = new PatternSource(total);
    const uri = store.segmentUri('t', 'seg');
    const err = await rejection(store.put(uri, body, { crc: '1' }));
    expect(err).toMatchObject({ httpStatus: 503, retryAfterMs: 2000, retriable: true });
    expect(body.destroyed).toBe(true);
    expect(body.emitted).toBeLessThan(total / 2);
    expect(count('PutBlock')).toBeLessThan(16);
    expect(count('PutBlockList')).toBe(0);
    expect(await store.head(uri)).toBeNull();
    expect(await blobNames(container)).toEqual([]);
  });

  it('surfaces a connection reset before the request reached the service as retriable; nothing is there', async () => {
    const { store } = await newStore();
    proxy.inject(blobOp('PutBlock'), faults.resetBeforeForward());
    const body = new PatternSource(4 * BLOCK);
    const uri = store.segmentUri('t', 'seg');
    const err = await rejection(store.put(uri, body, { crc: '1' }));
    expect(err).toMatchObject({ httpStatus: undefined, retriable: true });
    expect(['ECONNRESET', 'EPIPE']).toContain((err as DeepStoreError).code);
    expect(body.destroyed).toBe(true);
    expect(await store.head(uri)).toBeNull();
  });

  it('ambiguous success: Put Block List commits, the client sees 500; a retry is refused, it verifies', async () => {
    const { store, container } = await newStore();
    proxy.inject(blobOp('PutBlockList'), faults.forwardThenFail());
    const uri = store.segmentUri('t', 'seg');
    const { archive, crc } = await builtSegmentArchive({ name: 'seg', payloadBytes: 3 * BLOCK });
    expect(archive.length).toBeGreaterThan(BLOCK);

    const err = await rejection(store.put(uri, Readable.from([archive]), { crc }));
    expect(err).toMatchObject({ httpStatus: 500, retriable: true });
    const commit = proxy.log.find((r) => blobOperationOf(r.method, r.url) === 'PutBlockList');
    expect([commit?.upstreamStatus, commit?.status]).toEqual([201, 500]);

    // The object is there, whole, with its metadata: a create-only retry is refused, and the caller's look
    // (verifyArchive) adopts it with one request. (Buffers are compared by hash: a deep equality of 800 KB
    // blocks the event loop for seconds, long enough for idle keep-alive sockets to time out under it.)
    expect(sha256(await storedBytes(container, 'pinot/data/t/seg'))).toBe(sha256(archive));
    const again = await rejection(store.put(uri, Readable.from([archive]), { crc }));
    expect(again).toMatchObject({ code: 'PreconditionFailed' });
    proxy.reset();
    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'recorded',
    });
    expect(ops()).toEqual([['GetBlobProperties', 200]]);
  });

  it('ambiguous success: Put Blob stored, then the connection reset before the answer', async () => {
    const { store } = await newStore();
    proxy.inject(blobOp('PutBlob'), faults.resetAfterForward());
    const uri = store.segmentUri('t', 'small');
    const err = await rejection(store.put(uri, Readable.from([Buffer.from('0123')]), { crc: '4' }));
    expect(err).toMatchObject({ code: 'ECONNRESET', retriable: true });
    expect(await store.head(uri)).toMatchObject({ bytes: 4, crc: '4' });
  });

  it('a wrong account key is refused (403), permanent, and says what to check without the key', async () => {
    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const { store } = await newStore({ accountKey: wrongKey });
    const err = await rejection(
      store.put(store.segmentUri('t', 'seg'), Readable.from([Buffer.from('x')]), { crc: '1' }),
    );
    // Azure says AuthenticationFailed; Azurite says AuthorizationFailure. Both permanent, both name the key.
    expect(err).toMatchObject({ httpStatus: 403, retriable: false });
    expect(['AuthenticationFailed', 'AuthorizationFailure']).toContain((err as DeepStoreError).code);
    expect((err as Error).message).toContain('account key');
    expect((err as Error).message).not.toContain(wrongKey);
  });

  it('a missing container is ContainerNotFound, permanent, for put and for head (never "no object")', async () => {
    const { store } = await newStore({ container: uniqueName('missing') });
    const uri = store.segmentUri('t', 'seg');
    const put = await rejection(store.put(uri, Readable.from([Buffer.from('x')]), { crc: '1' }));
    expect(put).toMatchObject({ code: 'ContainerNotFound', httpStatus: 404, retriable: false });
    expect((put as Error).message).toContain('container');
    expect(await rejection(store.head(uri))).toMatchObject({
      code: 'ContainerNotFound',
      httpStatus: 404,
      retriable: false,
    });
    expect(await rejection(store.verifyArchive(uri, { crc: '1' }))).toMatchObject({
      code: 'ContainerNotFound',
      retriable: false,
    });
  });

  it('a 403 refusal by role (AuthorizationPermissionMismatch) is permanent and names the role to grant', async () => {
    const { store } = await newStore();
    proxy.inject(
      blobOp('PutBlob'),
      faults.error(
        403,
        'AuthorizationPermissionMismatch',
        'This request is not authorized to perform this operation using this permission.',
      ),
    );
    const err = await rejection(
      store.put(store.segmentUri('t', 'seg'), Readable.from([Buffer.from('x')]), { crc: '1' }),
    );
    expect(err).toMatchObject({ code: 'AuthorizationPermissionMismatch', httpStatus: 403, retriable: false });
    expect((err as Error).message).toContain('Storage Blob Data Contributor');
  });
});

describe('AzureDeepStore abort', () => {
  it('aborting mid-upload rejects with the reason, destroys the body, and leaves no object', async () => {
    const { store, container } = await newStore({ concurrency: 2 });
    const body = new PatternSource(64 * BLOCK, { stallAfter: MiB }); // one 1 MiB chunk: 4 blocks, then nothing
    const controller = new AbortController();
    const uri = store.segmentUri('t', 'seg');
    const put = store.put(uri, body, { crc: '1' }, { signal: controller.signal });
    await vi.waitFor(() =>
      expect(proxy.log.filter((r) => blobOperationOf(r.method, r.url) === 'PutBlock' && r.status === 201)).toHaveLength(
        4,
      ),
    );

    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await rejection(put)).toBe(reason);
    expect(body.destroyed).toBe(true);
    expect(count('PutBlockList')).toBe(0);
    expect(await store.head(uri)).toBeNull();
    expect(await blobNames(container)).toEqual([]);
    // The staged blocks stay uncommitted (invisible to readers); the next commit of the blob discards them.
    expect(await uncommittedBlocks(container, 'pinot/data/t/seg')).toHaveLength(4);
    await store.put(uri, new PatternSource(2 * BLOCK + 1), { crc: '1' });
    expect(await uncommittedBlocks(container, 'pinot/data/t/seg')).toEqual([]);
  });

  it('aborting while a block is held on the wire settles at once: the request itself is cancelled', async () => {
    const { store } = await newStore();
    const hold = proxy.inject(blobOp('PutBlock'), faults.delay(600_000), { times: Infinity });
    const body = new PatternSource(16 * BLOCK);
    const controller = new AbortController();
    const uri = store.segmentUri('t', 'held');
    const put = store.put(uri, body, { crc: '1' }, { signal: controller.signal });
    await vi.waitFor(() => expect(count('PutBlock')).toBeGreaterThan(0));
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await rejection(put)).toBe(reason);
    const blocks = proxy.log.filter((r) => blobOperationOf(r.method, r.url) === 'PutBlock');
    expect(blocks.map((r) => [r.fault, r.upstreamStatus])).toEqual(blocks.map(() => ['delay', null]));
    expect(body.destroyed).toBe(true);
    hold.remove();
    expect(await store.head(uri)).toBeNull();
  });
});

describe('AzureDeepStore.verifyArchive', () => {
  it('verifies what put() recorded with one Get Blob Properties', async () => {
    const { store } = await newStore();
    const { archive, crc } = await builtSegmentArchive({ name: 'seg', payloadBytes: 50_000 });
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, Readable.from([archive]), { crc });
    proxy.reset();
    expect(await store.verifyArchive(uri, { crc })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'recorded',
    });
    expect(ops()).toEqual([['GetBlobProperties', 200]]);
  });

  it('reads an archive without metadata (written by Pinot) in full, pinned to the ETag it saw', async () => {
    const { store, container } = await newStore();
    const { archive, crc } = await builtSegmentArchive({ name: 'seg', payloadBytes: 50_000 });
    const blob = azurite.service.getContainerClient(container).getBlockBlobClient('pinot/data/t/seg');
    const planted = await blob.upload(archive, archive.length);
    expect(await store.verifyArchive(store.segmentUri('t', 'seg'), { crc })).toEqual({
      kind: 'verified',
      bytes: archive.length,
      by: 'full_read',
    });
    const get = proxy.log.find((r) => blobOperationOf(r.method, r.url) === 'GetBlob');
    expect(get?.headers['if-match']).toBe(planted.etag);
  });

  it.each([
    [
      'another CRC recorded',
      { [AZURE_CRC_METADATA_KEY]: '99', [AZURE_BYTES_METADATA_KEY]: '5' },
      /recorded CRC 99, expected 7/,
    ],
    [
      'a recorded size the blob does not have',
      { [AZURE_CRC_METADATA_KEY]: '7', [AZURE_BYTES_METADATA_KEY]: '6' },
      /recorded size "6" bytes, the object has 5/,
    ],
  ])('is unverified at once, with the version to replace, for %s', async (_what, metadata, reason) => {
    const { store, container } = await newStore();
    const planted = await azurite.service
      .getContainerClient(container)
      .getBlockBlobClient('pinot/data/t/seg')
      .upload('12345', 5, { metadata });
    proxy.reset();
    expect(await store.verifyArchive(store.segmentUri('t', 'seg'), { crc: '7' })).toEqual({
      kind: 'unverified',
      reason: expect.stringMatching(reason),
      bytes: 5,
      version: planted.etag,
    });
    expect(ops()).toEqual([['GetBlobProperties', 200]]);
  });

  it('an object replaced during the full read is a retriable ObjectChanged', async () => {
    const { store, container } = await newStore();
    const blob = azurite.service.getContainerClient(container).getBlockBlobClient('pinot/data/t/seg');
    await blob.upload('first', 5);
    // Replace the blob between the HEAD and the GET: hold the GET until the replacement is done.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    proxy.inject(blobOp('GetBlob'), faults.holdUntil(held));
    const verifying = store.verifyArchive(store.segmentUri('t', 'seg'), { crc: '1' });
    await vi.waitFor(() => expect(count('GetBlob')).toBe(1));
    await blob.upload('second', 6);
    release();
    expect(await rejection(verifying)).toMatchObject({ code: 'ObjectChanged', retriable: true, httpStatus: 412 });
  });
});

describe('AzureDeepStore.get', () => {
  it('streams a multi-block blob back byte for byte, with its size', async () => {
    const { store } = await newStore();
    const uri = store.segmentUri('t', 'seg');
    const source = new PatternSource(3 * BLOCK + 5);
    await store.put(uri, source, { crc: '1' });
    const { body, bytes } = await store.get(uri);
    expect(bytes).toBe(3 * BLOCK + 5);
    expect(sha256(await buffer(body))).toBe(source.digest());
  });

  it('a missing blob is NoSuchKey (404), permanent', async () => {
    const { store } = await newStore();
    const err = await rejection(store.get(store.segmentUri('t', 'nothing_here')));
    expect(err).toMatchObject({ code: 'NoSuchKey', httpStatus: 404, retriable: false });
  });

  it('503 is retriable, with retryAfterMs', async () => {
    const { store } = await newStore();
    proxy.inject(blobOp('GetBlob'), faults.slowDown(3));
    expect(await rejection(store.get(store.segmentUri('t', 'seg')))).toMatchObject({
      httpStatus: 503,
      retryAfterMs: 3000,
      retriable: true,
    });
  });
});

describe('AzureDeepStore credentials', () => {
  function accountSas(permissions: string): string {
    return generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse(permissions),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
  }

  it('works with a SAS token (with or without its leading "?")', async () => {
    for (const sasToken of [accountSas('racwdl'), `?${accountSas('racwdl')}`]) {
      const { store } = await newStore({ accountKey: undefined, sasToken });
      const uri = store.segmentUri('t', 'seg');
      await store.put(uri, Readable.from([Buffer.from('sas')]), { crc: '3' });
      expect(await store.head(uri)).toMatchObject({ bytes: 3, crc: '3' });
    }
  });

  it('a read-only SAS token is refused on put (permanent), and its signature is never in the message', async () => {
    const sasToken = accountSas('rl');
    const signature = new URLSearchParams(sasToken).get('sig') ?? '';
    expect(signature).not.toBe('');
    const { store } = await newStore({ accountKey: undefined, sasToken });
    const err = await rejection(
      store.put(store.segmentUri('t', 'seg'), Readable.from([Buffer.from('x')]), { crc: '1' }),
    );
    expect(err).toMatchObject({ httpStatus: 403, retriable: false });
    expect((err as Error).message).not.toContain(signature);
    expect((err as Error).message).not.toContain(encodeURIComponent(signature));
  });

  it('works with a connection string', async () => {
    const connectionString =
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `BlobEndpoint=${proxy.endpoint}/${AZURITE_ACCOUNT};`;
    const { store } = await newStore({
      accountName: undefined,
      accountKey: undefined,
      endpoint: undefined,
      connectionString,
    });
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, Readable.from([Buffer.from('cs')]), { crc: '2' });
    expect(await store.head(uri)).toMatchObject({ bytes: 2, crc: '2' });
    expect(count('PutBlob')).toBe(1);
  });
});

describe('AzureDeepStore.probe', () => {
  /** A loopback port nothing listens on. */
  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  it('write: Put Blob, Get Blob, Delete Blob of <prefix>/.pinot-sidecar.probe/<name>; nothing left', async () => {
    const { store, container } = await newStore();
    const result = await store.probe('write', { name: 'Server_pinot-server-0_8098' });
    expect(result).toEqual({
      ok: true,
      mode: 'write',
      uri: `adl2://${container}/pinot/data/${PROBE_FOLDER}/Server_pinot-server-0_8098`,
    });
    expect(ops()).toEqual([
      ['PutBlob', 201],
      ['GetBlob', 200],
      ['DeleteBlob', 202],
    ]);
    expect(await blobNames(container)).toEqual([]);
  });

  it('read: List Blobs of one name under the prefix, then Get Blob Properties (404 expected); no write', async () => {
    const { store, container } = await newStore();
    expect(await store.probe('read', { name: 'me' })).toEqual({
      ok: true,
      mode: 'read',
      uri: `adl2://${container}/pinot/data/${PROBE_FOLDER}/me`,
    });
    expect(ops()).toEqual([
      ['ListBlobs', 200],
      ['GetBlobProperties', 404],
    ]);
    const list = proxy.log[0]!.url;
    expect(new URL(list, 'http://x').searchParams.get('prefix')).toBe('pinot/data/');
    expect(new URL(list, 'http://x').searchParams.get('maxresults')).toBe('1');
  });

  it.each(['write', 'read'] as const)(
    '%s: a missing container fails at the first step, permanent, naming the container',
    async (mode) => {
      const { store } = await newStore({ container: uniqueName('missing') });
      const result = await store.probe(mode);
      expect(result).toMatchObject({
        ok: false,
        mode,
        step: mode === 'write' ? 'write' : 'list',
        error: { code: 'ContainerNotFound', retriable: false },
      });
      expect(result.ok === false && result.error.message).toMatch(/container .*does not exist/);
    },
  );

  it('a refused delete is only a warning', async () => {
    const { store } = await newStore();
    proxy.inject(blobOp('DeleteBlob'), faults.error(403, 'AuthorizationPermissionMismatch'));
    const result = await store.probe('write');
    expect(result).toMatchObject({
      ok: true,
      warning: { step: 'delete', error: { code: 'AuthorizationPermissionMismatch' } },
    });
  });

  it('a closed port is "cannot reach" the endpoint, retriable', async () => {
    const port = await closedPort();
    const { store } = await newStore({ endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}` });
    const result = await store.probe('read');
    expect(result).toMatchObject({ ok: false, step: 'list', error: { code: 'ECONNREFUSED', retriable: true } });
    expect(result.ok === false && result.error.message).toContain(
      `cannot reach http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    );
  });

  it('a store that serves other bytes than it accepted fails at compare', async () => {
    const { store } = await newStore();
    proxy.inject(blobOp('GetBlob'), faults.replaceBody(Buffer.from('something else')));
    expect(await store.probe('write')).toMatchObject({ ok: false, step: 'compare', error: { code: 'ProbeMismatch' } });
  });
});
