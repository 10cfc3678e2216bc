import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  PAUSELESS_DEBUG_REUSE_MS,
  registerPauselessDebugInfo,
  type PauselessDebugInfo,
} from '../../../src/agent/observability/pauseless-debug.js';
import { HostedSegments } from '../../../src/helix/hosted-segments.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';
import { connectSession, PinotClusterSeeder, uniqueClusterName } from '../../helpers/pinot-cluster.js';
import { useOwnZooKeeper } from '../../helpers/zookeeper-server.js';

const T = 'clicks_REALTIME';
const A = 'Server_a_8098';
/** Segments this server hosts, and segments only others host. */
const hostedSeg = (n: number) => `clicks__0__${n}__20240101T0000Z`;
const remoteSeg = (n: number) => `clicks__1__${n}__20240101T0000Z`;

interface Sidecar {
  seedSession: ZkSession;
  seed: PinotClusterSeeder;
  /** The sidecar's own session: every read the endpoint makes is counted in its `requests`. */
  session: ZkSession;
  hosted: HostedSegments;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * A cluster where this server hosts three segments of T, and T's debug list names `remote` more that it does not host.
 */
async function startSidecar(
  connectString: string | undefined,
  remote: number,
  sessionTimeoutMs?: number,
): Promise<Sidecar> {
  const seedSession = await connectSession(connectString ? { connectString } : {});
  const seed = new PinotClusterSeeder(seedSession, uniqueClusterName('pauselessdebug'));
  await seed.createCluster();
  const serverSession = await seed.addInstance(A);
  await seed.addTable(T, { pauseless: true });
  await seed.addTable('other_REALTIME', { pauseless: true });
  await seed.putSegment(T, hostedSeg(1), { status: 'COMMITTING' });
  await seed.putSegment(T, hostedSeg(2), { downloadUrl: 's3://b/2' });
  await seed.putSegment(T, hostedSeg(3), { downloadUrl: 's3://b/3' });
  await seed.setCurrentState(A, serverSession, T, {
    [hostedSeg(1)]: 'ONLINE',
    [hostedSeg(2)]: 'ONLINE',
    [hostedSeg(3)]: 'ERROR',
  });
  const session = await connectSession({
    ...(connectString ? { connectString } : {}),
    ...(sessionTimeoutMs ? { sessionTimeoutMs } : {}),
  });
  // The tracker reads on a session of its own: a resync it makes (after a freeze outlasting a short session)
  // must not count as reads of the endpoint's.
  const trackerSession = await connectSession(connectString ? { connectString } : {});
  const hosted = new HostedSegments({ session: trackerSession, cluster: seed.cluster, instance: A });
  await hosted.start();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'pauseless-debug-'));
  const sidecar: Sidecar = {
    seedSession,
    seed,
    session,
    hosted,
    dataDir,
    close: async () => {
      hosted.stop();
      await session.close();
      await trackerSession.close();
      await seedSession.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  // Remote segments 0-4 are COMMITTING, 5-9 DONE, the rest have no znode (a stale list).
  for (let n = 0; n < 10; n++)
    await seed.putSegment(T, remoteSeg(n), n < 5 ? { status: 'COMMITTING' } : { downloadUrl: `s3://b/r${n}` });
  const remotes = Array.from({ length: remote }, (_, n) => remoteSeg(n));
  // Names that are not segment names are never read; a name listed twice is read once.
  await seed.putPauselessDebug(T, [
    remotes[0]!,
    hostedSeg(1),
    '..',
    hostedSeg(2),
    ...remotes.slice(1),
    remoteSeg(3),
    'a/b',
    hostedSeg(3),
  ]);
  await seed.putPauselessDebug('other_REALTIME', [remoteSeg(0)]);
  return sidecar;
}

async function serveDebugInfo(
  sc: Sidecar,
  options: { timeoutMs?: number; now?: () => number } = {},
): Promise<{ http: TestHttpServer; debug: PauselessDebugInfo }> {
  let debug: PauselessDebugInfo | undefined;
  const http = await startTestHttpServer({
    dataDir: sc.dataDir,
    routes: [
      (app) => {
        debug = registerPauselessDebugInfo(app, {
          hosted: sc.hosted,
          session: sc.session,
          cluster: sc.seed.cluster,
          instance: A,
          ...options,
        });
      },
    ],
  });
  return { http, debug: debug! };
}

describe('pauselessDebugInfo on a table with many listed segments', () => {
  const REMOTE = 2_000;
  const clock = { now: Date.now() };
  let sc: Sidecar;
  let http: TestHttpServer;
  const url = (table = 'clicks') => http.url(`/tables/${table}/pauselessDebugInfo`);

  beforeAll(async () => {
    sc = await startSidecar(undefined, REMOTE);
    ({ http } = await serveDebugInfo(sc, { now: () => clock.now }));
  });
  afterAll(async () => {
    await http?.close();
    await sc?.close();
  });

  it('answers N concurrent requests with one read of each listed segment this server does not host', async () => {
    const before = sc.session.requests.getData;
    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const res = await fetch(url());
        return { status: res.status, body: await res.text() };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    // The list, then each remote segment once for all five requests; hosted segments come from the tracker.
    expect(sc.session.requests.getData - before).toBe(1 + REMOTE);
    expect(JSON.parse(answers[0]!.body)).toEqual({
      committingSegments: [
        remoteSeg(0),
        hostedSeg(1),
        remoteSeg(1),
        remoteSeg(2),
        remoteSeg(3),
        remoteSeg(4),
        remoteSeg(3),
      ],
      instanceToErrorSegmentsMap: { [A]: [hostedSeg(3)] },
    });
  });

  it('reuses the reads for a few seconds, and never reads a segment again once it was DONE', async () => {
    await fetch(url()); // whatever ran before, one computation is kept now
    const before = sc.session.requests.getData;
    expect((await fetch(url('clicks_REALTIME'))).status).toBe(200);
    expect(sc.session.requests.getData - before).toBe(0);
    clock.now += PAUSELESS_DEBUG_REUSE_MS;
    const res = await fetch(url());
    expect(res.status).toBe(200);
    // Read again: the list and the remote segments that were COMMITTING or absent; not the five DONE ones.
    expect(sc.session.requests.getData - before).toBe(1 + REMOTE - 5);
  });

  it('follows a hosted segment through the tracker, without a read of its own', async () => {
    await fetch(url());
    await sc.seed.putSegment(T, hostedSeg(1), { downloadUrl: 's3://b/1' });
    await vi.waitFor(() => expect(sc.hosted.get(T, hostedSeg(1))?.zk?.metadata.status).toBe('DONE'));
    const before = sc.session.requests.getData;
    const body = (await (await fetch(url())).json()) as { committingSegments: string[] };
    expect(body.committingSegments).not.toContain(hostedSeg(1));
    expect(sc.session.requests.getData - before).toBe(0);
  });

  it('is 404 for a table this server hosts nothing of, without reading ZooKeeper; 400 for an OFFLINE table', async () => {
    const before = sc.session.totalRequests();
    for (const table of ['other', 'other_REALTIME', 'nosuchtable']) {
      const res = await fetch(url(table));
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/hosts no segment of/);
    }
    expect(sc.session.totalRequests()).toBe(before);
    expect((await fetch(url('clicks_OFFLINE'))).status).toBe(400);
  });
});

describe('pauselessDebugInfo while ZooKeeper is frozen', () => {
  // A ZooKeeper of our own: these tests freeze it.
  const zk = useOwnZooKeeper();
  let sc: Sidecar;
  let patient: { http: TestHttpServer; debug: PauselessDebugInfo };
  let impatient: { http: TestHttpServer; debug: PauselessDebugInfo };

  beforeAll(async () => {
    // A session timeout well above the freezes, so the session stays connected through them.
    sc = await startSidecar(zk.connectString, 300, 30_000);
    patient = await serveDebugInfo(sc, { timeoutMs: 60_000 });
    impatient = await serveDebugInfo(sc, { timeoutMs: 1_000 });
  });
  afterAll(async () => {
    zk.server.resume();
    await patient?.http.close();
    await impatient?.http.close();
    await sc?.close();
  });

  it('answers 503 with Retry-After when ZooKeeper does not answer within the timeout, and 200 once it does', async () => {
    await zk.server.pause();
    try {
      const res = await fetch(impatient.http.url('/tables/clicks/pauselessDebugInfo'));
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await res.json()).toMatchObject({
        status: 503,
        error: expect.stringMatching(/ZooKeeper did not answer within 1000 ms/),
      });
    } finally {
      zk.server.resume();
    }
    await vi.waitFor(
      async () => expect((await fetch(impatient.http.url('/tables/clicks/pauselessDebugInfo'))).status).toBe(200),
      { timeout: 10_000 },
    );
  });

  it('sends no further read once the client that asked has disconnected', async () => {
    const before = sc.session.requests.getData;
    await zk.server.pause();
    try {
      const client = net.connect({ port: patient.http.port, host: '127.0.0.1' });
      client.on('error', () => {});
      client.write('GET /tables/clicks/pauselessDebugInfo HTTP/1.1\r\nHost: x\r\n\r\n');
      // The computation has sent the list read, which a frozen ZooKeeper leaves unanswered.
      await vi.waitFor(() => expect(sc.session.requests.getData).toBe(before + 1));
      expect(patient.debug.running).toBe(1);
      client.destroy();
      await vi.waitFor(() => expect(patient.debug.running).toBe(0));
    } finally {
      zk.server.resume();
    }
    // The list arrives now. Two round trips on the same connection come after its answer (ZooKeeper
    // answers in order), so by then an abandoned computation would have sent its 300 segment reads.
    await sc.session.exists('/');
    await sc.session.exists('/');
    expect(sc.session.requests.getData).toBe(before + 1);
  });
});
