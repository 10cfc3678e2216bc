import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptSegmentError, InvalidNameError, SegmentNotFoundError } from '../../src/segments/errors.js';
import { SegmentStore } from '../../src/segments/segment-store.js';
import { buildSegment, type BuiltSegment } from '../helpers/segment-builder.js';

let root: string;
let dataDir: string;
let outside: string;
let store: SegmentStore;
const built: Record<string, BuiltSegment> = {};

const LLC = 'events__0__1__20240101T0000Z';

beforeAll(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'segments-store-')));
  dataDir = path.join(root, 'data');
  outside = path.join(root, 'outside');
  store = new SegmentStore(dataDir);
  const at = async (table: string, name: string, spec: Partial<Parameters<typeof buildSegment>[1]> = {}) => {
    built[`${table}/${name}`] = await buildSegment(path.join(dataDir, table), { name, ...spec });
  };
  await at('events_REALTIME', LLC, { layout: 'v3' });
  await at('events_REALTIME', 'unsealed', { sealed: false });
  await at('events_OFFLINE', 'events_2024');
  await at('both_REALTIME', 'shared', { creationTime: 1 });
  await at('both_OFFLINE', 'shared', { creationTime: 2 });
  await at('only_OFFLINE', 'seg');
  for (const transient of [
    'tmp',
    '_tmp',
    'tmp-seg-0b4e6f0e',
    'seg.segment.bak',
    'seg.segment.tmp',
    'seg.tmp.0b4e6f0e',
    'seg.bak',
  ]) {
    await at('events_REALTIME', transient);
  }

  // Symlinks on the way: to sealed segments outside the data dir and inside it.
  const outsideSeg = await buildSegment(path.join(outside, 'victim_OFFLINE'), { name: 'seg' });
  await symlink(outsideSeg.dir, path.join(dataDir, 'events_REALTIME', 'linked_out'));
  await symlink(built[`events_REALTIME/${LLC}`]!.dir, path.join(dataDir, 'events_REALTIME', 'linked_in'));
  await symlink(path.join(outside, 'victim_OFFLINE'), path.join(dataDir, 'victim_OFFLINE'));
  await symlink(path.join(dataDir, 'events_OFFLINE'), path.join(dataDir, 'alias_OFFLINE'));

  // Symlinks inside the seal path: v3/ and creation.meta.
  const v3Elsewhere = await buildSegment(outside, { name: 'v3source', layout: 'v3' });
  await mkdir(path.join(dataDir, 'events_REALTIME', 'v3link'));
  await symlink(path.join(v3Elsewhere.dir, 'v3'), path.join(dataDir, 'events_REALTIME', 'v3link', 'v3'));
  const metaLink = await buildSegment(path.join(dataDir, 'events_OFFLINE'), { name: 'metalink', sealed: false });
  await symlink(
    path.join(built['events_OFFLINE/events_2024']!.dir, 'creation.meta'),
    path.join(metaLink.dir, 'creation.meta'),
  );

  // Not directories, and a corrupt seal.
  await writeFile(path.join(dataDir, 'events_OFFLINE', 'plainfile'), 'x');
  await writeFile(path.join(dataDir, 'file_OFFLINE'), 'x');
  const corrupt = await buildSegment(path.join(dataDir, 'events_OFFLINE'), { name: 'corrupt', sealed: false });
  await writeFile(path.join(corrupt.dir, 'creation.meta'), Buffer.alloc(10));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('SegmentStore.resolve', () => {
  it('finds a v3 segment of a typed REALTIME table, sealed by v3/creation.meta', async () => {
    const segment = await store.resolve('events_REALTIME', LLC);
    const expected = built[`events_REALTIME/${LLC}`]!;
    expect(segment).toMatchObject({
      tableNameWithType: 'events_REALTIME',
      segmentName: LLC,
      dir: path.join(dataDir, 'events_REALTIME', LLC),
      creationMetaPath: path.join(dataDir, 'events_REALTIME', LLC, 'v3', 'creation.meta'),
      creationMeta: { crc: expected.crc, crcString: String(expected.crc), creationTime: expected.creationTime },
    });
  });

  it('finds a v1 segment of a typed OFFLINE table, sealed by creation.meta at the top', async () => {
    const segment = await store.resolve('events_OFFLINE', 'events_2024');
    expect(segment.creationMetaPath).toBe(path.join(dataDir, 'events_OFFLINE', 'events_2024', 'creation.meta'));
    expect(segment.creationMeta.crc).toBe(built['events_OFFLINE/events_2024']!.crc);
  });

  it.each([
    ['events', LLC, 'events_REALTIME'],
    ['events', 'events_2024', 'events_OFFLINE'],
    ['only', 'seg', 'only_OFFLINE'],
    ['both', 'shared', 'both_REALTIME'],
  ])('raw table %j finds %j in %s (REALTIME first)', async (table, segment, expectedTable) => {
    expect((await store.resolve(table, segment)).tableNameWithType).toBe(expectedTable);
  });

  it('the typed name still picks OFFLINE in a hybrid table', async () => {
    const segment = await store.resolve('both_OFFLINE', 'shared');
    expect(segment.creationMeta.creationTime).toBe(2);
  });

  it('works when the data dir path itself is a symlink (operator configuration), returning canonical paths', async () => {
    const linkedDataDir = path.join(root, 'data-link');
    await symlink(dataDir, linkedDataDir);
    const segment = await new SegmentStore(linkedDataDir).resolve('events', LLC);
    expect(segment.dir).toBe(path.join(dataDir, 'events_REALTIME', LLC));
  });

  it.each([
    ['absent segment', 'events_REALTIME', 'nope'],
    ['absent table', 'missing_REALTIME', 'seg'],
    ['absent raw table', 'missing', 'seg'],
    ['unsealed directory', 'events_REALTIME', 'unsealed'],
    ['resource tmp dir', 'events_REALTIME', 'tmp'],
    ['realtime tmp dir', 'events_REALTIME', '_tmp'],
    ['download tmp dir', 'events_REALTIME', 'tmp-seg-0b4e6f0e'],
    ['backup dir', 'events_REALTIME', 'seg.segment.bak'],
    ['reload tmp dir', 'events_REALTIME', 'seg.segment.tmp'],
    ['completion tmp name', 'events_REALTIME', 'seg.tmp.0b4e6f0e'],
    ['*.bak', 'events_REALTIME', 'seg.bak'],
    ['segment dir symlinked outside the data dir', 'events_REALTIME', 'linked_out'],
    ['segment dir symlinked to a sealed segment inside the data dir', 'events_REALTIME', 'linked_in'],
    ['table dir symlinked outside the data dir', 'victim_OFFLINE', 'seg'],
    ['raw name whose table dir is a symlink', 'victim', 'seg'],
    ['table dir symlinked to another table inside the data dir', 'alias_OFFLINE', 'events_2024'],
    ['v3/ is a symlink', 'events_REALTIME', 'v3link'],
    ['creation.meta is a symlink', 'events_OFFLINE', 'metalink'],
    ['segment is a plain file', 'events_OFFLINE', 'plainfile'],
    ['table is a plain file', 'file_OFFLINE', 'seg'],
    ['segment of the wrong type', 'events_OFFLINE', LLC],
  ])('%s → SegmentNotFoundError', async (_label, table, segment) => {
    const err = await store.resolve(table, segment).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SegmentNotFoundError);
    expect(err).toMatchObject({ table, segment, retriable: false });
  });

  it.each([
    ['..', LLC],
    ['events_REALTIME', '..'],
    ['events_REALTIME', '.'],
    ['events_REALTIME/..', LLC],
    ['events_REALTIME', `../events_OFFLINE/events_2024`],
    ['events_REALTIME', 'a\u0000b'],
    ['', LLC],
    ['events_REALTIME', ''],
    ['events_REALTIME', 'x'.repeat(256)],
  ])('malformed names (%j, %j) → InvalidNameError before touching the disk', async (table, segment) => {
    await expect(store.resolve(table, segment)).rejects.toBeInstanceOf(InvalidNameError);
  });

  it('a creation.meta of the wrong size → CorruptSegmentError naming the file and what is wrong', async () => {
    const err = await store.resolve('events_OFFLINE', 'corrupt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptSegmentError);
    expect((err as Error).message).toMatch(
      /^corrupt segment data at \/.*\/events_OFFLINE\/corrupt\/creation\.meta: creation\.meta is \d+ bytes, expected 16 or 24$/,
    );
  });
});

describe('SegmentStore.listSegments', () => {
  it('lists only sealed, non-temporary, non-symlinked segment directories, sorted', async () => {
    expect(await store.listSegments('events_REALTIME')).toEqual([LLC]);
    expect(await store.listSegments('both_OFFLINE')).toEqual(['shared']);
  });

  it('skips a segment with a corrupt creation.meta instead of failing the listing', async () => {
    expect(await store.listSegments('events_OFFLINE')).toEqual(['events_2024']);
  });

  it('an absent or symlinked table has no segments', async () => {
    expect(await store.listSegments('missing_OFFLINE')).toEqual([]);
    expect(await store.listSegments('victim_OFFLINE')).toEqual([]);
  });

  it('needs a typed table name', async () => {
    await expect(store.listSegments('events')).rejects.toBeInstanceOf(InvalidNameError);
  });
});
