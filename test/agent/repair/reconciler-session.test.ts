import { afterEach, describe, expect, it } from 'vitest';
import { defaultLockRoot, UploadLocks } from '../../../src/agent/repair/upload-lock.js';
import { SegmentKeys } from '../../../src/helix/segment-metadata.js';
import { compareAndSetSimpleField } from '../../../src/helix/znode-io.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { SegmentStore, streamSegmentArchive } from '../../../src/segments/index.js';
import { nextEvent } from '../../helpers/events.js';
import { connectSession, uniqueClusterName } from '../../helpers/pinot-cluster.js';
import { ZK_OP, ZkProxy } from '../../helpers/zk-proxy.js';
import { useOwnZooKeeper } from '../../helpers/zookeeper-server.js';
import { entryOf, events, RAW, RepairWorld, seg, TABLE, uploads, urlWrites, waitFor } from './harness.js';

/**
 * Losing the ZooKeeper session in the middle of an attempt. These tests freeze ZooKeeper (SIGSTOP) past the
 * sidecar's session timeout, so they run against a ZooKeeper of their own, never the shared one.
 */
const zooKeeper = useOwnZooKeeper();
let world: RepairWorld | undefined;
let proxy: ZkProxy | undefined;

afterEach(async () => {
  zooKeeper.server.resume();
  proxy?.allow();
  await world?.close();
  world = undefined;
  await proxy?.close();
  proxy = undefined;
});

/** A short session that notices the frozen server quickly and comes back quickly. */
const SHORT_SESSION = { sessionTimeoutMs: 1_500, reconnectMinMs: 100, reconnectMaxMs: 200 };

/** Freeze ZooKeeper until `session` expires, thaw it, and resolve once the session is renewed. */
async function loseSession(session: ZkSession): Promise<void> {
  const expired = nextEvent(session, 'expired');
  await zooKeeper.server.pause();
  await expired;
  const renewed = nextEvent(session, 'renewed');
  zooKeeper.server.resume();
  await renewed;
}

describe('ZK session lost mid-attempt', () => {
  it('→ no write with a stale version: a URL set meanwhile by someone else is kept', async () => {
    world = await RepairWorld.create({ connectString: zooKeeper.connectString });
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
    expect((await compareAndSetSimpleField(world.seedSession, read, SegmentKeys.downloadUrl, theirUri)).outcome).toBe(
      'written',
    );
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('fixed_by_other'));
    expect(await world.url(seg(1))).toBe(theirUri);
    expect(urlWrites(sidecar.session)).toBe(0);
    expect((await world.record(seg(1)))!.stat.version).toBe(readVersion + 1);
    await world.checkInvariants();
  });

  it('→ the attempt takes the lock again in the new session and re-reads before its one write', async () => {
    world = await RepairWorld.create({ connectString: zooKeeper.connectString });
    const { sidecar, release, store } = await world.heldAttempt({ sidecar: { zkOptions: SHORT_SESSION } });
    await loseSession(sidecar.session);
    // The client gave its session up; the lock goes once the server has expired that session too (right after
    // the thaw, or later on a loaded machine). Before that, the lock is another holder's as far as anyone can
    // tell, and the attempt rightly leaves it (locked_by_other, then already_uploaded): not this scenario.
    const lockPath = new UploadLocks(world.seedSession, defaultLockRoot(world.cluster), 'probe').lockPath(
      TABLE,
      seg(1),
    );
    await waitFor(async () => expect(await world!.seedSession.exists(lockPath)).toBeNull());
    const creates = sidecar.session.requests.create;
    const reads = sidecar.session.requests.getData;
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(events(sidecar, 'lock_session_lost')).toHaveLength(1);
    expect(events(sidecar, 'upload_failure')).toEqual([]);
    expect(entryOf(sidecar, seg(1))).toMatchObject({ reason: null, attempts: 1, uri: world.segmentUri(seg(1)) });
    expect(store.puts).toBe(1);
    expect(urlWrites(sidecar.session)).toBe(1);
    expect(sidecar.session.requests.create).toBeGreaterThan(creates); // the lock, taken again
    expect(sidecar.session.requests.getData).toBeGreaterThan(reads); // the record, read again
    await world.checkInvariants();
  });
});

describe('a partition between the sidecar and ZooKeeper (through a proxy)', () => {
  it('→ a write meant for the expired session is never sent on the next one; another holder of the lock is left alone (item 3)', async () => {
    world = await RepairWorld.create({ connectString: zooKeeper.connectString });
    proxy = await ZkProxy.start(zooKeeper.connectString);
    const { sidecar, release } = await world.heldAttempt({
      sidecar: { zkOptions: { ...SHORT_SESSION, connectString: proxy.connectString } },
    });
    const lockPath = new UploadLocks(world.seedSession, defaultLockRoot(world.cluster), 'probe').lockPath(
      TABLE,
      seg(1),
    );
    expect(await world.seedSession.exists(lockPath)).not.toBeNull();

    // Partition: the sidecar's session expires (locally, then on the server, which deletes its lock node) and
    // its replacement client keeps trying to connect.
    const expired = nextEvent(sidecar.session, 'expired');
    proxy.refuse();
    await expired;
    await waitFor(async () => expect(await world!.seedSession.exists(lockPath)).toBeNull());
    // Meanwhile another replica's sidecar takes the lock (it will upload and write on its own).
    const theirs = (await new UploadLocks(world.seedSession, defaultLockRoot(world.cluster), 'Server_other').tryAcquire(
      TABLE,
      seg(1),
    ))!;
    expect(theirs).not.toBeNull();

    // The held upload finishes while the partition lasts: the attempt gets to its write (or, fixed, to taking
    // the lock again), then the partition heals.
    release();
    await waitFor(() =>
      expect(urlWrites(sidecar.session) + events(sidecar, 'lock_session_lost').length).toBeGreaterThan(0),
    );
    proxy.allow();

    await waitFor(() =>
      expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'pending', reason: 'locked_by_other' }),
    );
    expect(events(sidecar, 'lock_taken_over')).toHaveLength(1);
    expect(urlWrites(sidecar.session)).toBe(0);
    expect(await world.url(seg(1))).toBe('');
    expect((await world.seedSession.exists(lockPath))?.ephemeralOwner).toBe(world.seedSession.sessionId);
    await theirs.release();
    // Once the lock is free the next attempt adopts the object it uploaded and sets the URL.
    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    await world.checkInvariants();
  });

  it('→ a URL write applied whose answer was lost is our success, not fixed_by_other (item 4)', async () => {
    world = await RepairWorld.create({ connectString: zooKeeper.connectString });
    proxy = await ZkProxy.start(zooKeeper.connectString);
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    const lost = proxy.loseReplyTo((r) => r.type === ZK_OP.multi && r.path === world!.metadataPath(seg(1)));
    const sidecar = await world.startSidecar(server, {
      zkOptions: { connectString: proxy.connectString, sessionTimeoutMs: 10_000 },
    });

    await lost;
    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(entryOf(sidecar, seg(1))).toMatchObject({ reason: null, uri: world.segmentUri(seg(1)) });
    expect(await uploads(sidecar, 'success')).toBe(1);
    expect(await uploads(sidecar, 'fixed_by_other')).toBe(0);
    expect(events(sidecar, 'fixed_by_other')).toEqual([]);
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    expect(proxy.forwarded.filter((r) => r.type === ZK_OP.multi)).toHaveLength(1);
    // The multi may have released the lock, and another sidecar's lock may stand at its path by now: no delete of it.
    expect(proxy.forwarded.filter((r) => r.type === ZK_OP.delete && r.path?.includes('/locks/'))).toEqual([]);
    await world.checkInvariants();
  });

  it('→ still our success when the session is lost with the answer and a later attempt finds the URL (item 4)', async () => {
    world = await RepairWorld.create({ connectString: zooKeeper.connectString });
    proxy = await ZkProxy.start(zooKeeper.connectString);
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    const lost = proxy.loseReplyTo((r) => r.type === ZK_OP.multi && r.path === world!.metadataPath(seg(1)));
    const sidecar = await world.startSidecar(server, {
      zkOptions: { ...SHORT_SESSION, connectString: proxy.connectString },
    });

    await lost;
    // The partition outlasts the session: the attempt cannot re-read in it and ends with the write in doubt.
    const expired = nextEvent(sidecar.session, 'expired');
    proxy.refuse();
    await expired;
    await waitFor(() =>
      expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'retrying', reason: 'AmbiguousWriteError' }),
    );
    proxy.allow();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(await uploads(sidecar, 'success')).toBe(1);
    expect(await uploads(sidecar, 'fixed_by_other')).toBe(0);
    expect(proxy.forwarded.filter((r) => r.type === ZK_OP.multi)).toHaveLength(1);
    await world.checkInvariants();
  });
});

describe('upload lock across a session loss', () => {
  it('release() of a lock lost with its session leaves the new holder alone', async () => {
    const root = defaultLockRoot(uniqueClusterName('locks'));
    const mine = await connectSession({ connectString: zooKeeper.connectString, ...SHORT_SESSION });
    const theirs = await connectSession({ connectString: zooKeeper.connectString, sessionTimeoutMs: 30_000 });
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
