import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClusterNotFoundError } from '../../src/helix/errors.js';
import { HostedSegments, type HostedSegmentChange } from '../../src/helix/hosted-segments.js';
import { ZkSession } from '../../src/helix/zk-session.js';
import { nextEvent } from '../helpers/events.js';
import { hostedStates } from '../helpers/hosted-view.js';
import { connectSession, type PinotClusterSeeder, useSeededCluster } from '../helpers/pinot-cluster.js';
import { useOwnZooKeeper } from '../helpers/zookeeper-server.js';

const RT = 'events_REALTIME';
const OFF = 'events_OFFLINE';
const SERVER = 'Server_pinot-server-0.pinot_8098';
const seg = (n: number) => `events__0__${n}__20240101T0000Z`;

const CLUSTER_CONFIG = { 'max.segment.completion.time.millis': '120000' };

/** Seed a server hosting a realtime and an offline table (on a cluster created with CLUSTER_CONFIG). */
async function seedServer(seed: PinotClusterSeeder): Promise<string> {
  const session = await seed.addInstance(SERVER, { host: 'pinot-server-0.pinot', adminPort: 8097 });
  await seed.addTable(RT, { pauseless: true });
  await seed.addTable(OFF);
  await seed.putSegment(RT, seg(1), { downloadUrl: '' });
  await seed.putSegment(RT, seg(2), { downloadUrl: 's3://bucket/events/x' });
  await seed.putSegment(RT, seg(3), { status: 'IN_PROGRESS' });
  await seed.setCurrentState(SERVER, session, RT, { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE', [seg(3)]: 'CONSUMING' });
  await seed.setCurrentState(SERVER, session, OFF, { events_0: 'ONLINE' });
  return session;
}

describe('HostedSegments against the shared ZooKeeper', () => {
  const pinot = useSeededCluster('hosted', { scope: 'each', clusterConfig: CLUSTER_CONFIG });
  let zk: ZkSession;
  let tracker: HostedSegments;
  let serverSession: string;
  const changes: HostedSegmentChange[] = [];

  beforeEach(async () => {
    serverSession = await seedServer(pinot.seed);
    zk = await connectSession();
    tracker = new HostedSegments({ session: zk, cluster: pinot.cluster, instance: SERVER });
    changes.length = 0;
    tracker.on('change', (c) => changes.push(c));
    await tracker.start();
  });
  afterEach(async () => {
    tracker.stop();
    await zk.close();
  });

  it('an instance id that is not registered is said so, naming the registered servers; joining later is noticed', async () => {
    const { seed } = pinot;
    const typo = 'Server_pinot-server-0.pinot_8099';
    const other = new HostedSegments({ session: zk, cluster: seed.cluster, instance: typo });
    const states: string[] = [];
    other.on('server', (s) => states.push(s.state));
    try {
      await other.start();
      expect(other.server).toMatchObject({ state: 'not_registered' });
      const reason = (other.server as { reason: string }).reason;
      expect(reason).toContain(`instance ${typo} is not registered in cluster ${seed.cluster}`);
      expect(reason).toContain(`registered servers: ${SERVER}`);
      expect(other.count()).toBe(0);

      // The server joins (instance config), then comes up (live instance): both are seen through watches.
      await seed.addInstance(typo, { live: false });
      await vi.waitFor(() => expect(other.server.state).toBe('not_live'));
      await seed.setLive(typo);
      await vi.waitFor(() => expect(other.server.state).toBe('live'));
      expect(states).toEqual(['not_registered', 'not_live', 'live']);
    } finally {
      other.stop();
    }
  });

  it('first sync reads the live session, current states, realtime metadata and settings', () => {
    expect(tracker.serverSessionId).toBe(serverSession);
    expect(hostedStates(tracker)).toEqual({
      [OFF]: { events_0: 'ONLINE' },
      [RT]: { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE', [seg(3)]: 'CONSUMING' },
    });
    expect(tracker.get(RT, seg(1))?.zk?.metadata).toMatchObject({
      status: 'DONE',
      downloadUrl: { kind: 'empty' },
      crc: '12345',
    });
    expect(tracker.get(RT, seg(2))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri: 's3://bucket/events/x' });
    expect(tracker.get(RT, seg(3))?.zk?.metadata.status).toBe('IN_PROGRESS');
    expect(tracker.get(RT, seg(1))?.zk?.mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    // OFFLINE segments are not repaired: no metadata read for them.
    expect(tracker.get(OFF, 'events_0')?.zk).toBeUndefined();
    expect(tracker.tableSettings(RT)).toMatchObject({ pauselessEnabled: true, tableType: 'REALTIME' });
    expect(tracker.tableSettings(OFF)).toMatchObject({ tableType: 'OFFLINE' });
    expect(tracker.clusterSettings.maxSegmentCompletionTimeMs).toBe(120_000);
  });

  it('costs about one read per hosted segment plus a few per table', () => {
    // live + list + cluster config + 2 x (current state + table config) + 3 realtime metadata reads
    expect(zk.requests.getData + zk.requests.getChildren + zk.requests.exists).toBeLessThanOrEqual(
      1 + 1 + 1 + 4 + 3 + 1,
    );
  });

  it('follows current-state changes: added, state, removed', async () => {
    const { seed } = pinot;
    await seed.putSegment(RT, seg(4), { status: 'IN_PROGRESS' });
    await seed.setCurrentState(SERVER, serverSession, RT, {
      [seg(1)]: 'ONLINE',
      [seg(2)]: 'ERROR',
      [seg(4)]: 'CONSUMING',
    });
    await vi.waitFor(() => expect(tracker.get(RT, seg(4))?.zk?.metadata.status).toBe('IN_PROGRESS'));
    expect(hostedStates(tracker)[RT]).toEqual({ [seg(1)]: 'ONLINE', [seg(2)]: 'ERROR', [seg(4)]: 'CONSUMING' });
    expect(changes).toEqual(
      expect.arrayContaining([
        { kind: 'state', table: RT, segment: seg(2) },
        { kind: 'removed', table: RT, segment: seg(3) },
        { kind: 'added', table: RT, segment: seg(4) },
        { kind: 'metadata', table: RT, segment: seg(4) },
      ]),
    );
  });

  it('follows segment metadata changes and a table leaving the server', async () => {
    const { seed } = pinot;
    await seed.putSegment(RT, seg(1), { downloadUrl: 's3://bucket/events/fixed' });
    await vi.waitFor(() =>
      expect(tracker.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({
        kind: 'uri',
        uri: 's3://bucket/events/fixed',
      }),
    );
    await seed.removeCurrentState(SERVER, serverSession, OFF);
    await vi.waitFor(() => expect(tracker.tables()).toEqual([RT]));
    expect(changes).toContainEqual({ kind: 'removed', table: OFF, segment: 'events_0' });
  });

  it('makes zero reads while only things it does not host change', async () => {
    const { seed } = pinot;
    const before = zk.totalRequests();
    // Another server's state, the external view, another table's metadata: none of it is ours.
    const other = await seed.addInstance('Server_other_8098');
    await seed.setCurrentState('Server_other_8098', other, RT, { [seg(1)]: 'ONLINE' });
    await seed.setExternalView(RT, { [seg(1)]: { [SERVER]: 'ONLINE', Server_other_8098: 'ONLINE' } });
    await seed.addTable('other_REALTIME');
    await seed.putSegment('other_REALTIME', 'other__0__1__20240101T0000Z', { downloadUrl: '' });
    // Barrier: one change we do watch. When it is seen, any notification for the changes above
    // would have arrived before it (ZooKeeper delivers in order).
    await seed.putSegment(RT, seg(2), { downloadUrl: 's3://bucket/events/y' });
    await vi.waitFor(() =>
      expect(tracker.get(RT, seg(2))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri: 's3://bucket/events/y' }),
    );
    expect(zk.totalRequests() - before).toBe(1);
  });

  it('resyncs once when the server restarts with a new Helix session', async () => {
    const { seed } = pinot;
    const fresh = await seed.setLive(SERVER);
    await seed.setCurrentState(SERVER, fresh, RT, { [seg(1)]: 'ONLINE' });
    await vi.waitFor(() => expect(tracker.serverSessionId).toBe(fresh));
    await vi.waitFor(() => expect(hostedStates(tracker)).toEqual({ [RT]: { [seg(1)]: 'ONLINE' } }));
    // Writes under the old session's folder are ignored.
    await seed.setCurrentState(SERVER, serverSession, RT, { [seg(2)]: 'ONLINE' });
    await seed.putSegment(RT, seg(1), { downloadUrl: 's3://b/barrier' });
    await vi.waitFor(() => expect(tracker.get(RT, seg(1))?.zk?.metadata.downloadUrl.kind).toBe('uri'));
    expect(hostedStates(tracker)).toEqual({ [RT]: { [seg(1)]: 'ONLINE' } });
  });

  it('treats a server that is not live as hosting nothing, and picks it up when it comes back', async () => {
    const { seed } = pinot;
    await seed.setDead(SERVER);
    await vi.waitFor(() => expect(tracker.tables()).toEqual([]));
    expect(tracker.serverSessionId).toBeNull();
    expect(tracker.server).toEqual({
      state: 'not_live',
      reason: `no live instance znode ${seed.paths.liveInstance(SERVER)}: the server is not running or not connected to ZooKeeper`,
    });
    const back = await seed.setLive(SERVER);
    await seed.setCurrentState(SERVER, back, OFF, { events_1: 'ONLINE' });
    await vi.waitFor(() => expect(hostedStates(tracker)).toEqual({ [OFF]: { events_1: 'ONLINE' } }));
    expect(tracker.server).toEqual({ state: 'live', sessionId: back });
  });

  it('sees a server that comes up between its read and its watch (the exists() race)', async () => {
    const { seed } = pinot;
    await seed.setDead(SERVER);
    await vi.waitFor(() => expect(tracker.serverSessionId).toBeNull());
    // The next time the tracker arms its existence watch on the live-instance node, the server comes up
    // just before: exists() finds the node and arms a data watch only.
    const livePath = seed.paths.liveInstance(SERVER);
    const realExists = zk.exists.bind(zk);
    let back = '';
    zk.exists = async (path, watcher) => {
      if (path === livePath && back === '') {
        back = await seed.setLive(SERVER);
        await seed.setCurrentState(SERVER, back, OFF, { events_9: 'ONLINE' });
      }
      return realExists(path, watcher);
    };
    try {
      // Any change to the (missing) node's parent folder is irrelevant; trigger a re-read of the live node.
      await seed.setLive(SERVER).then((s) => seed.setDead(SERVER).then(() => s));
      await vi.waitFor(() => expect(back).not.toBe(''));
      await vi.waitFor(() => expect(tracker.serverSessionId).toBe(back));
      await vi.waitFor(() => expect(hostedStates(tracker)).toEqual({ [OFF]: { events_9: 'ONLINE' } }));
    } finally {
      zk.exists = realExists;
    }
  });

  it('logs and skips a corrupt record without stopping the rest', async () => {
    const { seed } = pinot;
    await seed.put(seed.paths.segmentMetadata(RT, seg(5)), Buffer.from('{"id": "broken",'));
    await seed.put(seed.paths.segmentMetadata(RT, seg(6)), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    await seed.putSegment(RT, seg(7), { downloadUrl: '' });
    await seed.setCurrentState(SERVER, serverSession, RT, {
      [seg(5)]: 'ONLINE',
      [seg(6)]: 'ONLINE',
      [seg(7)]: 'ONLINE',
      [seg(8)]: 'ONLINE',
    });
    await vi.waitFor(() => expect(tracker.get(RT, seg(7))?.zk?.metadata.downloadUrl.kind).toBe('empty'));
    await tracker.waitSynced();
    expect(tracker.get(RT, seg(5))).toMatchObject({
      zk: null,
      metadataError: expect.stringContaining('malformed JSON'),
    });
    expect(tracker.get(RT, seg(6))).toMatchObject({ zk: null, metadataError: expect.stringContaining('corrupt gzip') });
    // Missing znode (vanished between list and read): recorded, watched, and picked up when it appears.
    expect(tracker.get(RT, seg(8))).toMatchObject({ zk: null });
    expect(tracker.get(RT, seg(8))?.metadataError).toBeUndefined(); // missing is not unreadable
    await seed.putSegment(RT, seg(8), { downloadUrl: '' });
    await vi.waitFor(() => expect(tracker.get(RT, seg(8))?.zk?.metadata.downloadUrl.kind).toBe('empty'));
    // A corrupt current state for one table leaves the other tables alone.
    await seed.put(seed.paths.currentState(SERVER, serverSession, OFF), Buffer.from('not json'));
    await seed.putSegment(RT, seg(7), { downloadUrl: 's3://b/after' });
    await vi.waitFor(() => expect(tracker.get(RT, seg(7))?.zk?.metadata.downloadUrl.kind).toBe('uri'));
    expect(hostedStates(tracker)[OFF]).toEqual({ events_0: 'ONLINE' });
  });

  it('reads a gzipped current state', async () => {
    const { seed } = pinot;
    const states: Record<string, string> = {};
    for (let i = 0; i < 20; i++) states[`big_${i}`] = 'ONLINE';
    const { newZNRecord, serializeZNRecord } = await import('../../src/helix/znrecord.js');
    const mapFields = Object.fromEntries(Object.entries(states).map(([s, st]) => [s, { CURRENT_STATE: st }]));
    await seed.put(
      seed.paths.currentState(SERVER, serverSession, OFF),
      serializeZNRecord(newZNRecord(OFF, { mapFields }), { compress: true }),
    );
    await vi.waitFor(() => expect(Object.keys(hostedStates(tracker)[OFF] ?? {})).toHaveLength(20));
  });
});

describe('HostedSegments configuration errors', () => {
  it('fails clearly when the cluster does not exist', async () => {
    const zk = await connectSession();
    try {
      const tracker = new HostedSegments({ session: zk, cluster: 'NoSuchCluster', instance: SERVER });
      await expect(tracker.start()).rejects.toThrow(ClusterNotFoundError);
      await expect(tracker.start()).rejects.toThrow(/Pinot cluster "NoSuchCluster" does not exist/);
    } finally {
      await zk.close();
    }
  });
});

describe('HostedSegments across ZooKeeper failures (own ZooKeeper)', () => {
  const zooKeeper = useOwnZooKeeper();
  const pinot = useSeededCluster('failures', {
    scope: 'each',
    zooKeeper,
    clusterConfig: CLUSTER_CONFIG,
    session: { sessionTimeoutMs: 60_000 },
  });

  it('resyncs after a forced session expiry and sees changes made while it had no session', async () => {
    const { server } = zooKeeper;
    const { seed } = pinot;
    const serverSession = await seedServer(seed);
    // Long backoff before a new client: a window in which the tracker has no session at all.
    const zk = new ZkSession({
      connectString: server.connectString,
      sessionTimeoutMs: 1_500,
      reconnectMinMs: 4_000,
      reconnectMaxMs: 4_000,
    });
    await zk.waitConnected();
    const tracker = new HostedSegments({ session: zk, cluster: seed.cluster, instance: SERVER });
    await tracker.start();
    try {
      const expired = nextEvent(zk, 'expired');
      await server.pause();
      await expired;
      server.resume();
      const renewed = nextEvent(zk, 'renewed');
      // Changes while the tracker has no session: none of its watches can report them.
      await seed.putSegment(RT, seg(9), { downloadUrl: '' });
      await seed.setCurrentState(SERVER, serverSession, RT, { [seg(1)]: 'ERROR', [seg(9)]: 'ONLINE' });
      await seed.putSegment(RT, seg(1), { downloadUrl: 's3://b/during-outage' });
      expect(zk.state).not.toBe('connected');
      await renewed;
      const before = zk.totalRequests();
      await vi.waitFor(() => expect(tracker.get(RT, seg(9))?.zk?.metadata.downloadUrl.kind).toBe('empty'), {
        timeout: 15_000,
      });
      await tracker.waitSynced();
      expect(hostedStates(tracker)[RT]).toEqual({ [seg(1)]: 'ERROR', [seg(9)]: 'ONLINE' });
      expect(tracker.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri: 's3://b/during-outage' });
      // One resync: live + list + cluster + 2 tables x (state + config) + metadata of 2 (+ 1 for a removed one at
      // most).
      expect(zk.totalRequests() - before).toBeLessThanOrEqual(12);
      // Then back to watches.
      await seed.putSegment(RT, seg(9), { downloadUrl: 's3://b/after' });
      await vi.waitFor(() => expect(tracker.get(RT, seg(9))?.zk?.metadata.downloadUrl.kind).toBe('uri'));
    } finally {
      server.resume();
      tracker.stop();
      await zk.close();
    }
  });

  it('sees changes made around a ZooKeeper restart', async () => {
    const { server } = zooKeeper;
    const { seed, session: seedSession } = pinot;
    const serverSession = await seedServer(seed);
    const zk = new ZkSession({ connectString: server.connectString, sessionTimeoutMs: 20_000, reconnectMinMs: 50 });
    await zk.waitConnected();
    const tracker = new HostedSegments({ session: zk, cluster: seed.cluster, instance: SERVER });
    await tracker.start();
    try {
      const disconnected = nextEvent(zk, 'disconnected');
      await server.stop();
      await disconnected;
      await server.restart();
      await vi.waitFor(() => expect(seedSession.state).toBe('connected'), { timeout: 60_000 });
      await seed.setCurrentState(SERVER, serverSession, RT, { [seg(2)]: 'ONLINE' });
      await seed.putSegment(RT, seg(2), { downloadUrl: 's3://b/after-restart' });
      await vi.waitFor(
        () =>
          expect(tracker.get(RT, seg(2))?.zk?.metadata.downloadUrl).toEqual({
            kind: 'uri',
            uri: 's3://b/after-restart',
          }),
        { timeout: 20_000 },
      );
      expect(hostedStates(tracker)[RT]).toEqual({ [seg(2)]: 'ONLINE' });
    } finally {
      tracker.stop();
      await zk.close();
    }
  }, 120_000); // a ZooKeeper restart on a loaded 2-core machine has taken 30 s
});
