import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AzureDeepStore,
  createDeepStore,
  DeepStoreError,
  FileDeepStore,
  GcsDeepStore,
  S3DeepStore,
} from '../../src/deepstore/index.js';
import { startFakeGcs, type FakeGcs } from '../helpers/fake-gcs.js';
import { FAKE_CREDENTIALS, FAKE_REGION, startS3Fake, type S3Fake } from '../helpers/s3-fake.js';
import { thrown } from './support.js';

let fake: S3Fake;
let gcs: FakeGcs;
beforeAll(async () => {
  fake = await startS3Fake();
  await fake.createBucket('made-by-factory');
  gcs = await startFakeGcs();
  await gcs.createBucket('made-by-factory');
});
afterAll(async () => {
  await fake?.stop();
  await gcs?.stop();
});

describe('createDeepStore', () => {
  it('builds an S3 store for s3:// and passes the S3 options through', async () => {
    const store = createDeepStore('s3://made-by-factory/pinot', {
      s3: {
        endpoint: fake.endpoint,
        region: FAKE_REGION,
        credentials: FAKE_CREDENTIALS,
        forcePathStyle: true,
        maxAttempts: 1,
      },
    });
    try {
      expect(store).toBeInstanceOf(S3DeepStore);
      expect(store.baseUri).toBe('s3://made-by-factory/pinot');
      const uri = store.segmentUri('t', 'seg');
      await store.put(uri, Readable.from([Buffer.from('abc')]), { crc: '3' });
      expect(await store.head(uri)).toEqual({ bytes: 3, crc: '3' });
    } finally {
      await store.close();
    }
  });

  it('builds a GCS store for gs:// and passes the GCS options through', async () => {
    const store = createDeepStore('gs://made-by-factory/pinot', {
      gcs: { emulatorEndpoint: gcs.endpoint, maxAttempts: 1 },
    });
    expect(store).toBeInstanceOf(GcsDeepStore);
    expect(store.baseUri).toBe('gs://made-by-factory/pinot');
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, Readable.from([Buffer.from('abc')]), { crc: '3' });
    expect(await store.head(uri)).toMatchObject({ bytes: 3, crc: '3' });
    await store.close();
  });

  it("builds a file store for file:// and file:/ (Pinot's own form)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deepstore-factory-'));
    try {
      for (const uri of [pathToFileURL(dir).href, `file:${dir}`]) {
        const store = createDeepStore(uri);
        expect(store).toBeInstanceOf(FileDeepStore);
        expect(store.baseUri).toBe(uri); // verbatim: it must equal the controller's controller.data.dir
        await store.put(store.segmentUri('t', 'seg'), Readable.from([Buffer.from('x')]), { crc: '1' });
        expect(await store.head(store.segmentUri('t', 'seg'))).toEqual({ bytes: 1, crc: null });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('builds an Azure store for adl2:// with the Azure options (no request until used)', () => {
    const store = createDeepStore('adl2://pinot-fs/pinot', {
      azure: { accountName: 'devstoreaccount1', accountKey: 'a2V5', endpoint: 'http://127.0.0.1:1/devstoreaccount1' },
    });
    expect(store).toBeInstanceOf(AzureDeepStore);
    expect(store.segmentUri('t', 'a b')).toBe('adl2://pinot-fs/pinot/t/a+b');
  });

  it.each(['gcs://bucket/x', 'hdfs://nn/x', '/var/pinot', 'adl2://', 's3://', ''])(
    'refuses %j as a configuration error',
    (uri) => {
      const caught = thrown(() => createDeepStore(uri));
      expect(caught).toBeInstanceOf(DeepStoreError);
      expect(caught).toMatchObject({ code: 'InvalidDeepStoreUri', retriable: false });
      expect((caught as Error).message).toContain(
        's3://bucket/prefix, gs://bucket/prefix, adl2://fileSystem/prefix or file:///absolute/path',
      );
    },
  );
});
