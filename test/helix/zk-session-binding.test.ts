import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { ZooKeeperError } from '../../src/helix/errors.js';
import type { ZkSession } from '../../src/helix/zk-session.js';
import { nextEvent } from '../helpers/events.js';
import { connectSession, uniqueClusterName } from '../helpers/pinot-cluster.js';
import { ZK_OP, ZkProxy } from '../helpers/zk-proxy.js';

/**
 * Writes bound to a session (issue 10 item 3). After an expiry the library queues requests on the replacement
 * client while it connects and sends them on the new session: a write meant for the old one (made on the
 * strength of an ephemeral lock that died with it) must be refused, and `sessionId` must not name a dead session.
 */
let proxy: ZkProxy;
let seed: ZkSession;
let session: ZkSession | undefined;
const root = `/${uniqueClusterName('zkbinding')}`;

beforeAll(async () => {
  seed = await connectSession();
  await seed.ensurePath(root);
});
afterEach(async () => {
  await session?.close();
  session = undefined;
  await proxy?.close();
});
afterAll(async () => {
  await seed.close();
});

/** A session through a fresh proxy, with a short timeout so a partition expires it quickly. */
async function sessionThroughProxy(): Promise<ZkSession> {
  proxy = await ZkProxy.start(inject('zkConnectString'));
  session = await connectSession({
    connectString: proxy.connectString,
    sessionTimeoutMs: 1_500,
    reconnectMinMs: 50,
    reconnectMaxMs: 100,
  });
  return session;
}

describe('a write bound to a session', () => {
  it('is refused, never sent, once that session has expired and a new client is connecting', async () => {
    const s = await sessionThroughProxy();
    const path = `${root}/node-${Date.now()}`;
    await seed.create(path, Buffer.from('before'));
    const { stat } = await s.getData(path);
    const lockSession = s.sessionId!;

    const expired = nextEvent(s, 'expired');
    proxy.refuse();
    await expired;
    await vi.waitFor(() => expect(s.state).toBe('connecting'), { timeout: 10_000 });
    // The replacement client is connecting (the proxy refuses it): no live session, so no id to compare with.
    expect(s.sessionId).toBeNull();
    const write = s.setData(path, Buffer.from('after'), stat.version, { onlyInSession: lockSession });
    const err = await write.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ZooKeeperError);
    expect((err as ZooKeeperError).code).toBe('SESSION_CHANGED');
    expect((err as ZooKeeperError).retriable).toBe(true);

    const renewed = nextEvent<[string]>(s, 'renewed');
    proxy.allow();
    const [newSession] = await renewed;
    expect(newSession).not.toBe(lockSession);
    expect(s.sessionId).toBe(newSession);
    // A read on the new session is answered after anything queued before it: the write never arrived.
    const after = await s.getData(path);
    expect(after.data?.toString()).toBe('before');
    expect(after.stat.version).toBe(stat.version);
    expect(proxy.forwarded.filter((r) => r.path === path && r.type === 5)).toEqual([]);
  });

  it('goes out while its session is live, and is refused when bound to another one', async () => {
    const s = await sessionThroughProxy();
    const path = `${root}/live-${Date.now()}`;
    await seed.create(path, Buffer.from('0'));
    const { stat } = await s.getData(path);
    await s.setData(path, Buffer.from('1'), stat.version, { onlyInSession: s.sessionId! });
    const refused = await s
      .setData(path, Buffer.from('2'), stat.version + 1, { onlyInSession: 'dead0001' })
      .catch((e: unknown) => e);
    expect((refused as ZooKeeperError).code).toBe('SESSION_CHANGED');
    expect((await seed.getData(path)).data?.toString()).toBe('1');
  });
});

describe('a connection cut in the middle of a reply', () => {
  it('resumes the same session: the torn frame is not parsed in front of the next handshake, nothing is thrown', async () => {
    const s = await sessionThroughProxy();
    const path = `${root}/big-${Date.now()}`;
    await seed.create(path, Buffer.alloc(20_000, 7));
    const before = s.sessionId;
    const torn = proxy.loseReplyTo((r) => r.type === ZK_OP.getData && r.path === path, { deliverBytes: 100 });
    const first = await s.getData(path).catch((e: unknown) => e);
    await torn;
    expect((first as ZooKeeperError).code).toBe('CONNECTION_LOSS');

    const again = await s.getData(path);
    expect(again.data?.length).toBe(20_000);
    expect(s.sessionId).toBe(before);
    expect(s.state).toBe('connected');
  });
});
