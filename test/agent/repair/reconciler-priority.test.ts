import { describe, expect, it } from 'vitest';
import { entryOf, events, seg, useTestBed, waitFor } from './harness.js';

/**
 * requestPriority (POST /drain/prepare): the segments a drain would lose take the next free slot, ahead of the
 * attempts already waiting in line, without raising the parallelism. A real ZooKeeper and a file deep store.
 */
const bed = useTestBed();

describe('Reconciler.requestPriority', () => {
  it('runs the asked segment before those queued earlier, one slot throughout', async () => {
    const world = await bed.world({ store: 'file' });
    const { server, sidecar, release } = await world.heldAttempt({ sidecar: { parallelism: 1 } });
    // Two more candidates arrive while seg(1) holds the only slot: both wait in the normal line, seg(2) first.
    await world.commit(seg(2), [{ server }]);
    await waitFor(() => expect(entryOf(sidecar, seg(2))?.state).toBe('pending'));
    await world.commit(seg(3), [{ server }]);
    await waitFor(() => expect(entryOf(sidecar, seg(3))?.state).toBe('pending'));

    const pass = sidecar.reconciler.requestPriority([{ table: 'events_REALTIME', segment: seg(3) }]);
    release();
    const summary = await pass;
    expect(summary).toMatchObject({ trigger: 'drain', considered: 1 });
    expect(entryOf(sidecar, seg(3))?.state).toBe('done');
    await waitFor(() => expect(entryOf(sidecar, seg(2))?.state).toBe('done'));
    expect(events(sidecar, 'upload_start').map((e) => e.segment)).toEqual([seg(1), seg(3), seg(2)]);
    await world.checkInvariants();
  });
});
