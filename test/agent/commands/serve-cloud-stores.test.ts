import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { AZURE_BYTES_METADATA_KEY, AZURE_CRC_METADATA_KEY } from '../../../src/deepstore/index.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { readSegmentMetadata } from '../../../src/helix/index.js';
import { readRecord } from '../../../src/helix/znode-io.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type Azurite } from '../../helpers/azurite.js';
import { spawnCli, type CliProcess } from '../../helpers/cli.js';
import { startFakeGcs, type FakeGcs } from '../../helpers/fake-gcs.js';
import { connectSession, PinotClusterSeeder, uniqueClusterName } from '../../helpers/pinot-cluster.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';
import { freePort } from '../../helpers/zookeeper-server.js';

/**
 * One repair end to end per cloud store (issue 14): a real `serve` process, a segment committed DONE with URL "",
 * the store on its real emulator. The URL lands in ZooKeeper, and the object is checked through the emulator's own
 * API (bytes, and the size and CRC recorded with it) — not through the sidecar's store code.
 */
const RT = 'events_REALTIME';
const INSTANCE = 'Server_cloud_8098';

let root: string;
let session: ZkSession;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'serve-cloud-'));
  session = await connectSession();
});
afterAll(async () => {
  await session?.close();
  await rm(root, { recursive: true, force: true });
});

/** A cluster whose server hosts one segment that has no deep-store copy, and its local copy. */
async function clusterWithMissingCopy(
  name: string,
): Promise<{ seed: PinotClusterSeeder; segment: BuiltSegment; dataDir: string }> {
  const seed = new PinotClusterSeeder(session, uniqueClusterName(name));
  await seed.createCluster();
  const live = await seed.addInstance(INSTANCE);
  await seed.addTable(RT);
  const dataDir = path.join(root, name, 'data');
  const segment = await buildSegment(path.join(dataDir, RT), {
    name: 'events__0__7__20240101T0000Z',
    payloadBytes: 3 * 1024 * 1024,
    payloadKind: 'random',
  });
  await seed.putSegment(RT, segment.name, { downloadUrl: '', crc: String(segment.crc) });
  await seed.setCurrentState(INSTANCE, live, RT, { [segment.name]: 'ONLINE' });
  return { seed, segment, dataDir };
}

async function serve(
  seed: PinotClusterSeeder,
  dataDir: string,
  deepStore: string,
  extra: string[],
  env: NodeJS.ProcessEnv,
): Promise<CliProcess> {
  const port = await freePort();
  return spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1', '--deep-store', deepStore, ...extra], {
    PINOT_SIDECAR_ZK: inject('zkConnectString'),
    PINOT_SIDECAR_CLUSTER: seed.cluster,
    PINOT_SIDECAR_INSTANCE: INSTANCE,
    PINOT_SIDECAR_DATA_DIR: dataDir,
    ...env,
  });
}

async function urlOnceSet(seed: PinotClusterSeeder, segment: string, sidecar: CliProcess): Promise<string> {
  let url = '';
  await vi.waitFor(
    async () => {
      const record = await readRecord(session, seed.paths.segmentMetadata(RT, segment));
      const downloadUrl = readSegmentMetadata(record!.doc.record).downloadUrl;
      expect(downloadUrl.kind, sidecar.output().slice(-2000)).toBe('uri');
      url = downloadUrl.kind === 'uri' ? downloadUrl.uri : '';
    },
    { timeout: 45_000, interval: 200 },
  );
  return url;
}

async function stop(sidecar: CliProcess): Promise<void> {
  sidecar.child.kill('SIGTERM');
  await sidecar.exited;
}

describe('serve repairs into Azure (adl2://, Azurite)', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it('uploads the verified copy, records its size and CRC, and sets the adl2:// URL', async () => {
    const { seed, segment, dataDir } = await clusterWithMissingCopy('azure');
    const container = await azurite.createContainer('pinot-deep');
    const sidecar = await serve(
      seed,
      dataDir,
      'adl2://pinot-deep/controller-data',
      ['--azure-endpoint', azurite.endpoint],
      {
        AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT,
        AZURE_STORAGE_KEY: AZURITE_KEY,
      },
    );
    try {
      const url = await urlOnceSet(seed, segment.name, sidecar);
      expect(url).toBe(`adl2://pinot-deep/controller-data/events/${segment.name}`);
      const blob = container.getBlockBlobClient(`controller-data/events/${segment.name}`);
      const props = await blob.getProperties();
      const bytes = await blob.downloadToBuffer();
      expect(props.contentLength).toBe(bytes.length);
      expect(props.metadata).toMatchObject({
        [AZURE_CRC_METADATA_KEY]: String(segment.crc),
        [AZURE_BYTES_METADATA_KEY]: String(bytes.length),
      });
      expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      // No secret in what the sidecar logged.
      expect(sidecar.output()).not.toContain(AZURITE_KEY);
    } finally {
      await stop(sidecar);
    }
  });
});

describe('serve repairs into Google Cloud Storage (gs://, fake-gcs-server)', () => {
  let gcs: FakeGcs;
  beforeAll(async () => {
    gcs = await startFakeGcs(); // built, when missing, by the run's global setup (test/setup/fake-gcs.ts)
  });
  afterAll(async () => {
    await gcs?.stop();
  });

  it('uploads the verified copy, records its size and CRC, and sets the gs:// URL', async () => {
    const { seed, segment, dataDir } = await clusterWithMissingCopy('gcs');
    await gcs.createBucket('pinot-deep');
    const sidecar = await serve(
      seed,
      dataDir,
      'gs://pinot-deep/controller-data',
      ['--gcs-emulator-endpoint', gcs.endpoint],
      {},
    );
    try {
      const url = await urlOnceSet(seed, segment.name, sidecar);
      expect(url).toBe(`gs://pinot-deep/controller-data/events/${segment.name}`);
      const file = gcs.storage.bucket('pinot-deep').file(`controller-data/events/${segment.name}`);
      const [metadata] = await file.getMetadata();
      const [bytes] = await file.download();
      expect(Number(metadata.size)).toBe(bytes.length);
      expect(metadata.metadata).toMatchObject({
        'segment-crc': String(segment.crc),
        'segment-bytes': String(bytes.length),
      });
      expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    } finally {
      await stop(sidecar);
    }
  }, 60_000);
});
