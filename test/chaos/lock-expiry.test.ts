import { beforeAll, describe, expect, it } from 'vitest';
import { S3DeepStore } from '../../src/deepstore/index.js';
import type { ZkSession } from '../../src/helix/zk-session.js';
import { entryOf, events, RepairWorld, seg, useTestBed, waitFor, type Sidecar } from '../agent/repair/harness.js';
import { nextEvent } from '../helpers/events.js';
import { faults } from '../helpers/fault-proxy.js';
import { FAKE_REGION } from '../helpers/s3-fake.js';
import { useOwnZooKeeper } from '../helpers/zookeeper-server.js';
import { concurrentUploads, uploadWindows, type UploadWindow } from './upload-windows.js';

/**
 * Found while building the chaos soak (README "Chaos soak", known issue): the upload lock does not outlive the
 * ZooKeeper session that took it, and an upload in flight does not stop when that session expires
 * (repair-attempt.ts lets it finish on purpose, so that the next attempt only has the ZooKeeper step left).
 * A replica's sidecar can then take the free lock, find no object yet, and upload the same key while the
 * first upload is still going: two uploaders for one segment, which the lock exists to prevent.
 *
 * The outcome stays correct (first test): the second sidecar's compare-and-set wins, the first one's write is
 * refused (SessionChangedError) and it records fixed_by_other. The second test states the invariant the soak
 * checks ("no segment uploaded twice concurrently") and is marked `it.fails` while the behaviour stands: it
 * starts failing, on purpose, the day an attempt stops its upload when its lock's session expires.
 *
 * The soak rarely lines this up by chance (its uploads take milliseconds); here the first upload is held at
 * the proxy, as a large segment's upload would last, while ZooKeeper is frozen past the sessions' timeout, and
 * released only once the second sidecar has repaired the segment: the order of events is fixed, not raced
 * against a clock, so both tests have one outcome on any machine. Real ZooKeeper (its own: it gets paused), S3
 * fake behind the fault proxy, two in-process sidecars.
 */
const bed = useTestBed();
const zk = useOwnZooKeeper();
let overlaps: Array<[UploadWindow, UploadWindow]> = [];
let scenario: { a: Sidecar; b: Sidecar; world: RepairWorld; url: string | undefined } | undefined;

const SHORT_SESSION = { sessionTimeoutMs: 1_500, reconnectMinMs: 100, reconnectMaxMs: 200 };

/** Freeze ZooKeeper until every session has expired, thaw it, and resolve once they are all renewed. */
async function loseSessions(sessions: ZkSession[]): Promise<void> {
  const expired = Promise.all(sessions.map((s) => nextEvent(s, 'expired')));
  await zk.server.pause();
  await expired;
  const renewed = Promise.all(sessions.map((s) => nextEvent(s, 'renewed')));
  zk.server.resume();
  await renewed;
}

beforeAll(async () => {
  const world = await RepairWorld.create({ connectString: zk.connectString, s3: { fake: bed.fake, proxy: bed.proxy } });
  // Each sidecar signs with its own access key, so the proxy log says whose upload is whose.
  const store = (accessKeyId: string) =>
    new S3DeepStore(world.deepStoreUri, {
      endpoint: bed.proxy.endpoint,
      region: FAKE_REGION,
      credentials: { accessKeyId, secretAccessKey: 'x' },
      forcePathStyle: true,
      maxAttempts: 1,
    });
  const serverA = await world.addServer();
  const serverB = await world.addServer();
  await world.commit(seg(1), [{ server: serverA }, { server: serverB }]);

  let releaseA!: () => void;
  const held = bed.proxy.inject('PutObject', faults.holdUntil(new Promise<void>((resolve) => (releaseA = resolve))));
  const a = await world.startSidecar(serverA, { zkOptions: SHORT_SESSION, deepStore: store('replica-a') });
  await waitFor(() => expect(held.applied).toBe(1)); // A holds the lock; its upload is in flight
  const b = await world.startSidecar(serverB, { zkOptions: SHORT_SESSION, deepStore: store('replica-b') });
  await waitFor(() => expect(entryOf(b, seg(1))?.reason).toBe('locked_by_other'));

  await loseSessions([a.session, b.session]);

  // B takes the lock A's session left, finds nothing at the key (A's upload is still held), uploads and repairs.
  await waitFor(() => expect(entryOf(b, seg(1))?.state).toBe('done'), 20_000);
  releaseA(); // only now does A's upload reach the store
  await waitFor(() => expect(entryOf(a, seg(1))?.state).toBe('fixed_by_other'), 20_000);
  overlaps = concurrentUploads(uploadWindows(bed.proxy.log));
  scenario = { a, b, world, url: await world.url(seg(1)) };
}, 60_000);

describe('an upload lock lost with its ZooKeeper session while the upload is in flight', () => {
  it('the outcome stays correct: the other replica repairs, the first write is refused, nothing else changes', async () => {
    const { a, b, world, url } = scenario!;
    expect(url).toBe(world.segmentUri(seg(1)));
    // A's lock died with its session: before writing, A took it again (or found B holding it) and re-read.
    expect(events(a, 'lock_session_lost')).toHaveLength(1);
    expect(a.session.requests.setData + a.session.requests.multi).toBe(0);
    expect(b.session.requests.setData + b.session.requests.multi).toBe(1);
    await world.checkInvariants();
  });

  // Known issue (see the file comment): today the two uploads overlap. Remove `.fails` once they cannot.
  it.fails('no second upload of the key starts while the first is in flight (one uploader per segment)', () => {
    expect(overlaps.map(([x, y]) => `${x.client} and ${y.client} on ${x.key}`)).toEqual([]);
  });
});
