import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultLockRoot, UploadLocks } from '../../../src/agent/repair/upload-lock.js';
import { SegmentKeys } from '../../../src/helix/segment-metadata.js';
import { compareAndSetSimpleField } from '../../../src/helix/znode-io.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { SegmentStore, streamSegmentArchive } from '../../../src/segments/index.js';
import { nextEvent } from '../../helpers/events.js';
import { connectSession, uniqueClusterName } from '../../helpers/pinot-cluster.js';
import { ZooKeeperServer } from '../../helpers/zookeeper-server.js';
import { entryOf, events, RAW, RepairWorld, seg, TABLE, waitFor } from './harness.js';

/**
 * Losing the ZooKeeper session in the middle of an attempt. These tests freeze ZooKeeper (SIGSTOP) past the
 * sidecar's session timeout, so they run against a ZooKeeper of their own, never the shared one.
 */
let zkServer: ZooKeeperServer;
let world: RepairWorld | undefined;

beforeAll(async () => {
  zkServer = await ZooKeeperServer.start();
});
afterEach(async () => {
  zkServer.resume();
  await world?.close();
  world = undefined;
});
afterAll(async () => {
  await zkServer?.destroy();
});

/** A short session that notices the frozen server quickly and comes back quickly. */
const SHORT_SESSION = { sessionTimeoutMs: 1_500, reconnectMinMs: 100, reconnectMaxMs: 200 };

/** Freeze ZooKeeper until `session` expires, thaw it, and resolve once the session is renewed. */
async function loseSession(session: ZkSession): Promise<void> {
  const expired = nextEvent(session, 'expired');
  zkServer.pause();
  await expired;
  const renewed = nextEvent(session, 'renewed');
  zkServer.resume();
  await renewed;
}

describe('ZK session lost mid-attempt', () => {
  it('→ no write with a stale version: a URL set meanwhile by someone else is kept', async () => {
    world = await RepairWorld.create({ connectString: zkServer.connectString });
    const { sidecar, release } = await world.heldAttempt({ sidecar: { zkOptions: SHORT_SESSION } });
    const readVersion = (await world.record(seg(1)))!.stat.version;
    await loseSession(sidecar.session);

    // The seeder's long session survived; it stores a copy and sets the URL: the version read is now stale.
    const theirUri = `${world.deepStoreUri}/${RAW}/copy-by-someone-else`;
    const server = sidecar.server;
    const resolved = await new SegmentStore(server.dataDir).resolve(TABLE, seg(1));
    await world.newDeepStore().put(theirUri, streamSegmentArchive(resolved), { crc: resolved.creationMeta.crcString });
    const read = (await world.record(seg(1)))!;
    expect(read.stat.version).toBe(readVersion);
    expect((await compareAndSetSimpleField(world.seedSession, read, SegmentKeys.downloadUrl, theirUri)).outcome).toBe('written');
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('fixed_by_other'));
    expect(await world.url(seg(1))).toBe(theirUri);
    expect(sidecar.session.requests.setData).toBe(0);
    expect((await world.record(seg(1)))!.stat.version).toBe(readVersion + 1);
    await world.checkInvariants();
  });

  it('→ the attempt stops before its write; the next one only does the ZooKeeper step', async () => {
    world = await RepairWorld.create({ connectString: zkServer.connectString });
    const { sidecar, release, store } = await world.heldAttempt({ sidecar: { zkOptions: SHORT_SESSION } });
    await loseSession(sidecar.session);
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(events(sidecar, 'upload_failure').map((e) => e.reason)).toContain('SessionChangedError');
    expect(entryOf(sidecar, seg(1))).toMatchObject({ reason: 'already_uploaded', uri: world.segmentUri(seg(1)) });
    expect(store.puts).toBe(1);
    expect(sidecar.session.requests.setData).toBe(1);
    await world.checkInvariants();
  });
});

describe('upload lock across a session loss', () => {
  it('release() of a lock lost with its session leaves the new holder alone', async () => {
    const root = defaultLockRoot(uniqueClusterName('locks'));
    const mine = await connectSession({ connectString: zkServer.connectString, ...SHORT_SESSION });
    const theirs = await connectSession({ connectString: zkServer.connectString, sessionTimeoutMs: 30_000 });
    try {
      const held = (await new UploadLocks(mine, root, 'Server_a').tryAcquire(TABLE, seg(1)))!;
      await loseSession(mine);
      // The server drops the old session's ephemeral node once it expires it there too.
      const other = await waitFor(async () => {
        const lock = await new UploadLocks(theirs, root, 'Server_b').tryAcquire(TABLE, seg(1));
        expect(lock).not.toBeNull();
        return lock!;
      });
      await held.release();
      expect((await theirs.exists(other.path))?.ephemeralOwner).toBe(theirs.sessionId);
      await other.release();
    } finally {
      await mine.close();
      await theirs.close();
    }
  });
});
