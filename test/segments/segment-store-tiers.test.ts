import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidNameError, SegmentNotFoundError, SegmentReadError } from '../../src/segments/errors.js';
import { SegmentStore } from '../../src/segments/segment-store.js';
import { buildSegment, type BuiltSegment } from '../helpers/segment-builder.js';

/**
 * Storage tiers: TierBasedSegmentDirectoryLoader moves a segment to `<tierDataDir>/<tableNameWithType>/<segment>/`.
 * The store looks in the data dir first, then each tier data dir in order, with the same rules in every root.
 */
let root: string;
let dataDir: string;
let warm: string;
let cold: string;
let missingTier: string;
let outside: string;
let store: SegmentStore;
const built: Record<string, BuiltSegment> = {};

const T = 'events_REALTIME';
const s = (n: number) => `events__0__${n}__20240101T0000Z`;

beforeAll(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'segments-tiers-')));
  dataDir = path.join(root, 'data');
  warm = path.join(root, 'warm');
  cold = path.join(root, 'cold');
  missingTier = path.join(root, 'not-created-yet');
  outside = path.join(root, 'outside');
  store = new SegmentStore(dataDir, { tierDataDirs: [missingTier, warm, cold] });
  const at = async (
    key: string,
    parent: string,
    name: string,
    spec: Partial<Parameters<typeof buildSegment>[1]> = {},
  ) => {
    built[key] = await buildSegment(parent, { name, ...spec });
  };
  await at('data/1', path.join(dataDir, T), s(1), { creationTime: 1 }); // in the data dir only
  await at('cold/2', path.join(cold, T), s(2), { layout: 'v3' }); // only on the cold tier
  await at('data/3', path.join(dataDir, T), s(3), { creationTime: 1 }); // a stale copy on a tier too
  await at('cold/3', path.join(cold, T), s(3), { creationTime: 3 });
  await at('warm/4', path.join(warm, T), s(4), { creationTime: 4 }); // on two tiers: warm comes first
  await at('cold/4', path.join(cold, T), s(4), { creationTime: 5 });
  await at('data/5', path.join(dataDir, T), s(5), { sealed: false }); // a move back from the tier under way
  await at('cold/5', path.join(cold, T), s(5), { creationTime: 6 });
  await at('cold/offline', path.join(cold, 'events_OFFLINE'), 'events_2024');
  await at('cold/realtime-shared', path.join(cold, T), 'shared', { creationTime: 7 });
  await at('data/offline-shared', path.join(dataDir, 'events_OFFLINE'), 'shared', { creationTime: 8 });

  // Escapes attempted through a tier root: symlinked segment and table directories (to outside, and into
  // the data dir), a symlinked v3/ and creation.meta, and transient directories.
  const secret = await buildSegment(path.join(outside, T), { name: 'secret' });
  await symlink(secret.dir, path.join(cold, T, 'linked_out'));
  await symlink(built['data/1']!.dir, path.join(cold, T, 'linked_in'));
  await symlink(path.join(outside, T), path.join(warm, 'victim_REALTIME'));
  await symlink(path.join(dataDir, T), path.join(warm, 'alias_REALTIME'));
  const v3Elsewhere = await buildSegment(outside, { name: 'v3source', layout: 'v3' });
  await mkdir(path.join(cold, T, 'v3link'));
  await symlink(path.join(v3Elsewhere.dir, 'v3'), path.join(cold, T, 'v3link', 'v3'));
  const metaLink = await buildSegment(path.join(cold, T), { name: 'metalink', sealed: false });
  await symlink(path.join(secret.dir, 'creation.meta'), path.join(metaLink.dir, 'creation.meta'));
  await buildSegment(path.join(cold, T), { name: 'tmp-seg-0b4e6f0e' });
  await buildSegment(path.join(cold, T), { name: `${s(9)}.segment.bak` });
  await writeFile(path.join(cold, T, 'plainfile'), 'x');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('SegmentStore with tier data dirs', () => {
  it('finds a segment that lives only in a tier data dir', async () => {
    const segment = await store.resolve(T, s(2));
    expect(segment).toMatchObject({
      tableNameWithType: T,
      segmentName: s(2),
      dir: path.join(cold, T, s(2)),
      creationMetaPath: path.join(cold, T, s(2), 'v3', 'creation.meta'),
      creationMeta: { crc: built['cold/2']!.crc },
    });
  });

  it.each([
    ['the data dir before any tier', s(3), 'data', 1],
    ['an earlier tier before a later one', s(4), 'warm', 4],
    ['a sealed tier copy over an unsealed data-dir copy', s(5), 'cold', 6],
    ['the data dir when no tier has it', s(1), 'data', 1],
  ] as const)('prefers %s', async (_label, segment, where, creationTime) => {
    const rootDir = { data: dataDir, warm, cold }[where];
    const found = await store.resolve(T, segment);
    expect(found.dir).toBe(path.join(rootDir, T, segment));
    expect(found.creationMeta.creationTime).toBe(creationTime);
  });

  it('a raw table name still tries REALTIME (in every root) before OFFLINE', async () => {
    expect((await store.resolve('events', 'shared')).dir).toBe(path.join(cold, T, 'shared'));
    expect((await store.resolve('events', 'events_2024')).dir).toBe(path.join(cold, 'events_OFFLINE', 'events_2024'));
  });

  it('a tier root may itself be a symlink (operator configuration); the paths returned are canonical', async () => {
    const link = path.join(root, 'cold-link');
    await symlink(cold, link);
    const found = await new SegmentStore(dataDir, { tierDataDirs: [link] }).resolve(T, s(2));
    expect(found.dir).toBe(path.join(cold, T, s(2)));
  });

  it('without tier data dirs, a segment on a tier is not found (the store before tiers)', async () => {
    await expect(new SegmentStore(dataDir).resolve(T, s(2))).rejects.toBeInstanceOf(SegmentNotFoundError);
  });

  it('names every root it looked in, a tier not created yet included', async () => {
    const err = (await store.resolve(T, s(7)).catch((e: unknown) => e)) as SegmentNotFoundError;
    expect(err).toBeInstanceOf(SegmentNotFoundError);
    expect(err.reason).toBe(
      [
        `${T}: segment directory absent`,
        `${T} in tier data dir ${missingTier}: absent`,
        `${T} in tier data dir ${warm}: segment directory absent`,
        `${T} in tier data dir ${cold}: segment directory absent`,
      ].join('; '),
    );
  });

  it.each([
    ['segment dir symlinked outside', T, 'linked_out'],
    ['segment dir symlinked to a sealed segment of the data dir', T, 'linked_in'],
    ['table dir symlinked outside', 'victim_REALTIME', 'secret'],
    ['raw name whose tier table dir is a symlink', 'victim', 'secret'],
    ["table dir symlinked to the data dir's table", 'alias_REALTIME', s(1)],
    ['v3/ is a symlink', T, 'v3link'],
    ['creation.meta is a symlink', T, 'metalink'],
    ['download tmp dir', T, 'tmp-seg-0b4e6f0e'],
    ['backup dir', T, `${s(9)}.segment.bak`],
    ['segment is a plain file', T, 'plainfile'],
  ])('refuses an escape through a tier root: %s → SegmentNotFoundError', async (_label, table, segment) => {
    const err = await store.resolve(table, segment).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SegmentNotFoundError);
    expect(err).toMatchObject({ table, segment, retriable: false });
  });

  it.each([
    ['..', s(2)],
    [T, '..'],
    [T, '../../outside/events_REALTIME/secret'],
    [`${T}/..`, s(2)],
    ['..%2Fcold', s(2)],
    [T, 'a\u0000b'],
  ])('malformed names (%j, %j) → InvalidNameError before any root is touched', async (table, segment) => {
    await expect(store.resolve(table, segment)).rejects.toBeInstanceOf(InvalidNameError);
  });

  it('a data dir that is missing is still a read error, whatever the tiers hold', async () => {
    await expect(
      new SegmentStore(path.join(root, 'no-data'), { tierDataDirs: [cold] }).resolve(T, s(2)),
    ).rejects.toBeInstanceOf(SegmentReadError);
  });

  it('a tier root that is a plain file holds nothing', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'x');
    await expect(new SegmentStore(dataDir, { tierDataDirs: [file] }).resolve(T, s(2))).rejects.toBeInstanceOf(
      SegmentNotFoundError,
    );
  });

  it('lists the servable segments of every root once, sorted', async () => {
    expect(await store.listSegments(T)).toEqual([s(1), s(2), s(3), s(4), s(5), 'shared'].sort());
    expect(await store.listSegments('events_OFFLINE')).toEqual(['events_2024', 'shared']);
    expect(await store.listSegments('victim_REALTIME')).toEqual([]);
  });
});
