import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { HostedSegments } from '../../src/helix/hosted-segments.js';
import type { ZkSession } from '../../src/helix/zk-session.js';
import { nextEvent } from '../helpers/events.js';
import { hostedStates } from '../helpers/hosted-view.js';
import { connectSession, type PinotClusterSeeder, useSeededCluster } from '../helpers/pinot-cluster.js';
import { ZK_OP, ZkProxy } from '../helpers/zk-proxy.js';

/**
 * The tracker's sync cut by connection losses that do not end its ZooKeeper session (a lost reply, a short
 * partition): the library reconnects to the same session, and the tracker must still end up with exactly what
 * ZooKeeper holds, including changes whose watch events went down with the connection. The tracker talks to the
 * shared ZooKeeper through a proxy (test/helpers/zk-proxy.ts); the seeder talks to it directly.
 */
const RT = 'events_REALTIME';
const SERVER = 'Server_interrupted_8098';
const seg = (n: number) => `events__0__${n}__20240101T0000Z`;

interface Setup {
  seed: PinotClusterSeeder;
  serverSession: string;
  proxy: ZkProxy;
  session: ZkSession;
  tracker: HostedSegments;
  expirations: () => number;
}

const pinot = useSeededCluster('interrupted', { scope: 'each' });
let current: { close: () => Promise<void> } | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function setup(): Promise<Setup> {
  const { seed } = pinot;
  const serverSession = await seed.addInstance(SERVER);
  await seed.addTable(RT, { pauseless: true });
  for (const n of [1, 2, 3]) await seed.putSegment(RT, seg(n), { downloadUrl: '' });
  await seed.setCurrentState(SERVER, serverSession, RT, { [seg(1)]: 'ONLINE', [seg(2)]: 'ONLINE', [seg(3)]: 'ONLINE' });
  const proxy = await ZkProxy.start(inject('zkConnectString'));
  // A session timeout far longer than any cut here: every interruption is a connection loss, never an expiry.
  const session = await connectSession({
    connectString: proxy.connectString,
    sessionTimeoutMs: 30_000,
    operationTimeoutMs: 5_000,
  });
  let expired = 0;
  session.on('expired', () => expired++);
  session.on('renewed', () => expired++);
  const tracker = new HostedSegments({ session, cluster: seed.cluster, instance: SERVER });
  await tracker.start();
  current = {
    async close() {
      tracker.stop();
      await session.close();
      await proxy.close();
    },
  };
  return { seed, serverSession, proxy, session, tracker, expirations: () => expired };
}

describe('the hosted-segment sync interrupted by connection losses (no expiry)', () => {
  it('a metadata read whose reply is lost mid-sync: same session, and the tracker converges on ZooKeeper', async () => {
    const { seed, serverSession, proxy, session, tracker, expirations } = await setup();
    const sessionId = session.sessionId;
    const lost = proxy.loseReplyTo(
      (r) => r.type === ZK_OP.getData && r.path === seed.paths.segmentMetadata(RT, seg(4)),
    );
    // A new hosted segment: the tracker reads the current state, then seg4's metadata, whose answer is lost.
    await seed.putSegment(RT, seg(4), { downloadUrl: '' });
    await seed.setCurrentState(SERVER, serverSession, RT, {
      [seg(1)]: 'ERROR',
      [seg(2)]: 'ONLINE',
      [seg(3)]: 'ONLINE',
      [seg(4)]: 'ONLINE',
    });
    await lost;
    // Nothing else changes: only the tracker itself can go back for what it did not get.
    await vi.waitFor(
      () => {
        expect(hostedStates(tracker)[RT]).toEqual({
          [seg(1)]: 'ERROR',
          [seg(2)]: 'ONLINE',
          [seg(3)]: 'ONLINE',
          [seg(4)]: 'ONLINE',
        });
        expect(tracker.get(RT, seg(4))?.zk?.metadata.downloadUrl).toEqual({ kind: 'empty' });
      },
      { timeout: 20_000, interval: 100 },
    );
    await tracker.waitSynced();
    expect(session.sessionId).toBe(sessionId);
    expect(expirations()).toBe(0);
    // And back on watches: a later change arrives by itself.
    await seed.putSegment(RT, seg(3), { downloadUrl: 's3://b/after' });
    await vi.waitFor(() =>
      expect(tracker.get(RT, seg(3))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri: 's3://b/after' }),
    );
  });

  it('connections cut and refused for a while: what changed meanwhile is seen once they are allowed again', async () => {
    const { seed, serverSession, proxy, session, tracker, expirations } = await setup();
    const sessionId = session.sessionId;
    const disconnected = nextEvent(session, 'disconnected');
    proxy.refuse();
    await disconnected;
    await seed.putSegment(RT, seg(5), { downloadUrl: 's3://b/5' });
    await seed.setCurrentState(SERVER, serverSession, RT, {
      [seg(1)]: 'ONLINE',
      [seg(2)]: 'OFFLINE',
      [seg(5)]: 'ONLINE',
    });
    await seed.putSegment(RT, seg(1), { downloadUrl: 's3://b/1' });
    expect(session.state).not.toBe('connected');
    proxy.allow();

    await vi.waitFor(
      () => {
        expect(hostedStates(tracker)[RT]).toEqual({ [seg(1)]: 'ONLINE', [seg(2)]: 'OFFLINE', [seg(5)]: 'ONLINE' });
        expect(tracker.get(RT, seg(5))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri: 's3://b/5' });
        expect(tracker.get(RT, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri: 's3://b/1' });
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(session.sessionId).toBe(sessionId);
    expect(expirations()).toBe(0);
  });
});
