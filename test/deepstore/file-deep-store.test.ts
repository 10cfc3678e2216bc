import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { FileDeepStore, foldersToSync } from '../../src/deepstore/file-deep-store.js';
import { isTempFileName, TEMP_FOLDER } from '../../src/deepstore/file-store-temps.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../helpers/fixtures.js';
import { openFdCount } from '../helpers/tree.js';
import { creationMeta, MiB, PatternSource, rejection, segmentArchive, sha256 } from './support.js';

let root: string;
let store: FileDeepStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'deepstore-file-'));
  store = new FileDeepStore(pathToFileURL(root).href);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** What the sidecar's temp folder holds (nothing once every put() has finished, whatever its outcome). */
async function tempFiles(): Promise<string[]> {
  return readdir(path.join(root, TEMP_FOLDER));
}

describe('FileDeepStore round trips', () => {
  it('writes the archive at the canonical path and reads its CRC back out of creation.meta', async () => {
    const segment = 'myTable__0__5__20240101T0000Z';
    const archive = await segmentArchive(segment, [
      { name: 'creation.meta', data: creationMeta(2641412145n) },
      { name: 'metadata.properties', data: Buffer.from(`segment.name = ${segment}\n`) },
    ]);
    const uri = store.segmentUri('myTable', segment);
    expect(uri).toBe(`${pathToFileURL(root).href}/myTable/${segment}`);

    expect(await store.put(uri, Readable.from([archive]), { crc: '2641412145' })).toEqual({ bytes: archive.length });
    expect(await store.head(uri)).toEqual({ bytes: archive.length, crc: '2641412145' });
    expect(await readFile(path.join(root, 'myTable', segment))).toEqual(archive);
    expect(await readdir(path.join(root, 'myTable'))).toEqual([segment]); // no CRC side file
    expect(await readdir(root)).toEqual([TEMP_FOLDER, 'myTable'].sort());
    expect(await tempFiles()).toEqual([]);
  });

  it('reads the CRC of a v3-layout archive', async () => {
    const archive = await segmentArchive('s3v', [
      { name: 'v3/columns.psf', data: Buffer.alloc(64 * 1024, 3) },
      { name: 'v3/creation.meta', data: creationMeta(1n, 2n, 3n) },
    ]);
    const uri = store.segmentUri('t', 's3v');
    await store.put(uri, Readable.from([archive]), { crc: '1' });
    expect(await store.head(uri)).toEqual({ bytes: archive.length, crc: '1' });
  });

  it('decodes the encoded segment name into the file name, as LocalPinotFS does', async () => {
    const uri = store.segmentUri('t', 'seg é~1');
    expect(uri.endsWith('/t/seg+%C3%A9%7E1')).toBe(true);
    await store.put(uri, Readable.from([Buffer.from('x')]), { crc: '1' });
    expect(await readdir(path.join(root, 't'))).toEqual(['seg+é~1']);
  });

  it('stores a segment whose name is as long as a file name may be (the temp file name does not carry it)', async () => {
    const segment = `${'s'.repeat(249)}__0__1`; // 255 bytes: NAME_MAX
    const uri = store.segmentUri('t', segment);
    expect(await store.put(uri, Readable.from([Buffer.from('x')]), { crc: '1' })).toEqual({ bytes: 1 });
    expect(await readdir(path.join(root, 't'))).toEqual([segment]);
    expect(await tempFiles()).toEqual([]);
  });

  it('replaces an existing object whole', async () => {
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, Readable.from([Buffer.from('old contents, longer')]), { crc: '1' });
    await store.put(uri, Readable.from([Buffer.from('new')]), { crc: '2' });
    expect(await readFile(path.join(root, 't', 'seg'), 'utf8')).toBe('new');
    expect(await readdir(path.join(root, 't'))).toEqual(['seg']);
  });

  it('writes a large stream in full', async () => {
    const uri = store.segmentUri('t', 'big');
    const source = new PatternSource(24 * MiB);
    expect(await store.put(uri, source, { crc: '5' })).toEqual({ bytes: 24 * MiB });
    expect(sha256(await readFile(path.join(root, 't', 'big')))).toBe(source.digest());
  });
});

describe(`FileDeepStore with Apache Pinot's own archives${fixturesSkipNote}`, () => {
  it.skipIf(!hasPinotFixtures).each([
    ['legacyRawInverted_OFFLINE_0.tar.gz', '1299627447'],
    ['legacyRawInverted_v3_OFFLINE_0.tar.gz', '1299627447'],
    ['paddingPercent.tar.gz', '3757555477'],
  ])('%s → crc %s', async (name, crc) => {
    const bytes = await readFile(pinotFixture(name));
    const uri = store.segmentUri('legacy', name.replace('.tar.gz', ''));
    await store.put(uri, Readable.from([bytes]), { crc });
    expect(await store.head(uri)).toEqual({ bytes: bytes.length, crc });
  });
});

describe('FileDeepStore failures leave nothing at the final key', () => {
  it('a source stream failing mid-way: the source error, no file, no temp file', async () => {
    const uri = store.segmentUri('t', 'seg');
    const vanished = Object.assign(new Error('segment directory removed'), { code: 'ENOENT' });
    const body = new PatternSource(64 * MiB, { failAfter: 5 * MiB, failWith: vanished });

    expect(await rejection(store.put(uri, body, { crc: '1' }))).toBe(vanished);
    expect(body.destroyed).toBe(true);
    expect(await readdir(path.join(root, 't'))).toEqual([]);
    expect(await tempFiles()).toEqual([]);
    expect(await store.head(uri)).toBeNull();
  });

  it('a generator-backed source that throws mid-way (like a segment archive whose directory vanished): that error, retriable as it says', async () => {
    const uri = store.segmentUri('t', 'seg-gen');
    const changed = Object.assign(new Error('segment changed while being read'), { retriable: true });
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 8; i++) yield Buffer.alloc(MiB, i);
        throw changed;
      })(),
    );
    expect(await rejection(store.put(uri, body, { crc: '1' }))).toBe(changed);
    expect(await readdir(path.join(root, 't'))).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  });

  it("writes to a temp file of its own in the sidecar's temp folder while in progress, none in the table folder; an abort removes it", async () => {
    const uri = store.segmentUri('t', 'seg');
    const body = new PatternSource(64 * MiB, { stallAfter: 3 * MiB });
    const controller = new AbortController();
    const put = store.put(uri, body, { crc: '1' }, { signal: controller.signal });

    await vi.waitFor(async () => {
      const names = await tempFiles();
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.part$/);
      expect(isTempFileName(names[0]!)).toBe(true);
    });
    expect(await readdir(path.join(root, 't'))).toEqual([]);
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await rejection(put)).toBe(reason);
    expect(body.destroyed).toBe(true);
    expect(await readdir(path.join(root, 't'))).toEqual([]);
    expect(await tempFiles()).toEqual([]);
  });

  it('a failing rename (a folder sits at the key): classified, temp file removed, the folder untouched', async () => {
    const uri = store.segmentUri('t', 'seg');
    await mkdir(path.join(root, 't', 'seg', 'inside'), { recursive: true });
    const err = await rejection(store.put(uri, Readable.from([Buffer.from('data')]), { crc: '1' }));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(['EISDIR', 'ENOTEMPTY', 'EEXIST']).toContain((err as DeepStoreError).code);
    expect(err).toMatchObject({ retriable: false });
    expect(await readdir(path.join(root, 't'))).toEqual(['seg']);
    expect(await readdir(path.join(root, 't', 'seg'))).toEqual(['inside']);
    expect(await tempFiles()).toEqual([]);
  });

  it('refuses to create a missing deep-store folder (an unmounted volume), without writing anything', async () => {
    const missing = path.join(root, 'not-mounted');
    const unmounted = new FileDeepStore(pathToFileURL(missing).href);
    const body = Readable.from([Buffer.from('x')]);
    const err = await rejection(unmounted.put(unmounted.segmentUri('t', 'seg'), body, { crc: '1' }));
    expect(err).toMatchObject({ code: 'DeepStoreFolderMissing', retriable: false });
    expect(body.destroyed).toBe(true);
    expect(await readdir(root)).toEqual([]); // neither the base folder nor a temp folder in it
  });

  it.each([
    [
      'a URI outside the deep store',
      () => pathToFileURL(path.join(path.dirname(root), 'elsewhere', 't', 'seg')).href,
      '1',
      'UriOutsideDeepStore',
    ],
    ['a URI that climbs out', () => `${pathToFileURL(root).href}/t/../../x`, '1', 'UriOutsideDeepStore'],
    ['an s3 URI', () => 's3://bucket/t/seg', '1', 'UriOutsideDeepStore'],
    ['a bad CRC', () => store.segmentUri('t', 'seg'), 'abc', 'InvalidCrc'],
  ])('refuses %s before writing', async (_what, uri, crc, code) => {
    const body = Readable.from([Buffer.from('x')]);
    const err = await rejection(store.put(uri(), body, { crc }));
    expect(err).toMatchObject({ code, retriable: false });
    expect(body.destroyed).toBe(true);
    expect(await readdir(root)).toEqual([]);
  });
});

describe('FileDeepStore.head', () => {
  it('is null when there is no file (nor table folder)', async () => {
    expect(await store.head(store.segmentUri('t', 'seg'))).toBeNull();
    await mkdir(path.join(root, 't'));
    expect(await store.head(store.segmentUri('t', 'seg'))).toBeNull();
  });

  it('reports crc null for a file that is not a segment archive: the object exists, its CRC is unknown', async () => {
    await mkdir(path.join(root, 't'));
    await writeFile(path.join(root, 't', 'seg'), 'not an archive\n');
    expect(await store.head(store.segmentUri('t', 'seg'))).toEqual({ bytes: 15, crc: null });
  });

  it('refuses a folder at the key (never a segment object)', async () => {
    await mkdir(path.join(root, 't', 'seg'), { recursive: true });
    expect(await rejection(store.head(store.segmentUri('t', 'seg')))).toMatchObject({
      code: 'NotAFile',
      retriable: false,
    });
  });

  it('rejects with the reason of an aborted signal', async () => {
    const reason = new Error('stop');
    expect(await rejection(store.head(store.segmentUri('t', 'seg'), { signal: AbortSignal.abort(reason) }))).toBe(
      reason,
    );
  });
});

describe('FileDeepStore.get', () => {
  it('streams the object back byte for byte, with its size', async () => {
    const uri = store.segmentUri('t', 'big');
    const source = new PatternSource(24 * MiB);
    await store.put(uri, source, { crc: '5' });
    const { body, bytes } = await store.get(uri);
    expect(bytes).toBe(24 * MiB);
    expect(sha256(await buffer(body))).toBe(source.digest());
  });

  it('releases the file when the reader destroys the body early', async () => {
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, new PatternSource(8 * MiB), { crc: '1' });
    const before = openFdCount();
    const { body } = await store.get(uri);
    expect(openFdCount()).toBe(before + 1);
    body.destroy();
    await vi.waitFor(() => expect(openFdCount()).toBe(before));
  });

  it('a missing object (or table folder) is NoSuchKey, permanent', async () => {
    expect(await rejection(store.get(store.segmentUri('t', 'seg')))).toMatchObject({
      code: 'NoSuchKey',
      retriable: false,
    });
    await mkdir(path.join(root, 't'));
    const err = await rejection(store.get(store.segmentUri('t', 'seg')));
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ code: 'NoSuchKey' });
  });

  it.each([
    [
      'a folder at the key',
      async () => mkdir(path.join(root, 't', 'seg'), { recursive: true }),
      () => store.segmentUri('t', 'seg'),
      'NotAFile',
    ],
    [
      'a URI that climbs out',
      async () => {},
      () => `${pathToFileURL(root).href}/t/../../etc/passwd`,
      'UriOutsideDeepStore',
    ],
  ])('refuses %s', async (_what, setup, uri, code) => {
    await setup();
    expect(await rejection(store.get(uri()))).toMatchObject({ code, retriable: false });
  });

  it("aborting destroys the body with the signal's reason; an aborted signal rejects at once", async () => {
    const uri = store.segmentUri('t', 'seg');
    await store.put(uri, new PatternSource(8 * MiB), { crc: '1' });
    const controller = new AbortController();
    const { body } = await store.get(uri, { signal: controller.signal });
    const reason = new Error('stop');
    controller.abort(reason);
    expect(await rejection(buffer(body))).toBe(reason);
    expect(await rejection(store.get(uri, { signal: AbortSignal.abort(reason) }))).toBe(reason);
  });
});

describe('foldersToSync', () => {
  it.each([
    ['/deep/t', undefined, ['/deep/t']], // the table folder existed: only the new name needs syncing
    ['/deep/t', '/deep/t', ['/deep/t', '/deep']], // mkdir made the table folder: its entry lives in /deep
    ['/deep/a/b', '/deep/a', ['/deep/a/b', '/deep/a', '/deep']],
  ])('%s (created %s) → %j', (dir, created, expected) => {
    expect(foldersToSync(dir, created)).toEqual(expected);
  });
});
