import zookeeper from 'node-zookeeper-client';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { HostedSegments, type ServerLiveness } from '../../src/helix/hosted-segments.js';
import { namePreview } from '../../src/helix/paths.js';
import { newZNRecord, serializeZNRecord } from '../../src/helix/znrecord.js';
import type { ZkSession } from '../../src/helix/zk-session.js';
import { hostedStates } from '../helpers/hosted-view.js';
import { captureLogs, type CapturedLogs } from '../helpers/log-capture.js';
import { connectSession, type PinotClusterSeeder, segmentRecord, useSeededCluster } from '../helpers/pinot-cluster.js';

/**
 * One bad node or entry must not wedge the tracker's sync (issue 10 item 7): whatever the tracker
 * reads that is unusable is skipped with one log line, the first sync completes, and the rest is
 * there.
 */
const RT = 'events_REALTIME';
const OFF = 'events_OFFLINE';
const SERVER = 'Server_pinot-server-0.pinot_8098';
const seg = (n: number) => `events__0__${n}__20240101T0000Z`;
const CORRUPT_GZIP = Buffer.from([0x1f, 0x8b, 1, 2, 3]);
const BAD_JSON = Buffer.from('{"id": "broken",');
const INTERRUPTED = 'hosted-segment sync interrupted; retrying';

describe('HostedSegments skips what it cannot use, and completes its first sync', () => {
  let zk: ZkSession;
  let logs: CapturedLogs;
  let tracker: HostedSegments | undefined;
  let serverSession: string;
  const pinot = useSeededCluster('badrec', {
    scope: 'each',
    clusterConfig: { 'max.segment.completion.time.millis': '120000' },
    setup: async (seed) => {
      serverSession = await seed.addInstance(SERVER);
      await seed.addTable(RT, { pauseless: true });
      await seed.addTable(OFF);
      await seed.putSegment(RT, seg(1), { downloadUrl: '' });
      await seed.putSegment(RT, seg(2), { downloadUrl: 's3://bucket/events/2' });
      await seed.setCurrentState(SERVER, serverSession, RT, { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE' });
      await seed.setCurrentState(SERVER, serverSession, OFF, { events_0: 'ONLINE' });
    },
  });

  beforeEach(async () => {
    zk = await connectSession();
    logs = captureLogs();
    tracker = undefined;
  });
  afterEach(async () => {
    tracker?.stop();
    await zk.close();
  });

  /** Start a tracker on the (damaged) cluster; resolves when its first sync is done. */
  async function startTracker(): Promise<HostedSegments> {
    tracker = new HostedSegments({
      session: zk,
      cluster: pinot.cluster,
      instance: SERVER,
      logger: logs.logger,
      retryDelayMs: 20,
    });
    await tracker.start();
    return tracker;
  }

  it('a current state holding segment names ZooKeeper refuses: valid entries sync, each bad one is logged once', async () => {
    const { seed } = pinot;
    const bad = ['..', 'x/../y', 'a\u0000b', '', '.', 'a/b', 'seg\u0001', 's\u{1F600}', 'x'.repeat(2_000)];
    // "a/b" joined into a path names another znode, which can exist: it must not be read as a segment.
    await seed.putSegment(RT, 'a', {});
    await seed.put(`${seed.paths.segmentMetadata(RT, 'a')}/b`, segmentRecord('a/b', { downloadUrl: '' }));
    const states: Record<string, string> = { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE' };
    for (const name of bad) states[name] = 'ONLINE';
    await seed.setCurrentState(SERVER, serverSession, RT, states);
    await seed.setCurrentState(SERVER, serverSession, OFF, { events_0: 'ONLINE', '..': 'ONLINE' });

    const t = await startTracker();
    expect(hostedStates(t)).toEqual({
      [OFF]: { events_0: 'ONLINE' },
      [RT]: { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE' },
    });
    expect(t.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'empty' });
    expect(t.get(RT, seg(2))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri: 's3://bucket/events/2' });
    const skipped = logs.matching('current state entry skipped');
    expect(skipped.map((l) => [l.table, l.segment]).sort()).toEqual(
      [...bad.map((name) => [RT, namePreview(name)]), [OFF, '".."']].sort(),
    );
    for (const line of skipped) expect(line.reason).toMatch(/^segment name is not a valid ZooKeeper path component: /);
    expect(logs.matching(INTERRUPTED)).toEqual([]);

    // Helix rewrites the record at every transition: the same bad entries are not logged again, a new one is.
    await seed.setCurrentState(SERVER, serverSession, RT, { ...states, [seg(2)]: 'OFFLINE', '../z': 'ONLINE' });
    await vi.waitFor(() => expect(t.get(RT, seg(2))?.state).toBe('OFFLINE'));
    await t.waitSynced();
    expect(logs.matching('current state entry skipped')).toHaveLength(bad.length + 2);
    expect(logs.matching('current state entry skipped', { segment: '"../z"' })).toHaveLength(1);
    expect(hostedStates(t)[RT]).toEqual({ [seg(1)]: 'ONLINE', [seg(2)]: 'OFFLINE' });
  });

  it.each([
    {
      label: '".."',
      id: '..',
      reason: /SESSION_ID "\.\." cannot name a CURRENTSTATES folder: relative path component/,
    },
    { label: '"a/b"', id: 'a/b', reason: /SESSION_ID "a\/b" cannot name a CURRENTSTATES folder: contains "\/"/ },
    { label: 'empty', id: '', reason: /live instance has no SESSION_ID/ },
    { label: 'with a NUL', id: 'a\u0000b', reason: /cannot name a CURRENTSTATES folder: contains a NUL character/ },
    { label: 'of 5,000 digits', id: '1'.repeat(5_000), reason: /cannot name a CURRENTSTATES folder: 5000 bytes long/ },
  ])(
    'a live instance with a SESSION_ID $label: synced with an empty view and the reason, picked up when fixed',
    async ({ id, reason }) => {
      const { seed } = pinot;
      await seed.put(seed.paths.liveInstance(SERVER), newZNRecord(SERVER, { simpleFields: { SESSION_ID: id } }));
      // "a/b" names a folder that can exist: what is in it is not this server's.
      await seed.put(
        `${seed.paths.root}/INSTANCES/${SERVER}/CURRENTSTATES/a/b/${OFF}`,
        newZNRecord(OFF, { mapFields: { events_9: { CURRENT_STATE: 'ONLINE' } } }),
      );
      const events: ServerLiveness[] = [];
      tracker = new HostedSegments({
        session: zk,
        cluster: seed.cluster,
        instance: SERVER,
        logger: logs.logger,
        retryDelayMs: 20,
      });
      tracker.on('server', (e) => events.push(e));
      await tracker.start();
      expect(tracker.tables()).toEqual([]);
      expect(tracker.serverSessionId).toBeNull();
      expect(tracker.server).toEqual({ state: 'unknown', reason: expect.stringMatching(reason) });
      expect(tracker.server.state !== 'live' && tracker.server.reason).toMatch(
        /^cannot locate the server's current states: /,
      );
      expect(logs.matching('live instance record unusable: treating the server as hosting nothing')).toHaveLength(1);
      expect(logs.matching(INTERRUPTED)).toEqual([]);

      // The server registers again with a usable session: everything follows.
      await seed.setLive(SERVER, serverSession);
      await vi.waitFor(() =>
        expect(hostedStates(tracker!)).toEqual({
          [OFF]: { events_0: 'ONLINE' },
          [RT]: { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE' },
        }),
      );
      expect(tracker.server).toEqual({ state: 'live', sessionId: serverSession });
      expect(events.map((e) => e.state)).toEqual(['unknown', 'live']);
    },
  );

  it.each([
    {
      node: 'live instance',
      damage: (s: PinotClusterSeeder) => s.put(s.paths.liveInstance(SERVER), CORRUPT_GZIP),
      log: 'live instance record unusable: treating the server as hosting nothing',
      check: (t: HostedSegments) => {
        expect(t.tables()).toEqual([]);
        expect(t.server).toEqual({ state: 'unknown', reason: expect.stringContaining('corrupt gzip') });
      },
      repair: (s: PinotClusterSeeder, session: string) => s.setLive(SERVER, session),
      repaired: (t: HostedSegments) => expect(t.tables().sort()).toEqual([OFF, RT]),
    },
    {
      node: 'current state',
      damage: (s: PinotClusterSeeder, session: string) => s.put(s.paths.currentState(SERVER, session, RT), BAD_JSON),
      log: 'unreadable current state record: skipped',
      check: (t: HostedSegments) => expect(hostedStates(t)).toEqual({ [OFF]: { events_0: 'ONLINE' } }),
      repair: (s: PinotClusterSeeder, session: string) =>
        s.setCurrentState(SERVER, session, RT, { [seg(1)]: 'ONLINE' }),
      repaired: (t: HostedSegments) => expect(t.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'empty' }),
    },
    {
      node: 'table config',
      damage: (s: PinotClusterSeeder) => s.put(s.paths.tableConfig(RT), CORRUPT_GZIP),
      log: 'unreadable table config: skipped',
      check: (t: HostedSegments) => {
        expect(t.tableSettings(RT)).toBeNull();
        expect(t.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'empty' });
      },
      repair: (s: PinotClusterSeeder) => s.addTable(RT, { pauseless: true }),
      repaired: (t: HostedSegments) => expect(t.tableSettings(RT)?.pauselessEnabled).toBe(true),
    },
    {
      node: 'cluster config',
      damage: (s: PinotClusterSeeder) => s.put(s.paths.clusterConfig(), BAD_JSON),
      log: 'unreadable cluster config: keeping the settings in use (defaults when none were read)',
      check: (t: HostedSegments) => {
        expect(t.clusterSettings.maxSegmentCompletionTimeMs).toBe(300_000);
        expect(t.tables().sort()).toEqual([OFF, RT]);
      },
      repair: (s: PinotClusterSeeder) =>
        s.put(
          s.paths.clusterConfig(),
          newZNRecord(s.cluster, { simpleFields: { 'max.segment.completion.time.millis': '120000' } }),
        ),
      repaired: (t: HostedSegments) => expect(t.clusterSettings.maxSegmentCompletionTimeMs).toBe(120_000),
    },
    {
      node: 'segment metadata',
      damage: (s: PinotClusterSeeder) => s.put(s.paths.segmentMetadata(RT, seg(1)), CORRUPT_GZIP),
      log: 'unreadable segment metadata: skipped',
      check: (t: HostedSegments) => {
        expect(t.get(RT, seg(1))).toMatchObject({ zk: null, metadataError: expect.stringContaining('corrupt gzip') });
        expect(t.get(RT, seg(2))?.zk?.metadata.downloadUrl.kind).toBe('uri');
      },
      repair: (s: PinotClusterSeeder) => s.putSegment(RT, seg(1), { downloadUrl: '' }),
      repaired: (t: HostedSegments) => expect(t.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'empty' }),
    },
  ])(
    'a $node record that does not parse: skipped with one log line, watched, picked up when rewritten',
    async ({ damage, log, check, repair, repaired }) => {
      const { seed } = pinot;
      await damage(seed, serverSession);
      const t = await startTracker();
      check(t);
      expect(logs.matching(log)).toHaveLength(1);
      expect(logs.matching(INTERRUPTED)).toEqual([]);
      await repair(seed, serverSession);
      await vi.waitFor(() => repaired(t));
      expect(logs.matching(log)).toHaveLength(1);
    },
  );

  it('a node ZooKeeper refuses to read (no READ permission): skipped with one log line, the rest syncs', async () => {
    const { seed } = pinot;
    await seed.remove(seed.paths.tableConfig(OFF));
    await createUnreadable(seed.paths.tableConfig(OFF), serializeZNRecord(newZNRecord(OFF)));
    await seed.remove(seed.paths.segmentMetadata(RT, seg(2)));
    await createUnreadable(seed.paths.segmentMetadata(RT, seg(2)), serializeZNRecord(segmentRecord(seg(2))));
    const t = await startTracker();
    expect(hostedStates(t)).toEqual({
      [OFF]: { events_0: 'ONLINE' },
      [RT]: { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE' },
    });
    expect(t.tableSettings(OFF)).toBeNull();
    expect(t.tableSettings(RT)?.pauselessEnabled).toBe(true);
    expect(t.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'empty' });
    expect(t.get(RT, seg(2))).toMatchObject({ zk: null, metadataError: expect.stringContaining('NO_AUTH') });
    expect(logs.matching('unreadable table config: skipped')).toHaveLength(1);
    expect(logs.matching('unreadable segment metadata: skipped')).toHaveLength(1);
    expect(logs.matching(INTERRUPTED)).toEqual([]);
  });
});

/** A znode anyone may write or delete but nobody may read (world:anyone without READ). */
async function createUnreadable(path: string, data: Buffer): Promise<void> {
  const client = zookeeper.createClient(inject('zkConnectString'));
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  try {
    const acl = [
      new zookeeper.ACL(
        zookeeper.Permission.WRITE | zookeeper.Permission.DELETE | zookeeper.Permission.ADMIN,
        new zookeeper.Id('world', 'anyone'),
      ),
    ];
    await new Promise<void>((resolve, reject) =>
      client.create(path, data, acl, zookeeper.CreateMode.PERSISTENT, (err) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(),
      ),
    );
  } finally {
    client.close();
  }
}
