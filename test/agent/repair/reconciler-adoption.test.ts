import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/agent/metrics.js';
import { StaleTempSweep } from '../../../src/agent/repair/stale-temp-sweep.js';
import { TEMP_FOLDER, tempFileName } from '../../../src/deepstore/file-store-temps.js';
import { CRC_METADATA_KEY, FileDeepStore, parseStoreUri } from '../../../src/deepstore/index.js';
import { SegmentStore, streamSegmentArchive } from '../../../src/segments/index.js';
import {
  entryOf,
  events,
  RAW,
  seg,
  TABLE,
  uploads,
  useTestBed,
  waitFor,
  type RepairWorld,
  type Server,
} from './harness.js';

/**
 * What is already at the canonical key when a repair starts (issue 10 item 1): an object is adopted as
 * "already uploaded" only when it is verified as a complete archive of the segment; a cut or foreign object
 * whose CRC (metadata, or creation.meta at its head) matches is replaced, never given a URL.
 */
const bed = useTestBed();

/** The segment's archive as the sidecar streams it. */
async function archiveOf(server: Server, segment: string): Promise<Buffer> {
  const resolved = await new SegmentStore(server.dataDir).resolve(TABLE, segment);
  return buffer(streamSegmentArchive(resolved));
}

async function fullArchiveAtKey(world: RepairWorld, segment: string): Promise<Buffer> {
  const read = await world.newDeepStore().get(world.segmentUri(segment));
  return buffer(read.body);
}

describe('an object already at the canonical key', () => {
  it('file store: the first 120,000 bytes of the archive → replaced by a complete one, then the URL set', async () => {
    const world = await bed.world({ store: 'file' });
    const server = await world.addServer();
    await world.commit(seg(1), [{ server, payloadBytes: 400_000 }]);
    const archive = await archiveOf(server, seg(1));
    expect(archive.length).toBeGreaterThan(120_000);
    const location = parseStoreUri(world.segmentUri(seg(1)));
    if (location.kind !== 'file') throw new Error('file store expected');
    await mkdir(path.dirname(location.path), { recursive: true });
    await writeFile(location.path, archive.subarray(0, 120_000));
    // What the old check trusted: the head of the cut file still carries the segment's CRC.
    expect((await world.newDeepStore().head(world.segmentUri(seg(1))))?.crc).toBe(
      (await world.record(seg(1)))!.doc.record.simpleFields['segment.crc'],
    );
    const sidecar = await world.startSidecar(server);

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(entryOf(sidecar, seg(1))).toMatchObject({ reason: null, uri: world.segmentUri(seg(1)) });
    expect(await uploads(sidecar, 'success')).toBe(1);
    expect(await uploads(sidecar, 'already_uploaded')).toBe(0);
    expect(events(sidecar, 'object_replaced')).toEqual([expect.objectContaining({ segment: seg(1) })]);
    expect((await fullArchiveAtKey(world, seg(1))).equals(archive)).toBe(true);
    await world.checkInvariants();
  });

  it('S3: a 29-byte object carrying the matching CRC metadata → replaced, then the URL set', async () => {
    const world = await bed.world({ store: 's3' });
    const server = await world.addServer();
    const crc = await world.commit(seg(1), [{ server }]);
    const { bucket, key } = s3Location(world.segmentUri(seg(1)));
    await bed.fake.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: Buffer.alloc(29, 0x41),
        Metadata: { [CRC_METADATA_KEY]: crc },
      }),
    );
    const sidecar = await world.startSidecar(server);

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(await uploads(sidecar, 'success')).toBe(1);
    expect(await uploads(sidecar, 'already_uploaded')).toBe(0);
    expect(events(sidecar, 'object_replaced')).toHaveLength(1);
    expect((await fullArchiveAtKey(world, seg(1))).equals(await archiveOf(server, seg(1)))).toBe(true);
    await world.checkInvariants();
  });

  it('a complete archive of the segment (an earlier attempt) → adopted, nothing uploaded', async () => {
    const world = await bed.world({ store: 's3' });
    const server = await world.addServer();
    const crc = await world.commit(seg(1), [{ server }]);
    const resolved = await new SegmentStore(server.dataDir).resolve(TABLE, seg(1));
    await world.newDeepStore().put(world.segmentUri(seg(1)), streamSegmentArchive(resolved), { crc });
    bed.proxy.reset();
    const sidecar = await world.startSidecar(server);

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(entryOf(sidecar, seg(1))).toMatchObject({ reason: 'already_uploaded' });
    expect(bed.proxy.count('PutObject') + bed.proxy.count('UploadPart')).toBe(0);
    await world.checkInvariants();
  });
});

describe('the stale temp sweep (issue 10 item 15)', () => {
  it('removes what a dead upload left in a file deep store, counts it, and leaves everything else', async () => {
    const world = await bed.world({ store: 'file' });
    const base = parseStoreUri(world.deepStoreUri);
    if (base.kind !== 'file') throw new Error('file store expected');
    const folder = path.join(base.path, RAW);
    const temps = path.join(base.path, TEMP_FOLDER);
    await mkdir(folder, { recursive: true });
    await mkdir(temps);
    const stale = path.join(temps, tempFileName('0b7c2d4e-1f2a-4b3c-8d4e-5f6a7b8c9d0e'));
    const fresh = path.join(temps, tempFileName('1b7c2d4e-1f2a-4b3c-8d4e-5f6a7b8c9d0e'));
    const pinotsOwn = path.join(folder, `${seg(3)}.tmp.2b7c2d4e-1f2a-4b3c-8d4e-5f6a7b8c9d0e`);
    // A segment whose name has the shape of a temp file: a segment all the same, in its table folder.
    const namedLikeTemp = path.join(folder, tempFileName('3b7c2d4e-1f2a-4b3c-8d4e-5f6a7b8c9d0e'));
    for (const file of [stale, fresh, pinotsOwn, namedLikeTemp]) await writeFile(file, Buffer.alloc(1000));
    const dayAgo = new Date(Date.now() - 86_400_000);
    for (const file of [stale, pinotsOwn, namedLikeTemp]) await utimes(file, dayAgo, dayAgo);
    const metrics = createMetrics({ defaultMetrics: false });
    const lines: Array<{ event?: string; removed?: number }> = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as { event?: string }) },
    );
    const sweep = new StaleTempSweep({ deepStore: new FileDeepStore(world.deepStoreUri), metrics, logger });

    sweep.start();
    await waitFor(() =>
      expect(lines.filter((l) => l.event === 'stale_temps_removed')).toEqual([expect.objectContaining({ removed: 1 })]),
    );
    await sweep.stop();
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(temps)).toEqual([path.basename(fresh)]);
    expect((await readdir(folder)).sort()).toEqual([path.basename(pinotsOwn), path.basename(namedLikeTemp)].sort());
    expect((await metrics.staleTempsRemoved.get()).values[0]?.value).toBe(1);
  });
});

function s3Location(uri: string): { bucket: string; key: string } {
  const location = parseStoreUri(uri);
  if (location.kind !== 's3') throw new Error('s3 expected');
  return { bucket: location.bucket, key: location.key };
}
