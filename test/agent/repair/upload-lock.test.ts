import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultLockRoot, LockWriteRefusedError, UploadLocks } from '../../../src/agent/repair/upload-lock.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { connectSession, uniqueClusterName } from '../../helpers/pinot-cluster.js';

describe('UploadLocks (real ZooKeeper)', () => {
  let a: ZkSession;
  let b: ZkSession;
  const cluster = uniqueClusterName('locks');
  const root = defaultLockRoot(cluster);

  beforeAll(async () => {
    a = await connectSession();
    b = await connectSession();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('lives under the sidecar root, never inside the cluster tree', () => {
    expect(new UploadLocks(a, root, 'x').lockPath('t_REALTIME', 's')).toBe(
      `/pinot-sidecar/${cluster}/locks/t_REALTIME/s`,
    );
  });

  it('one holder at a time; another session gets null, not an error; release lets it in', async () => {
    const locksA = new UploadLocks(a, root, 'Server_a');
    const locksB = new UploadLocks(b, root, 'Server_b');
    const held = await locksA.tryAcquire('t_REALTIME', 'seg1');
    expect(held).not.toBeNull();
    const stat = await b.exists(held!.path);
    expect(stat?.ephemeralOwner).toBe(a.sessionId);
    expect(JSON.parse((await b.getData(held!.path)).data!.toString())).toMatchObject({ owner: 'Server_a' });
    expect(await locksB.tryAcquire('t_REALTIME', 'seg1')).toBeNull();
    await held!.release();
    const second = await locksB.tryAcquire('t_REALTIME', 'seg1');
    expect(second).not.toBeNull();
    await second!.release();
    expect(await a.exists(held!.path)).toBeNull();
  });

  it('re-takes a lock its own session still holds (a release that never reached the server)', async () => {
    const locks = new UploadLocks(a, root, 'Server_a');
    const first = await locks.tryAcquire('t_REALTIME', 'seg2');
    const again = await locks.tryAcquire('t_REALTIME', 'seg2');
    expect(again?.path).toBe(first?.path);
    await again!.release();
  });

  it('a lock dies with its session', async () => {
    const c = await connectSession();
    const held = await new UploadLocks(c, root, 'Server_c').tryAcquire('t_REALTIME', 'seg3');
    await c.close();
    const mine = await new UploadLocks(a, root, 'Server_a').tryAcquire('t_REALTIME', 'seg3');
    expect(mine?.path).toBe(held?.path);
    await mine!.release();
  });

  it('asks before every write and creates nothing once writes are refused', async () => {
    const locks = new UploadLocks(a, `${root}-refused`, 'Server_a');
    await expect(locks.tryAcquire('t_REALTIME', 'seg5', () => false)).rejects.toThrow(LockWriteRefusedError);
    let allowed = 1; // the first create (NO_NODE: the folders are missing) goes out, then writes stop
    await expect(locks.tryAcquire('t_REALTIME', 'seg5', () => allowed-- > 0)).rejects.toThrow(LockWriteRefusedError);
    expect(await a.exists(`${root}-refused`)).toBeNull();
  });
});
