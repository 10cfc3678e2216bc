import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyArchiveStream } from '../../../src/deepstore/archive-verifier.js';
import { buildSegment } from '../../helpers/segment-builder.js';
import { entryOf, seg, TABLE, uploads, useTestBed, waitFor, type RepairWorld, type Server } from './harness.js';

/**
 * Segments a server keeps on a storage tier (TierBasedSegmentDirectoryLoader moves them to
 * `<tierDataDir>/<tableNameWithType>/<segment>/`) are repaired like those in its data dir, when the sidecar
 * is given the tier's data dir. The file deep store keeps the test small; S3 is the same code path above it.
 */
const bed = useTestBed();

/** A server with two tier data dirs beside its data dir: `hot` (not created yet) and `cold`. */
async function tieredServer(world: RepairWorld): Promise<{ server: Server; hot: string; cold: string }> {
  const server = await world.addServer();
  const hot = path.join(world.dir, `${path.basename(server.dataDir)}-hot`);
  const cold = path.join(world.dir, `${path.basename(server.dataDir)}-cold`);
  await mkdir(cold, { recursive: true });
  return { server, hot, cold };
}

describe('a segment that lives only in a tier data dir', () => {
  it('is uploaded from the tier and its URL set', async () => {
    const world = await bed.world({ store: 'file' });
    const { server, hot, cold } = await tieredServer(world);
    const built = await buildSegment(path.join(cold, TABLE), { name: seg(1), layout: 'v3' });
    const crc = await world.commit(seg(1), [{ server, local: 'none' }], { crc: String(built.crc) });
    const sidecar = await world.startSidecar(server, { tierDataDirs: [hot, cold] });

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    const uri = world.segmentUri(seg(1));
    expect(await world.url(seg(1))).toBe(uri);
    expect(await uploads(sidecar, 'success')).toBe(1);
    // The object is a complete archive of the tier's copy: every byte read, its creation.meta CRC is ZK's.
    const object = await world.openObject(uri);
    expect(object).not.toBeNull();
    expect(await verifyArchiveStream(object!, crc)).toMatchObject({ kind: 'verified' });
    await world.checkInvariants();
  });

  it('without the tier data dir it is not_local, as before; an unsealed copy in a tier is not_sealed', async () => {
    const world = await bed.world({ store: 'file' });
    const { server, hot, cold } = await tieredServer(world);
    const built = await buildSegment(path.join(cold, TABLE), { name: seg(1) });
    await world.commit(seg(1), [{ server, local: 'none' }], { crc: String(built.crc) });
    await buildSegment(path.join(cold, TABLE), { name: seg(2), sealed: false });
    await world.commit(seg(2), [{ server, local: 'none' }]);

    const blind = await world.startSidecar(server);
    await blind.reconciler.requestPass();
    expect(entryOf(blind, seg(1))).toMatchObject({ state: 'skipped', reason: 'not_local' });
    await blind.stop();

    const tiered = await world.startSidecar(server, { tierDataDirs: [hot, cold] });
    await waitFor(() => expect(entryOf(tiered, seg(1))?.state).toBe('done'));
    expect(entryOf(tiered, seg(2))).toMatchObject({ state: 'skipped', reason: 'not_sealed' });
    expect(await world.url(seg(2))).toBe('');
    await world.checkInvariants();
  });

  it('an unsealed copy in the data dir (a move back from the tier under way) does not hide the sealed tier copy', async () => {
    const world = await bed.world({ store: 'file' });
    const { server, cold } = await tieredServer(world);
    const built = await buildSegment(path.join(cold, TABLE), { name: seg(1) });
    await buildSegment(path.join(server.dataDir, TABLE), { name: seg(1), sealed: false });
    await world.commit(seg(1), [{ server, local: 'none' }], { crc: String(built.crc) });
    const sidecar = await world.startSidecar(server, { tierDataDirs: [cold] });

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    await world.checkInvariants();
  });
});
