import { describe, expect, it } from 'vitest';
import { defaultLockRoot, UploadLocks } from '../../../src/agent/repair/upload-lock.js';
import { entryOf, events, seg, TABLE, urlWrites, useTestBed, waitFor } from './harness.js';

/**
 * The URL write and the lock's release are one ZooKeeper multi (issue 15). When the lock node has vanished while
 * its session lives (deleted by hand), that multi writes nothing (also_delete_missing); the attempt takes the lock
 * again, reads the record again and then writes, once.
 */
const bed = useTestBed();

describe('the upload lock deleted by hand while the upload is in flight', () => {
  it('→ nothing written without the lock; taken again, then one write', async () => {
    const world = await bed.world();
    const { sidecar, release } = await world.heldAttempt();
    const lockPath = new UploadLocks(world.seedSession, defaultLockRoot(world.cluster), 'probe').lockPath(
      TABLE,
      seg(1),
    );
    expect(await world.seedSession.exists(lockPath)).not.toBeNull();
    await world.seedSession.delete(lockPath);
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(events(sidecar, 'lock_missing')).toHaveLength(1);
    // The refused multi, then the one that wrote: two URL writes sent, one applied (the record's version moved once).
    expect(urlWrites(sidecar.session)).toBe(2);
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    expect(await world.seedSession.exists(lockPath)).toBeNull(); // released by the write
    await world.checkInvariants();
  });
});
