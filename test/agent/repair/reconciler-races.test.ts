import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SegmentKeys } from '../../../src/helix/segment-metadata.js';
import { compareAndSetSimpleField } from '../../../src/helix/znode-io.js';
import { TEMP_FOLDER } from '../../../src/deepstore/file-store-temps.js';
import { parseStoreUri } from '../../../src/deepstore/store-uri.js';
import { SegmentStore, streamSegmentArchive } from '../../../src/segments/index.js';
import {
  entryOf,
  events,
  GatedDeepStore,
  RAW,
  seg,
  TABLE,
  uploads,
  useTestBed,
  waitFor,
  type Sidecar,
  urlWrites,
} from './harness.js';

/**
 * Other actors changing the world in the middle of an attempt: another writer, a deleted znode, a deleted
 * local directory, a second sidecar. The attempt is held at the start of its upload (GatedDeepStore) so the
 * change happens at a known point; each test ends with the invariant check.
 */
const bed = useTestBed();

/** pinot_sidecar_deep_store_orphans_total{table}. */
async function orphans(sidecar: Sidecar): Promise<number> {
  return (await sidecar.metrics.deepStoreOrphans.get()).values.find((v) => v.labels.table === TABLE)?.value ?? 0;
}

describe('concurrent writers', () => {
  it('another writer sets the URL first → kept, fixed_by_other', async () => {
    const world = await bed.world();
    const { server, sidecar, store, release } = await world.heldAttempt();

    // Meanwhile someone else (the controller's repair, another tool) stores a copy and sets the URL.
    const theirUri = `${world.deepStoreUri}/${RAW}/copy-by-someone-else`;
    const resolved = await new SegmentStore(server.dataDir).resolve(TABLE, seg(1));
    await store.inner.put(theirUri, streamSegmentArchive(resolved), { crc: resolved.creationMeta.crcString });
    const read = (await world.record(seg(1)))!;
    expect((await compareAndSetSimpleField(world.seedSession, read, SegmentKeys.downloadUrl, theirUri)).outcome).toBe(
      'written',
    );
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('fixed_by_other'));
    expect(await world.url(seg(1))).toBe(theirUri);
    expect(entryOf(sidecar, seg(1))).toMatchObject({ detail: theirUri, uri: theirUri });
    // Our object at the canonical key, uploaded before the other write was seen, is reported as an orphan.
    expect(entryOf(sidecar, seg(1))?.orphanUri).toBe(world.segmentUri(seg(1)));
    expect(await sidecar.deepStore.head(world.segmentUri(seg(1)))).not.toBeNull();
    expect(await orphans(sidecar)).toBe(1);
    expect(events(sidecar, 'orphan_object')).toEqual([
      expect.objectContaining({ segment: seg(1), uri: world.segmentUri(seg(1)) }),
    ]);
    expect(await uploads(sidecar, 'fixed_by_other')).toBe(1);
    expect(await uploads(sidecar, 'success')).toBe(0);
    expect(events(sidecar, 'fixed_by_other')).toEqual([
      expect.objectContaining({ table: TABLE, segment: seg(1), url: theirUri }),
    ]);
    await world.checkInvariants();
  });

  it('two sidecars for two replicas of the same segments → one upload and one write per segment', async () => {
    const world = await bed.world();
    const a = await world.addServer();
    const b = await world.addServer();
    const segments = [1, 2, 3, 4, 5].map(seg);
    for (const segment of segments) await world.commit(segment, [{ server: a }, { server: b }]);
    const versions = await Promise.all(segments.map(async (s) => (await world.record(s))!.stat.version));
    const [sa, sb] = await Promise.all([world.startSidecar(a), world.startSidecar(b)]);

    for (const segment of segments) {
      await waitFor(() => {
        const states = [entryOf(sa, segment)?.state, entryOf(sb, segment)?.state].sort();
        expect(states).toEqual(['done', 'fixed_by_other']);
      });
    }
    // The other sidecar wrote the same canonical URI: nothing is orphaned.
    expect((await orphans(sa)) + (await orphans(sb))).toBe(0);
    expect(bed.proxy.count('PutObject') + bed.proxy.count('UploadPart')).toBe(segments.length);
    for (const [i, segment] of segments.entries()) {
      const record = (await world.record(segment))!;
      expect(record.stat.version).toBe(versions[i]! + 1);
      expect(record.doc.record.simpleFields[SegmentKeys.downloadUrl]).toBe(world.segmentUri(segment));
    }
    expect((await uploads(sa, 'success')) + (await uploads(sb, 'success'))).toBe(segments.length);
    expect(urlWrites(sa.session) + urlWrites(sb.session)).toBe(segments.length);
    await world.checkInvariants();
  });
});

describe('things disappearing mid-attempt', () => {
  it('znode deleted mid-repair → not recreated', async () => {
    const world = await bed.world();
    const { sidecar, release } = await world.heldAttempt();
    await world.seed.remove(world.metadataPath(seg(1)));
    release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('gone'));
    await sidecar.tracker.waitSynced();
    await sidecar.reconciler.requestPass();
    expect(await world.seedSession.exists(world.metadataPath(seg(1)))).toBeNull();
    expect(await uploads(sidecar, 'gone')).toBe(1);
    expect(entryOf(sidecar, seg(1))?.orphanUri).toBe(world.segmentUri(seg(1)));
    expect(await orphans(sidecar)).toBe(1);
    await world.checkInvariants();
  });

  describe.each([
    { kind: 'file store', s3: false },
    { kind: 'S3', s3: true },
  ])('local dir deleted mid-upload ($kind)', ({ s3 }) => {
    it('→ nothing appears at the final key, and the segment is then skipped as not_local', async () => {
      const world = await bed.world({ store: s3 ? 's3' : 'file' });
      // Large enough that the archive stream cannot have been read to the end before the put is released.
      const { server, sidecar, store, release } = await world.heldAttempt({
        replica: { payloadBytes: 12 * 1024 * 1024 },
      });
      await rm(path.join(server.dataDir, TABLE, seg(1)), { recursive: true });
      release();

      await waitFor(() => expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'skipped', reason: 'not_local' }));
      expect(events(sidecar, 'upload_failure')).toEqual([expect.objectContaining({ reason: 'SegmentChangedError' })]);
      const uri = world.segmentUri(seg(1));
      expect(await store.head(uri)).toBeNull();
      if (s3) {
        expect(bed.proxy.count('CompleteMultipartUpload')).toBe(0);
      } else {
        const location = parseStoreUri(world.deepStoreUri);
        const base = location.kind === 'file' ? location.path : '';
        expect(await readdir(path.join(base, RAW)).catch(() => [])).toEqual([]);
        expect(await readdir(path.join(base, TEMP_FOLDER)).catch(() => [])).toEqual([]); // no temp file left either
      }
      expect(await world.url(seg(1))).toBe('');
      await world.checkInvariants();
    });
  });
});

describe('bounded parallelism', () => {
  it('one stuck upload does not block the others', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    for (const n of [1, 2, 3, 4]) await world.commit(seg(n), [{ server }]);
    const store = new GatedDeepStore(world.newDeepStore());
    const held = store.holdNextPut((uri) => uri.endsWith(`/${seg(1)}`));
    const sidecar = await world.startSidecar(server, { deepStore: store, parallelism: 2 });
    await held.reached;

    for (const n of [2, 3, 4]) await waitFor(() => expect(entryOf(sidecar, seg(n))?.state).toBe('done'));
    expect(entryOf(sidecar, seg(1))?.state).toBe('uploading');
    expect((await sidecar.metrics.repairQueueDepth.get()).values[0]?.value).toBe(1);
    held.release();
    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect((await sidecar.metrics.repairQueueDepth.get()).values[0]?.value).toBe(0);
    await world.checkInvariants();
  });
});
