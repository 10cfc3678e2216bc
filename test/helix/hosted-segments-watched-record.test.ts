import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HostedSegments } from '../../src/helix/hosted-segments.js';
import { compareAndSetSimpleField, readRecord } from '../../src/helix/znode-io.js';
import type { ZkSession } from '../../src/helix/zk-session.js';
import { nextEvent } from '../helpers/events.js';
import { connectSession, PinotClusterSeeder, uniqueClusterName } from '../helpers/pinot-cluster.js';
import { ZK_OP, ZkProxy } from '../helpers/zk-proxy.js';

/**
 * HostedSegments.watchedRecord (issue 15): the repair writes on the tracker's copy of a candidate's record instead
 * of reading it again, so that copy must be exactly the znode as last read, and only while its watch stands.
 */
const RT = 'events_REALTIME';
const SERVER = 'Server_watched_8098';
const seg = (n: number) => `events__0__${n}__20240101T0000Z`;

describe('HostedSegments.watchedRecord', () => {
  let seedSession: ZkSession;
  let zk: ZkSession;
  let seed: PinotClusterSeeder;
  let tracker: HostedSegments;

  beforeAll(async () => {
    seedSession = await connectSession();
    seed = new PinotClusterSeeder(seedSession, uniqueClusterName('watched'));
    await seed.createCluster();
    const serverSession = await seed.addInstance(SERVER);
    await seed.addTable(RT);
    await seed.putSegment(RT, seg(1), { downloadUrl: '' });
    await seed.putSegment(RT, seg(2), { downloadUrl: 's3://bucket/events/2' });
    await seed.setCurrentState(SERVER, serverSession, RT, { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE' });
    zk = await connectSession();
    tracker = new HostedSegments({ session: zk, cluster: seed.cluster, instance: SERVER });
    await tracker.start();
  });
  afterAll(async () => {
    tracker?.stop();
    await zk?.close();
    await seedSession?.close();
  });

  it('is the record as read (bytes and version) for a segment whose URL is empty, null for one with a URL', async () => {
    const path = seed.paths.segmentMetadata(RT, seg(1));
    const watched = tracker.watchedRecord(RT, seg(1));
    const read = (await readRecord(seedSession, path))!;
    expect(watched?.stat.version).toBe(read.stat.version);
    expect(watched?.doc.source.json).toEqual(read.doc.source.json);
    expect(tracker.watchedRecord(RT, seg(2))).toBeNull();
    expect(tracker.watchedRecord(RT, 'not_hosted')).toBeNull();
  });

  it('is null once a change is notified, and the new record once it is read; null once the URL is set', async () => {
    const path = seed.paths.segmentMetadata(RT, seg(1));
    const read = (await readRecord(seedSession, path))!;
    const synced = nextEvent(tracker, 'synced');
    expect(
      (await compareAndSetSimpleField(seedSession, read, 'segment.download.url', 's3://bucket/events/1')).outcome,
    ).toBe('written');
    await synced;
    expect(tracker.get(RT, seg(1))?.zk?.version).toBe(read.stat.version + 1);
    expect(tracker.watchedRecord(RT, seg(1))).toBeNull();
  });
});

describe('HostedSegments.watchedRecord while a re-read is in flight', () => {
  it('is null from the moment the re-read is sent until its answer: the kept copy is older than ZooKeeper then', async () => {
    const seedSession = await connectSession();
    const seed = new PinotClusterSeeder(seedSession, uniqueClusterName('watched-inflight'));
    const proxy = await ZkProxy.start(seedSession.connectString);
    let zk: ZkSession | undefined;
    let tracker: HostedSegments | undefined;
    try {
      await seed.createCluster();
      const serverSession = await seed.addInstance(SERVER);
      await seed.addTable(RT);
      await seed.putSegment(RT, seg(1), { downloadUrl: '' });
      await seed.setCurrentState(SERVER, serverSession, RT, { [seg(1)]: 'ONLINE' });
      zk = await connectSession({ connectString: proxy.connectString });
      tracker = new HostedSegments({ session: zk, cluster: seed.cluster, instance: SERVER });
      await tracker.start();
      const path = seed.paths.segmentMetadata(RT, seg(1));
      const before = tracker.watchedRecord(RT, seg(1));
      expect(before).not.toBeNull();

      // The tracker's re-read reaches ZooKeeper; its answer is held back with the connection, which is then cut.
      const sent = proxy.loseReplyTo((r) => r.type === ZK_OP.getData && r.path === path);
      const { data, stat } = await seedSession.getData(path);
      await seedSession.setData(path, data!, stat.version); // a change the watch reports (same bytes, new version)
      await sent;
      // The key has left the dirty set with the read taken from it, and no answer has come: no copy to write on.
      expect(tracker.watchedRecord(RT, seg(1))).toBeNull();
      await vi.waitFor(() => expect(tracker!.watchedRecord(RT, seg(1))?.stat.version).toBe(before!.stat.version + 1), {
        timeout: 30_000,
        interval: 50,
      });
    } finally {
      tracker?.stop();
      await zk?.close();
      await proxy.close();
      await seedSession.close();
    }
  });
});
