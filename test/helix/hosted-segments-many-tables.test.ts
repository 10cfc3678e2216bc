import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { HostedSegments } from '../../src/helix/hosted-segments.js';
import { ZkSession } from '../../src/helix/zk-session.js';
import { nextEvent } from '../helpers/events.js';
import { connectSession, type PinotClusterSeeder, useSeededCluster } from '../helpers/pinot-cluster.js';
import { useOwnZooKeeper } from '../helpers/zookeeper-server.js';

/**
 * A server hosting many tables (issue 10 item 9): ZooKeeper reads follow what changes. A table added
 * or removed costs a re-list and that table's reads, not a re-read of every table; after the watches
 * are gone (session renewal) or point at another folder (server restart) every table is read once.
 */
const SERVER = 'Server_many_8098';
const RT = 'events_REALTIME';
const rtSeg = (n: number) => `events__0__${n}__20240101T0000Z`;
const ADDED = 'added_OFFLINE';
const table = (i: number) => `t${String(i).padStart(4, '0')}_OFFLINE`;

/** `count` OFFLINE tables with one segment each, and a REALTIME table with three, on `session`. */
async function seedTables(seed: PinotClusterSeeder, session: string, count: number): Promise<string[]> {
  const tables = Array.from({ length: count }, (_, i) => table(i));
  for (let i = 0; i < tables.length; i += 50) {
    await Promise.all(
      tables.slice(i, i + 50).map(async (t) => {
        await seed.addTable(t);
        await seed.setCurrentState(SERVER, session, t, { [`${t}_0`]: 'ONLINE' });
      }),
    );
  }
  await seed.addTable(RT);
  for (const n of [1, 2, 3]) await seed.putSegment(RT, rtSeg(n), { downloadUrl: '' });
  await seed.setCurrentState(SERVER, session, RT, { [rtSeg(1)]: 'ONLINE', [rtSeg(2)]: 'ONLINE', [rtSeg(3)]: 'ONLINE' });
  return [...tables, RT];
}

/** getData requests by path from now on (the session's own counters only count by operation). */
function readsByPath(zk: ZkSession): { reads: Map<string, number>; stop: () => void } {
  const reads = new Map<string, number>();
  const getData = zk.getData.bind(zk);
  zk.getData = (path, watcher) => {
    reads.set(path, (reads.get(path) ?? 0) + 1);
    return getData(path, watcher);
  };
  return { reads, stop: () => void (zk.getData = getData) };
}

/** Every hosted node read exactly once: each table's current state and config, each realtime segment's metadata. */
function expectEachReadOnce(
  reads: Map<string, number>,
  seed: PinotClusterSeeder,
  session: string,
  tables: string[],
  options: { configs: boolean; metadata: boolean },
): void {
  const expected = new Map<string, number>();
  for (const t of tables) {
    expected.set(seed.paths.currentState(SERVER, session, t), 1);
    if (options.configs) expected.set(seed.paths.tableConfig(t), 1);
  }
  if (options.metadata) for (const n of [1, 2, 3]) expected.set(seed.paths.segmentMetadata(RT, rtSeg(n)), 1);
  const hostedReads = new Map(
    [...reads].filter(([path]) => !path.includes('/LIVEINSTANCES/') && !path.includes('/CONFIGS/CLUSTER/')),
  );
  expect(Object.fromEntries(hostedReads)).toEqual(Object.fromEntries(expected));
}

describe('HostedSegments with 500 tables (shared ZooKeeper)', () => {
  const pinot = useSeededCluster('many');
  let zk: ZkSession;
  let tracker: HostedSegments;
  let serverSession: string;
  let tables: string[];

  beforeAll(async () => {
    serverSession = await pinot.seed.addInstance(SERVER);
    tables = await seedTables(pinot.seed, serverSession, 500);
  }, 120_000);
  beforeEach(async () => {
    zk = await connectSession();
    tracker = new HostedSegments({ session: zk, cluster: pinot.cluster, instance: SERVER });
    await tracker.start();
    expect(tracker.tables()).toHaveLength(tables.length);
  });
  afterEach(async () => {
    tracker.stop();
    await zk.close();
    await pinot.seed.removeCurrentState(SERVER, serverSession, ADDED);
  });

  it('a table added costs the re-list and that table: 3 reads, not one per table', async () => {
    const { seed } = pinot;
    const added = ADDED;
    await seed.addTable(added);
    const before = zk.totalRequests();
    await seed.setCurrentState(SERVER, serverSession, added, { added_0: 'ONLINE' });
    await vi.waitFor(() => expect(tracker.tableSettings(added)).toMatchObject({ tableType: 'OFFLINE' }));
    await tracker.waitSynced();
    // getChildren of the folder, the new current state, the new table's config.
    expect(zk.totalRequests() - before).toBe(3);
    expect(tracker.tables()).toHaveLength(tables.length + 1);

    // A table removed: the re-list (and at most one read that finds its node gone); it is forgotten.
    const removedBefore = zk.totalRequests();
    await seed.removeCurrentState(SERVER, serverSession, added);
    await vi.waitFor(() => expect(tracker.tables()).not.toContain(added));
    await tracker.waitSynced();
    expect(zk.totalRequests() - removedBefore).toBeLessThanOrEqual(2);
    expect(tracker.tableSettings(added)).toBeUndefined();

    // Added again: read again (its old watch went with its node).
    const againBefore = zk.totalRequests();
    await seed.setCurrentState(SERVER, serverSession, added, { added_1: 'ONLINE' });
    await vi.waitFor(() => expect([...tracker.segments(added).keys()]).toEqual(['added_1']));
    await tracker.waitSynced();
    expect(zk.totalRequests() - againBefore).toBe(3);
  });

  it('a change to one existing table costs one read (its own data watch)', async () => {
    const { seed } = pinot;
    const before = zk.totalRequests();
    await seed.setCurrentState(SERVER, serverSession, table(7), { [`${table(7)}_0`]: 'ERROR' });
    await vi.waitFor(() => expect(tracker.get(table(7), `${table(7)}_0`)?.state).toBe('ERROR'));
    await tracker.waitSynced();
    expect(zk.totalRequests() - before).toBe(1);
    await seed.setCurrentState(SERVER, serverSession, table(7), { [`${table(7)}_0`]: 'ONLINE' });
    await vi.waitFor(() => expect(tracker.get(table(7), `${table(7)}_0`)?.state).toBe('ONLINE'));
  });

  it('a server restart (new Helix session) reads each table of the new folder once, then only what changes', async () => {
    const { seed } = pinot;
    const fresh = `${serverSession}f`;
    // The restarted server has written its current states; then it registers its new session.
    for (let i = 0; i < tables.length; i += 50) {
      await Promise.all(
        tables
          .slice(i, i + 50)
          .map((t) =>
            seed.setCurrentState(
              SERVER,
              fresh,
              t,
              Object.fromEntries([...tracker.segments(t)].map(([s, e]) => [s, e.state])),
            ),
          ),
      );
    }
    const counter = readsByPath(zk);
    try {
      await seed.setLive(SERVER, fresh);
      await vi.waitFor(() => expect(tracker.serverSessionId).toBe(fresh));
      await tracker.waitSynced();
      expect(tracker.tables()).toHaveLength(tables.length);
      // Configs and metadata keep their watches (same ZooKeeper session): only current states are read.
      expectEachReadOnce(counter.reads, seed, fresh, tables, { configs: false, metadata: false });
      // The new folder's watches are armed: a change and a new table are seen.
      counter.reads.clear();
      await seed.setCurrentState(SERVER, fresh, table(3), { [`${table(3)}_0`]: 'OFFLINE' });
      await vi.waitFor(() => expect(tracker.get(table(3), `${table(3)}_0`)?.state).toBe('OFFLINE'));
      await tracker.waitSynced();
      expect([...counter.reads]).toEqual([[seed.paths.currentState(SERVER, fresh, table(3)), 1]]);
      await seed.addTable(ADDED);
      const before = zk.totalRequests();
      await seed.setCurrentState(SERVER, fresh, ADDED, { added_0: 'ONLINE' });
      await vi.waitFor(() => expect(tracker.tableSettings(ADDED)).toMatchObject({ tableType: 'OFFLINE' }));
      await tracker.waitSynced();
      expect(zk.totalRequests() - before).toBe(3);
    } finally {
      counter.stop();
      await seed.removeCurrentState(SERVER, fresh, ADDED);
      await seed.setLive(SERVER, serverSession);
      await vi.waitFor(() => expect(tracker.serverSessionId).toBe(serverSession));
    }
  });
});

describe('HostedSegments with many tables across a session renewal (own ZooKeeper)', () => {
  const zooKeeper = useOwnZooKeeper();
  const pinot = useSeededCluster('manyexp', { scope: 'each', zooKeeper, session: { sessionTimeoutMs: 60_000 } });

  it('reads everything once after the renewal, then each change costs only itself', async () => {
    const { server } = zooKeeper;
    const { seed } = pinot;
    const serverSession = await seed.addInstance(SERVER);
    const tables = await seedTables(seed, serverSession, 100);
    const zk = new ZkSession({
      connectString: server.connectString,
      sessionTimeoutMs: 1_500,
      reconnectMinMs: 200,
      reconnectMaxMs: 200,
    });
    await zk.waitConnected();
    const tracker = new HostedSegments({ session: zk, cluster: seed.cluster, instance: SERVER });
    await tracker.start();
    const counter = readsByPath(zk);
    try {
      const expired = nextEvent(zk, 'expired');
      await server.pause();
      await expired;
      const renewed = nextEvent(zk, 'renewed');
      server.resume();
      await renewed;
      await vi.waitFor(
        () => expect(counter.reads.get(seed.paths.currentState(SERVER, serverSession, table(99)))).toBe(1),
        { timeout: 15_000 },
      );
      await tracker.waitSynced();
      expect(tracker.tables()).toHaveLength(tables.length);
      expectEachReadOnce(counter.reads, seed, serverSession, tables, { configs: true, metadata: true });

      // Every watch is armed again: an existing table's change costs one read, a new table three.
      const before = zk.totalRequests();
      await seed.setCurrentState(SERVER, serverSession, table(5), { [`${table(5)}_0`]: 'ERROR' });
      await vi.waitFor(() => expect(tracker.get(table(5), `${table(5)}_0`)?.state).toBe('ERROR'));
      await tracker.waitSynced();
      expect(zk.totalRequests() - before).toBe(1);
      await seed.addTable('late_OFFLINE');
      const beforeAdd = zk.totalRequests();
      await seed.setCurrentState(SERVER, serverSession, 'late_OFFLINE', { late_0: 'ONLINE' });
      await vi.waitFor(() => expect(tracker.tableSettings('late_OFFLINE')).toMatchObject({ tableType: 'OFFLINE' }));
      await tracker.waitSynced();
      expect(zk.totalRequests() - beforeAdd).toBe(3);
      // And a realtime segment's metadata watch too.
      await seed.putSegment(RT, rtSeg(2), { downloadUrl: 's3://b/after-renewal' });
      await vi.waitFor(() =>
        expect(tracker.get(RT, rtSeg(2))?.zk?.metadata.downloadUrl).toEqual({
          kind: 'uri',
          uri: 's3://b/after-renewal',
        }),
      );
    } finally {
      counter.stop();
      server.resume();
      tracker.stop();
      await zk.close();
    }
  }, 60_000);
});
