import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostedSegments } from '../../src/helix/hosted-segments.js';
import { compareAndSetSimpleField, readRecord } from '../../src/helix/znode-io.js';
import type { ZkSession } from '../../src/helix/zk-session.js';
import { nextEvent } from '../helpers/events.js';
import { connectSession, PinotClusterSeeder, uniqueClusterName } from '../helpers/pinot-cluster.js';

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
