import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { spawnCli, type CliProcess } from '../../helpers/cli.js';
import { connectSession, PinotClusterSeeder, uniqueClusterName } from '../../helpers/pinot-cluster.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { buildSegment } from '../../helpers/segment-builder.js';
import { freePort, useOwnZooKeeper } from '../../helpers/zookeeper-server.js';

/**
 * The real `serve` process against a ZooKeeper of its own that is not there yet, or stops answering (SIGSTOP):
 * what a native sidecar sees when it starts before ZooKeeper, or when ZooKeeper stalls under load.
 */
const RT = 'events_REALTIME';
const INSTANCE = 'Server_zkwait_8098';
const SEGMENT = 'events__0__1__20240101T0000Z';
const IN_ERROR = 'events__0__2__20240101T0000Z';

const zk = useOwnZooKeeper();
let root: string;
let cluster: string;
const processes: CliProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'serve-zk-'));
  const session: ZkSession = await connectSession({ connectString: zk.connectString });
  try {
    const seed = new PinotClusterSeeder(session, uniqueClusterName('servezk'));
    cluster = seed.cluster;
    await seed.createCluster();
    const live = await seed.addInstance(INSTANCE);
    await seed.addTable(RT, { pauseless: true });
    await seed.putSegment(RT, SEGMENT, { downloadUrl: 's3://b/1' });
    await seed.putSegment(RT, IN_ERROR, { downloadUrl: 's3://b/2' });
    // A local replica in ERROR of a pauseless table: the one case in which a scrape reads ZooKeeper.
    await seed.setCurrentState(INSTANCE, live, RT, { [SEGMENT]: 'ONLINE', [IN_ERROR]: 'ERROR' });
    await seed.setExternalView(RT, { [SEGMENT]: { [INSTANCE]: 'ONLINE' }, [IN_ERROR]: { [INSTANCE]: 'ERROR' } });
    await seed.setExternalView(
      RT,
      { [SEGMENT]: { [INSTANCE]: 'ONLINE' }, [IN_ERROR]: { [INSTANCE]: 'ERROR' } },
      { idealState: true },
    );
  } finally {
    await session.close();
  }
  await buildSegment(path.join(root, 'data', RT), { name: SEGMENT });
});

afterAll(async () => {
  for (const p of processes) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

function serve(port: number): CliProcess {
  const p = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1'], {
    PINOT_SIDECAR_ZK: zk.connectString,
    PINOT_SIDECAR_CLUSTER: cluster,
    PINOT_SIDECAR_INSTANCE: INSTANCE,
    PINOT_SIDECAR_DATA_DIR: path.join(root, 'data'),
  });
  processes.push(p);
  return p;
}

async function stop(p: CliProcess): Promise<void> {
  p.child.kill('SIGTERM');
  expect(await p.exited).toBe(0);
}

describe('serve started before ZooKeeper', () => {
  it(
    'listens and serves downloads at once, is not ready, and becomes ready once ZooKeeper appears',
    { timeout: 90_000 },
    async () => {
      await zk.server.stop(); // the port is closed: nothing listens there yet
      const port = await freePort();
      const p = serve(port);
      await vi.waitFor(async () => expect((await rawRequest(port, '/health/live')).status).toBe(200), {
        timeout: 30_000,
        interval: 100,
      });

      const ready = await rawRequest(port, '/health/ready');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body.toString()).reasons).toEqual(
        expect.arrayContaining([expect.stringMatching(/^zookeeper\b/)]),
      );
      const download = await rawRequest(port, `/tables/${RT}/segments/${SEGMENT}`);
      expect([download.status, download.complete]).toEqual([200, true]);
      expect((await rawRequest(port, '/metrics')).body.toString()).toMatch(/^pinot_sidecar_zk_connected 0$/m);

      await zk.server.restart(); // ZooKeeper appears, with the cluster the sidecar was told about
      await vi.waitFor(async () => expect((await rawRequest(port, '/health/ready')).status).toBe(200), {
        timeout: 60_000,
        interval: 200,
      });
      expect((await rawRequest(port, '/metrics')).body.toString()).toMatch(/^pinot_sidecar_zk_connected 1$/m);
      expect(p.output()).toMatch(/"msg":"first sync done"/);
      await stop(p);
    },
  );
});

describe('serve while ZooKeeper is frozen', () => {
  it(
    '/metrics answers 200 within its cap, with the refresh still waiting on ZooKeeper',
    { timeout: 90_000 },
    async () => {
      const port = await freePort();
      const p = serve(port); // the default 30 s session: ZooKeeper's silence is not noticed for 20 s
      await vi.waitFor(async () => expect((await rawRequest(port, '/health/ready')).status).toBe(200), {
        timeout: 60_000,
        interval: 200,
      });
      // No scrape yet: the first one must read the external view (the local replica in ERROR), from a frozen server.
      await zk.server.pause();
      try {
        const res = await rawRequest(port, '/metrics');
        expect(res.status).toBe(200);
        expect(res.body.toString()).toMatch(/^pinot_sidecar_segments_in_error\{table="events_REALTIME"\} 1$/m);
        // It answered through the cap while the refresh still waited: the session had not yet noticed the silence
        // (the refresh gives up only after the connection is dropped), and nothing had failed.
        expect(res.body.toString()).toMatch(/^pinot_sidecar_zk_connected 1$/m);
        expect(p.output()).toContain('metrics refresh slower than 2 s; serving the last values');
        expect(p.output()).not.toMatch(/zk server silent|external view unreadable|metrics refresh failed/);
      } finally {
        zk.server.resume();
      }
      await stop(p);
    },
  );
});
