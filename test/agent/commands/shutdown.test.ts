import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { readRecord } from '../../../src/helix/znode-io.js';
import { spawnCli, type CliProcess } from '../../helpers/cli.js';
import { faults, startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';
import { parseResponse, rawRequest, type RawResponse } from '../../helpers/raw-http.js';
import { extractTarGz } from '../../helpers/raw-tar.js';
import { FAKE_CREDENTIALS, FAKE_REGION, startS3Fake, type S3Fake } from '../../helpers/s3-fake.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';
import { freePort } from '../../helpers/zookeeper-server.js';

const RT = 'events_REALTIME';
const INSTANCE = 'Server_shutdown_8098';

describe('SIGTERM (real sidecar process)', () => {
  let root: string;
  let big: BuiltSegment;
  let s3: S3Fake;
  let proxy: FaultProxy;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'shutdown-'));
    big = await buildSegment(path.join(root, 'data', RT), {
      name: 'events__0__1__20240101T0000Z',
      payloadBytes: 40 * 1024 * 1024,
      payloadKind: 'random',
    });
    s3 = await startS3Fake();
    await s3.createBucket('deep');
    proxy = await startFaultProxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy.stop();
    await s3.stop();
    await rm(root, { recursive: true, force: true });
  });
  // Registered after the beforeAll above, so it runs after it: the metadata names `big`'s CRC.
  const pinot = useSeededCluster('shutdown', {
    setup: async (seed) => {
      const live = await seed.addInstance(INSTANCE);
      await seed.addTable(RT);
      await seed.putSegment(RT, big.name, { downloadUrl: '', crc: String(big.crc) });
      await seed.setCurrentState(INSTANCE, live, RT, { [big.name]: 'ONLINE' });
    },
  });

  async function startSidecar(port: number, extra: string[], graceSeconds = 20): Promise<CliProcess> {
    const p = spawnCli(
      [
        'serve',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--shutdown-grace-seconds',
        String(graceSeconds),
        ...extra,
      ],
      {
        PINOT_SIDECAR_ZK: inject('zkConnectString'),
        PINOT_SIDECAR_CLUSTER: pinot.cluster,
        PINOT_SIDECAR_INSTANCE: INSTANCE,
        PINOT_SIDECAR_DATA_DIR: path.join(root, 'data'),
        AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
      },
    );
    await vi.waitFor(async () => expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200), {
      timeout: 30_000,
      interval: 100,
    });
    return p;
  }

  /** A slow reader: the socket pauses after the first bytes, so the download is in flight when the signal comes. */
  async function startSlowDownload(port: number): Promise<{ readRest: () => Promise<RawResponse> }> {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    let slow = true;
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (slow) socket.pause();
    });
    socket.write(`GET /tables/${RT}/segments/${big.name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await vi.waitFor(() => expect(chunks.length).toBeGreaterThan(0));
    return {
      // Read whatever the sidecar still sends, up to the end of the connection, and parse the whole answer.
      readRest: async () => {
        slow = false;
        socket.resume();
        await closed;
        return parseResponse(Buffer.concat(chunks));
      },
    };
  }

  /** The first signal has been handled: readiness is gone (or the listener is closed). */
  async function waitNotReady(port: number): Promise<void> {
    await vi.waitFor(async () => {
      const ready = await rawRequest(port, '/health/ready').catch(() => null);
      expect(ready === null || ready.status === 503).toBe(true);
    });
  }

  it('during a download: stops being ready, refuses new downloads, lets the running one finish, exits 0', async () => {
    const port = await freePort();
    const p = await startSidecar(port, []);
    try {
      const download = await startSlowDownload(port);
      // A second, idle keep-alive connection opened before the signal.
      const keepAlive = net.connect({ port, host: '127.0.0.1' });
      await new Promise<void>((r) => keepAlive.once('connect', () => r()));

      p.child.kill('SIGTERM');
      await waitNotReady(port);
      const refused = await rawRequest(port, `/tables/${RT}/segments/${big.name}`).catch((err: Error) => err);
      expect(refused instanceof Error || refused.status === 503).toBe(true);

      // Drain: read the rest; the archive must be complete and extract.
      const res = await download.readRest();
      expect(res.status).toBe(200);
      expect(res.complete).toBe(true);
      const file = path.join(root, 'drained.tar.gz');
      await writeFile(file, res.body);
      const out = await mkdtemp(path.join(root, 'out-'));
      await extractTarGz(file, out);
      keepAlive.destroy();
      expect(await p.exited).toBe(0);
      expect(p.output()).toMatch(/"msg":"shut down"/);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('during an upload: aborts it, writes nothing to ZooKeeper or the final key, exits 0', async () => {
    const { seed, session } = pinot;
    // Every part upload hangs for a minute: the repair is mid-upload when the signal comes.
    proxy.reset();
    proxy.inject((r) => r.method === 'PUT', faults.delay(60_000), { times: Infinity });
    const port = await freePort();
    const p = await startSidecar(port, [
      '--deep-store',
      's3://deep/pinot',
      '--s3-endpoint',
      proxy.endpoint,
      '--s3-region',
      FAKE_REGION,
      '--s3-path-style',
    ]);
    try {
      // The repair's multipart upload (not another PUT, such as a deep-store probe's) is on the wire.
      await vi.waitFor(() => expect(proxy.count('UploadPart')).toBeGreaterThan(0), { timeout: 20_000 });
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      // Aborted, not waited out: it exited while every part request was still held (none reached the store),
      // after aborting the multipart upload.
      const parts = proxy.log.filter((r) => r.op === 'UploadPart');
      expect(parts.length).toBeGreaterThan(0);
      expect(parts.map((r) => r.upstreamStatus)).toEqual(parts.map(() => null));
      expect(proxy.log.filter((r) => r.op === 'AbortMultipartUpload').map((r) => r.status)).toEqual([204]);
      const record = await readRecord(session, seed.paths.segmentMetadata(RT, big.name));
      expect(record?.doc.record.simpleFields['segment.download.url']).toBe('');
      // Nothing at the final key (404, not any error), and no multipart upload left open.
      const head = await s3.client
        .send(new HeadObjectCommand({ Bucket: 'deep', Key: `pinot/events/${big.name}` }))
        .catch((err: unknown) => err);
      expect(head).toMatchObject({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      expect(await s3.hasInProgressMultipartUploads('deep')).toBe(false);
      expect(p.output()).toMatch(/"msg":"shut down"/);
    } finally {
      p.child.kill('SIGKILL');
      proxy.reset();
    }
  });
  it('a second signal during the drain exits at once with 1, cutting the download it was waiting for', async () => {
    const port = await freePort();
    const p = await startSidecar(port, []); // a 20 s grace: only the second signal can end it this early
    try {
      const download = await startSlowDownload(port);
      p.child.kill('SIGTERM');
      await waitNotReady(port);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(1);
      expect(p.output()).toContain('pinot-sidecar: second SIGTERM, exiting now');
      expect(p.output()).not.toMatch(/"msg":"shut down"/);
      const res = await download.readRest();
      expect([res.status, res.complete]).toEqual([200, false]);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('a download that never finishes is cut at the grace deadline (--shutdown-grace-seconds 1), then the sidecar exits 0', async () => {
    const port = await freePort();
    const p = await startSidecar(port, [], 1);
    try {
      // The reader never reads again: without the deadline the drain would wait for it for ever.
      const download = await startSlowDownload(port);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      const res = await download.readRest();
      expect([res.status, res.complete]).toEqual([200, false]);
      expect(p.output()).toMatch(/"msg":"shut down"/);
      expect(p.output()).not.toContain('shutdown did not finish in time');
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});
