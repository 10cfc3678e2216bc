import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/agent/metrics.js';
import { CommitStateCollector } from '../../../src/agent/observability/commit-state-collector.js';
import { registerPauselessDebugInfo } from '../../../src/agent/observability/pauseless-debug.js';
import { HostedSegments } from '../../../src/helix/hosted-segments.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { metricValue, startTestHttpServer } from '../../helpers/http-app.js';
import {
  connectSession,
  PinotClusterSeeder,
  uniqueClusterName,
  useSeededCluster,
} from '../../helpers/pinot-cluster.js';
import { useOwnZooKeeper } from '../../helpers/zookeeper-server.js';
import { silentLogger } from '../../../src/log.js';

const T = 'clicks_REALTIME';
const DEDUP = 'dedup_REALTIME';
const A = 'Server_a_8098';
const B = 'Server_b_8098';
const C = 'Server_c_8098';
const s = (n: number, table = 'clicks') => `${table}__0__${n}__20240101T0000Z`;

interface Sidecar {
  session: ZkSession;
  hosted: HostedSegments;
  metrics: Metrics;
  collector: CommitStateCollector;
  clock: { now: number };
}

/**
 * One seeded cluster per test (every test passes alone): a pauseless table and a pauseless dedup table, segments
 * in every commit state, replicas in ERROR on the servers A and B, and a sidecar's tracker + collector for each.
 */
interface World {
  seed: PinotClusterSeeder;
  sessions: Record<string, string>;
  a: Sidecar;
  b: Sidecar;
  close(): Promise<void>;
}

async function startSidecar(seed: PinotClusterSeeder, instance: string, connectString?: string): Promise<Sidecar> {
  const session = await connectSession(connectString === undefined ? {} : { connectString, sessionTimeoutMs: 30_000 });
  const hosted = new HostedSegments({ session, cluster: seed.cluster, instance });
  await hosted.start();
  const metrics = createMetrics({ defaultMetrics: false });
  const clock = { now: Date.now() };
  const collector = new CommitStateCollector({
    hosted,
    session,
    metrics,
    cluster: seed.cluster,
    instance,
    logger: silentLogger,
    now: () => clock.now,
  });
  return { session, hosted, metrics, collector, clock };
}

async function stopSidecar(sc: Sidecar): Promise<void> {
  sc.hosted.stop();
  await sc.session.close();
}

async function seedWorld(connectString?: string): Promise<World> {
  const seedSession = await connectSession(connectString === undefined ? {} : { connectString });
  const seed = new PinotClusterSeeder(seedSession, uniqueClusterName('commitstate'));
  const sessions: Record<string, string> = {};
  await seed.createCluster();
  for (const i of [A, B, C]) sessions[i] = await seed.addInstance(i);
  await seed.addTable(T, { pauseless: true });
  await seed.addTable(DEDUP, { pauseless: true, dedup: true });
  await seed.putSegment(T, s(1), { downloadUrl: '' });
  await seed.putSegment(T, s(2), { status: 'COMMITTING' });
  await seed.putSegment(T, s(3), { downloadUrl: 's3://b/3' });
  await seed.putSegment(T, s(4), { downloadUrl: 's3://b/4' });
  await seed.putSegment(T, s(5), { downloadUrl: 's3://b/5' });
  await seed.putSegment(T, s(6), { status: 'IN_PROGRESS' });
  await seed.putSegment(DEDUP, s(1, 'dedup'), { downloadUrl: 's3://b/d1' });
  // s3: all replicas ERROR (A, B) -> owner A. s4: all ERROR (B, C) -> owner B. s5: A ERROR, B ONLINE -> no one.
  await seed.setCurrentState(A, sessions[A]!, T, {
    [s(1)]: 'ONLINE',
    [s(2)]: 'ONLINE',
    [s(3)]: 'ERROR',
    [s(5)]: 'ERROR',
    [s(6)]: 'CONSUMING',
  });
  await seed.setCurrentState(B, sessions[B]!, T, {
    [s(1)]: 'ONLINE',
    [s(3)]: 'ERROR',
    [s(4)]: 'ERROR',
    [s(5)]: 'ONLINE',
  });
  await seed.setCurrentState(A, sessions[A]!, DEDUP, { [s(1, 'dedup')]: 'ERROR' });
  const ev: Record<string, Record<string, string>> = {
    [s(1)]: { [A]: 'ONLINE', [B]: 'ONLINE' },
    [s(2)]: { [A]: 'ONLINE' },
    [s(3)]: { [A]: 'ERROR', [B]: 'ERROR' },
    [s(4)]: { [B]: 'ERROR', [C]: 'ERROR' },
    [s(5)]: { [A]: 'ERROR', [B]: 'ONLINE' },
    [s(6)]: { [A]: 'CONSUMING' },
  };
  await seed.setExternalView(T, ev, { compress: true });
  await seed.setExternalView(T, ev, { idealState: true });
  await seed.setExternalView(DEDUP, { [s(1, 'dedup')]: { [A]: 'ERROR' } });
  await seed.setExternalView(DEDUP, { [s(1, 'dedup')]: { [A]: 'ERROR' } }, { idealState: true });
  await seed.putPauselessDebug(T, [s(2), s(1)]);
  const a = await startSidecar(seed, A, connectString);
  const b = await startSidecar(seed, B, connectString);
  return {
    seed,
    sessions,
    a,
    b,
    async close() {
      await Promise.all([stopSidecar(a), stopSidecar(b)]);
      await seedSession.close();
    },
  };
}

const value = (sc: Sidecar, name: string, labels: Record<string, string> = {}) =>
  metricValue(sc.metrics, `pinot_sidecar_${name}`, labels);

describe('commit-state metrics from two sidecars on one ZooKeeper', () => {
  let world: World | undefined;
  const newWorld = async (): Promise<World> => (world = await seedWorld());
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it('exports per-table commit state from the tracker', async () => {
    const { a } = await newWorld();
    await a.collector.refresh();
    expect(await value(a, 'pauseless_consumption_enabled', { table: T })).toBe(1);
    expect(await value(a, 'segments', { table: T, status: 'DONE' })).toBe(3);
    expect(await value(a, 'segments', { table: T, status: 'COMMITTING' })).toBe(1);
    expect(await value(a, 'segments', { table: T, status: 'IN_PROGRESS' })).toBe(1);
    expect(await value(a, 'segments', { table: T, status: 'UPLOADED' })).toBe(0);
    expect(await value(a, 'segments_missing_deep_store', { table: T })).toBe(1);
    expect(await value(a, 'segments_in_error', { table: T })).toBe(2);
  });

  it('counts each all-replicas-in-ERROR segment on exactly one sidecar: the sum is the cluster count', async () => {
    const { a, b } = await newWorld();
    await Promise.all([a.collector.refresh(), b.collector.refresh()]);
    const perSidecar = [
      await value(a, 'pauseless_segments_in_error', { table: T }),
      await value(b, 'pauseless_segments_in_error', { table: T }),
    ];
    expect(perSidecar).toEqual([1, 1]);
    expect(perSidecar[0]! + perSidecar[1]!).toBe(2); // s3 and s4; s5 has an ONLINE replica
    expect(await value(a, 'pauseless_segments_in_unrecoverable_error', { table: T })).toBe(0);
    // Dedup without disasterRecoveryMode ALWAYS: the controller may not repair it.
    expect(await value(a, 'pauseless_segments_in_error', { table: DEDUP })).toBe(1);
    expect(await value(a, 'pauseless_segments_in_unrecoverable_error', { table: DEDUP })).toBe(1);
  });

  it('reads the external view at most once per interval, and only with a local ERROR replica', async () => {
    const { a } = await newWorld();
    const before = a.session.requests.getData;
    await a.collector.refresh();
    expect(a.session.requests.getData - before).toBe(4); // EV + IS for the two tables with ERROR replicas
    await a.collector.refresh();
    expect(a.session.requests.getData - before).toBe(4); // cached within the interval
    a.clock.now += 61_000;
    await a.collector.refresh();
    expect(a.session.requests.getData - before).toBe(8);
  });

  it('tracks the stuck-commit clock on the znode mtime, and drops back to 0 when the commit ends', async () => {
    const { a, seed } = await newWorld();
    const mtime = a.hosted.get(T, s(2))!.zk!.mtimeMs;
    a.clock.now = mtime + 300_000;
    await a.collector.refresh();
    expect(await value(a, 'committing_segments_stuck', { table: T })).toBe(0);
    a.clock.now = mtime + 300_001;
    await a.collector.refresh();
    expect(await value(a, 'committing_segments_stuck', { table: T })).toBe(1);
    // The controller ends the commit: DONE with a URL.
    await seed.putSegment(T, s(2), { downloadUrl: 's3://b/2' });
    await vi.waitFor(() => expect(a.hosted.get(T, s(2))?.zk?.metadata.status).toBe('DONE'));
    await a.collector.refresh();
    expect(await value(a, 'committing_segments_stuck', { table: T })).toBe(0);
    expect(await value(a, 'segments', { table: T, status: 'COMMITTING' })).toBe(0);
  });

  it('returns error gauges to 0 when the replicas recover, without reading the external view', async () => {
    const { a, seed, sessions } = await newWorld();
    await a.collector.refresh();
    expect(await value(a, 'segments_in_error', { table: T })).toBe(2);
    expect(await value(a, 'pauseless_segments_in_error', { table: T })).toBe(1);
    await seed.setCurrentState(A, sessions[A]!, T, {
      [s(1)]: 'ONLINE',
      [s(2)]: 'ONLINE',
      [s(3)]: 'ONLINE',
      [s(5)]: 'ONLINE',
      [s(6)]: 'CONSUMING',
    });
    await vi.waitFor(() => expect(a.hosted.get(T, s(3))?.state).toBe('ONLINE'));
    const before = a.session.requests.getData;
    a.clock.now += 120_000;
    await a.collector.refresh();
    expect(await value(a, 'segments_in_error', { table: T })).toBe(0);
    expect(await value(a, 'pauseless_segments_in_error', { table: T })).toBe(0);
    // Only the dedup table still has a local ERROR replica: its EV and IS are the only reads.
    expect(a.session.requests.getData - before).toBe(2);
  });

  it('serves pauselessDebugInfo in the controller shape from this server view', async () => {
    const { b, seed, sessions } = await newWorld();
    await seed.putSegment(T, s(2), { downloadUrl: 's3://b/2' }); // the commit of s2 ended
    await seed.putSegment(T, s(7), { status: 'COMMITTING' });
    await seed.putPauselessDebug(T, [s(7), s(2)]);
    await seed.setCurrentState(B, sessions[B]!, T, { [s(3)]: 'ERROR', [s(4)]: 'ERROR' });
    await vi.waitFor(() => expect(b.hosted.segments(T).size).toBe(2));
    const dir = await mkdtemp(path.join(tmpdir(), 'pdi-'));
    const http = await startTestHttpServer({
      dataDir: dir,
      routes: [
        (app) =>
          registerPauselessDebugInfo(app, { hosted: b.hosted, session: b.session, cluster: seed.cluster, instance: B }),
      ],
    });
    try {
      for (const name of ['clicks', T]) {
        const res = await fetch(http.url(`/tables/${name}/pauselessDebugInfo`));
        expect(res.status).toBe(200);
        // s2 is DONE, so only s7 is still committing.
        expect(await res.text()).toBe(
          [
            '{',
            `  "committingSegments" : [ "${s(7)}" ],`,
            '  "instanceToErrorSegmentsMap" : {',
            `    "${B}" : [ "${s(3)}", "${s(4)}" ]`,
            '  }',
            '}',
          ].join('\n'),
        );
      }
      const offline = await fetch(http.url('/tables/clicks_OFFLINE/pauselessDebugInfo'));
      expect(offline.status).toBe(400);
      const bad = await fetch(http.url('/tables/bad%20name/pauselessDebugInfo'));
      expect(bad.status).toBe(400);
    } finally {
      await http.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the last pauseless figures without reading while the session is closed', async () => {
    const { a } = await newWorld();
    await a.collector.refresh();
    expect(await value(a, 'pauseless_segments_in_error', { table: DEDUP })).toBe(1);
    await a.session.close();
    a.clock.now += 600_000; // the cache has expired: a connected session would read again
    const before = a.session.totalRequests();
    await a.collector.refresh();
    expect(a.session.totalRequests()).toBe(before);
    expect(await value(a, 'pauseless_segments_in_error', { table: DEDUP })).toBe(1);
  });
});

describe('a scrape while ZooKeeper is frozen (own ZooKeeper: it is SIGSTOPped)', () => {
  const zk = useOwnZooKeeper();
  let world: World | undefined;
  afterEach(async () => {
    zk.server.resume();
    await world?.close();
  });

  it('answers within its cap with the last figures while the refresh still waits on ZooKeeper', async () => {
    world = await seedWorld(zk.connectString);
    const { a } = world;
    let refreshing = false;
    const dir = await mkdtemp(path.join(tmpdir(), 'frozen-scrape-'));
    const http = await startTestHttpServer({
      dataDir: dir,
      metrics: a.metrics,
      beforeScrape: async () => {
        refreshing = true;
        try {
          await a.collector.refresh();
        } finally {
          refreshing = false;
        }
      },
    });
    try {
      const first = await fetch(http.url('/metrics'));
      expect(first.status).toBe(200);
      expect(await first.text()).toMatch(
        new RegExp(`^pinot_sidecar_pauseless_segments_in_error\\{table="${DEDUP}"\\} 1$`, 'm'),
      );
      // The external view is due again, and ZooKeeper stops answering: the refresh's reads hang (the session's
      // 30 s timeout keeps it 'connected' far longer than the scrape's cap).
      a.clock.now += 61_000;
      await zk.server.pause();
      const during = await fetch(http.url('/metrics'));
      expect(during.status).toBe(200);
      expect(refreshing).toBe(true); // answered without waiting for the refresh, while ZooKeeper is still frozen
      expect(a.session.state).toBe('connected');
      expect(await during.text()).toMatch(
        new RegExp(`^pinot_sidecar_pauseless_segments_in_error\\{table="${DEDUP}"\\} 1$`, 'm'),
      );
      zk.server.resume();
      await vi.waitFor(() => expect(refreshing).toBe(false), { timeout: 20_000 });
    } finally {
      await http.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a table that leaves the server leaves /metrics', () => {
  const pinot = useSeededCluster('tableseries');
  it('removes every series labelled with it, gauges and counters, and brings them back when it returns', async () => {
    const { seed } = pinot;
    const GONE = 'gone_REALTIME';
    const KEPT = 'kept_OFFLINE';
    const server = await seed.addInstance(A);
    await seed.addTable(GONE, { pauseless: true });
    await seed.addTable(KEPT);
    await seed.putSegment(GONE, s(1, 'gone'), { downloadUrl: '' });
    await seed.setCurrentState(A, server, GONE, { [s(1, 'gone')]: 'ERROR' });
    await seed.setCurrentState(A, server, KEPT, { kept_0: 'ONLINE' });
    await seed.setExternalView(GONE, { [s(1, 'gone')]: { [A]: 'ERROR' } });
    const session = await connectSession();
    const hosted = new HostedSegments({ session, cluster: seed.cluster, instance: A });
    const metrics = createMetrics({ defaultMetrics: false });
    // As serve wires it (src/agent/sidecar.ts), and as the reconciler counts an upload result.
    hosted.on('tableSettings', (table) => metrics.knownTable(table));
    const collector = new CommitStateCollector({
      hosted,
      session,
      metrics,
      cluster: seed.cluster,
      instance: A,
      logger: silentLogger,
    });
    const seriesOf = async (table: string) => {
      const text = await metrics.registry.metrics();
      return [
        ...new Set(
          text
            .split('\n')
            .filter((l) => l.includes(`table="${table}"`))
            .map((l) => l.slice(0, l.indexOf('{'))),
        ),
      ].sort();
    };
    const perTable = [
      'pinot_sidecar_committing_segments_stuck',
      'pinot_sidecar_deep_store_orphans_total',
      'pinot_sidecar_deep_store_uploads_total',
      'pinot_sidecar_pauseless_consumption_enabled',
      'pinot_sidecar_pauseless_segments_in_error',
      'pinot_sidecar_pauseless_segments_in_unrecoverable_error',
      'pinot_sidecar_segments',
      'pinot_sidecar_segments_in_error',
      'pinot_sidecar_segments_missing_deep_store',
    ];
    try {
      await hosted.start();
      metrics.uploads.labels(GONE, 'error').inc();
      await collector.refresh();
      expect(await seriesOf(GONE)).toEqual(perTable);
      expect(await seriesOf(KEPT)).toEqual(perTable);

      await seed.removeCurrentState(A, server, GONE);
      await vi.waitFor(() => expect(hosted.tables()).toEqual([KEPT]));
      await collector.refresh();
      expect(await seriesOf(GONE)).toEqual([]);
      expect(await seriesOf(KEPT)).toEqual(perTable);

      await seed.setCurrentState(A, server, GONE, { [s(1, 'gone')]: 'ONLINE' });
      await vi.waitFor(() => expect(hosted.tableSettings(GONE)).toMatchObject({ pauselessEnabled: true }));
      await collector.refresh();
      expect(await seriesOf(GONE)).toEqual(perTable);
      // The counter starts again from 0 (a reset to Prometheus), not from its old value.
      expect(
        await metricValue(metrics, 'pinot_sidecar_deep_store_uploads_total', { table: GONE, result: 'error' }),
      ).toBe(0);
    } finally {
      hosted.stop();
      await session.close();
    }
  });
});
