import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AzureDeepStore } from '../../src/deepstore/azure-deep-store.js';
import { FileDeepStore } from '../../src/deepstore/file-deep-store.js';
import { GcsDeepStore } from '../../src/deepstore/gcs-deep-store.js';
import { S3DeepStore } from '../../src/deepstore/s3-deep-store.js';
import { parseStoreUri } from '../../src/deepstore/store-uri.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type Azurite } from '../helpers/azurite.js';
import { startFakeGcs, type FakeGcs } from '../helpers/fake-gcs.js';
import { FAKE_CREDENTIALS, FAKE_REGION, startS3Fake, type S3Fake } from '../helpers/s3-fake.js';
import { storeContract, type StoreSubject } from './store-contract.js';
import { MiB, uniqueName } from './support.js';

/**
 * The DeepStore contract (store-contract.ts) for every store, each on its real backend: a temp folder, the S3
 * fake, Azurite, fake-gcs-server. Each subject says how to make a fresh store and how to look at what it stored from
 * outside.
 */

const folders: string[] = [];
const fileSubject: StoreSubject = {
  name: 'file',
  async start() {},
  async stop() {
    await Promise.all(folders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  },
  async fresh() {
    const dir = await mkdtemp(path.join(tmpdir(), 'contract-file-'));
    folders.push(dir);
    await mkdir(path.join(dir, 'deep'));
    const pathOf = (uri: string): string => {
      const location = parseStoreUri(uri);
      if (location.kind !== 'file') throw new Error(`not a file URI: ${uri}`);
      return location.path;
    };
    return {
      store: new FileDeepStore(pathToFileURL(path.join(dir, 'deep')).href),
      async rawBytes(uri) {
        return readFile(pathOf(uri)).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return null;
          throw err;
        });
      },
      async plantForeign(uri, bytes) {
        await mkdir(path.dirname(pathOf(uri)), { recursive: true });
        await writeFile(pathOf(uri), bytes);
      },
    };
  },
  outsideUri: 'file:///somewhere/else/t/seg',
  largeBodyBytes: 3 * MiB + 17,
  verifiesPutBy: 'full_read',
};

let s3: S3Fake;
const s3Subject: StoreSubject = {
  name: 's3',
  async start() {
    s3 = await startS3Fake();
  },
  async stop() {
    await s3?.stop();
  },
  async fresh() {
    const bucket = uniqueName('contract');
    await s3.createBucket(bucket);
    const keyOf = (uri: string): string => {
      const location = parseStoreUri(uri);
      if (location.kind !== 's3') throw new Error(`not an S3 URI: ${uri}`);
      return location.key;
    };
    return {
      store: new S3DeepStore(`s3://${bucket}/pinot/data`, {
        endpoint: s3.endpoint,
        region: FAKE_REGION,
        credentials: FAKE_CREDENTIALS,
        forcePathStyle: true,
        maxAttempts: 1,
        partSizeBytes: 5 * MiB,
      }),
      async rawBytes(uri) {
        try {
          const out = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(uri) }));
          return Buffer.from(await out.Body!.transformToByteArray());
        } catch (err) {
          if ((err as { name?: string }).name === 'NoSuchKey') return null;
          throw err;
        }
      },
      async plantForeign(uri, bytes) {
        await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: keyOf(uri), Body: bytes }));
      },
    };
  },
  outsideUri: 's3://another-bucket/pinot/data/t/seg',
  largeBodyBytes: 11 * MiB + 17, // three 5 MiB parts
  verifiesPutBy: 'recorded', // a small put goes as one PutObject with its size recorded
};

let azurite: Azurite;
const azureSubject: StoreSubject = {
  name: 'azure',
  async start() {
    azurite = await startAzurite();
  },
  async stop() {
    await azurite?.stop();
  },
  async fresh() {
    const name = uniqueName('contract');
    const container = await azurite.createContainer(name);
    const blobOf = (uri: string): string => {
      const location = parseStoreUri(uri);
      if (location.kind !== 'adl2') throw new Error(`not an adl2 URI: ${uri}`);
      return location.path;
    };
    return {
      store: new AzureDeepStore(`adl2://${name}/pinot/data`, {
        accountName: AZURITE_ACCOUNT,
        accountKey: AZURITE_KEY,
        endpoint: azurite.endpoint,
        maxTries: 1,
        blockSizeBytes: 1 * MiB,
      }),
      async rawBytes(uri) {
        try {
          return await container.getBlobClient(blobOf(uri)).downloadToBuffer();
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode === 404) return null;
          throw err;
        }
      },
      async plantForeign(uri, bytes) {
        await container.getBlockBlobClient(blobOf(uri)).upload(bytes, bytes.length);
      },
    };
  },
  outsideUri: 'adl2://another-container/pinot/data/t/seg',
  largeBodyBytes: 3 * MiB + 17, // four 1 MiB blocks
  verifiesPutBy: 'recorded',
};

let gcs: FakeGcs;
const gcsSubject: StoreSubject = {
  name: 'gcs',
  async start() {
    gcs = await startFakeGcs();
  },
  async stop() {
    await gcs?.stop();
  },
  async fresh() {
    const bucket = uniqueName('contract');
    await gcs.createBucket(bucket);
    const nameOf = (uri: string): string => {
      const location = parseStoreUri(uri);
      if (location.kind !== 'gcs') throw new Error(`not a gs URI: ${uri}`);
      return location.key;
    };
    return {
      store: new GcsDeepStore(`gs://${bucket}/pinot/data`, {
        emulatorEndpoint: gcs.endpoint,
        maxAttempts: 1,
        chunkBytes: 1 * MiB,
      }),
      async rawBytes(uri) {
        const file = gcs.storage.bucket(bucket).file(nameOf(uri));
        const [exists] = await file.exists();
        if (!exists) return null;
        const [bytes] = await file.download();
        return bytes;
      },
      async plantForeign(uri, bytes) {
        await gcs.storage.bucket(bucket).file(nameOf(uri)).save(bytes, { resumable: false });
      },
    };
  },
  outsideUri: 'gs://another-bucket/pinot/data/t/seg',
  largeBodyBytes: 3 * MiB + 17, // four 1 MiB chunks
  verifiesPutBy: 'recorded',
};

storeContract(fileSubject);
storeContract(s3Subject);
storeContract(azureSubject);
storeContract(gcsSubject);
