import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FILE_STORE_DEFAULTS, FileDeepStore } from '../../src/deepstore/file-deep-store.js';
import { TEMP_FOLDER, tempFileName } from '../../src/deepstore/file-store-temps.js';
import { S3DeepStore } from '../../src/deepstore/s3-deep-store.js';
import { repoRoot } from '../helpers/fixtures.js';
import { creationMeta, MiB, rejection, segmentArchive } from './support.js';

/**
 * A sidecar killed mid-upload leaves its temp file in the file deep store; sweepStaleTemps() removes exactly
 * those, once old enough (issue 10, item 15), and never a segment, whatever its name or its table's.
 */

const SEGMENT = 'events__0__3__20240101T0000Z';
const UUID = '0b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const HOUR = 60 * 60 * 1000;

let root: string;
/** `<root>/.pinot-sidecar.tmp`, where put() writes its temp files. */
let temps: string;
let store: FileDeepStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'deepstore-sweep-'));
  temps = path.join(root, TEMP_FOLDER);
  store = new FileDeepStore(pathToFileURL(root).href);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Set a file's mtime (and atime) `ageMs` into the past. */
async function age(file: string, ageMs: number): Promise<void> {
  const when = new Date(Date.now() - ageMs);
  await utimes(file, when, when);
}

/** Write `content` to `file` (making its folder) and make it two hours old. */
async function oldFile(file: string, content = 'x'): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await age(file, 2 * HOUR);
  return file;
}

/** Run put() in a child process, wait until its temp file holds `bytes`, SIGKILL it: the temp file stays. */
async function killedMidPut(table: string, segment: string, bytes: number): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'test/deepstore/put-until-killed.ts'),
      store.baseUri,
      table,
      segment,
      String(bytes),
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = once(child, 'exit');
  try {
    let tmp = '';
    await vi.waitFor(
      async () => {
        const names = await readdir(temps).catch(() => []);
        expect(names).toHaveLength(1);
        tmp = path.join(temps, names[0]!);
        expect((await stat(tmp)).size).toBe(bytes);
      },
      { timeout: 20_000, interval: 50 },
    );
    child.kill('SIGKILL');
    const [code, signal] = await exited;
    expect([code, signal]).toEqual([null, 'SIGKILL']);
    return tmp;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('FileDeepStore.sweepStaleTemps', () => {
  it('removes the temp file of a put killed mid-write, and nothing else', async () => {
    const killedTemp = await killedMidPut('events', SEGMENT, 3 * MiB);
    expect(path.dirname(killedTemp)).toBe(temps);
    expect(path.basename(killedTemp)).toMatch(/^[0-9a-f-]{36}\.part$/);
    expect(await readdir(path.join(root, 'events'))).toEqual([]); // the table folder holds no temp file
    await age(killedTemp, 2 * HOUR);

    const table = path.join(root, 'events');
    const kept = [
      // a temp file of a put still writing: fresh mtime
      path.join(temps, tempFileName('1b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b')),
      // the final objects, however old
      await oldFile(path.join(table, SEGMENT)),
      // Pinot's own temp files (a server's upload the controller has yet to move, or a DONE segment's URL)
      await oldFile(path.join(table, `${SEGMENT}.tmp.${UUID}`)),
      // names close to ours in the temp folder, but not made by tempFileName
      await oldFile(path.join(temps, `${UUID.toUpperCase()}.part`)),
      await oldFile(path.join(temps, `${tempFileName(UUID)}.keep`)),
      // our name in a table folder (a segment so named), directly under the base, or one folder deeper
      await oldFile(path.join(table, tempFileName(UUID))),
      await oldFile(path.join(table, `${SEGMENT}.sidecar-tmp.${UUID}`)),
      await oldFile(path.join(root, tempFileName(UUID))),
      await oldFile(path.join(temps, 'nested', tempFileName(UUID))),
    ];
    await writeFile(kept[0]!, 'still being written');

    // A symlink named like our temp file, to an old file elsewhere: neither the link nor its target goes.
    const outside = await mkdtemp(path.join(tmpdir(), 'deepstore-sweep-outside-'));
    try {
      const target = await oldFile(path.join(outside, 'precious'));
      const link = path.join(temps, tempFileName('2b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'));
      await symlink(target, link);

      const killedSize = (await stat(killedTemp)).size;
      expect(await store.sweepStaleTemps({ olderThanMs: 60_000 })).toEqual({ removed: 1, bytes: killedSize });

      await expect(lstat(killedTemp)).rejects.toMatchObject({ code: 'ENOENT' });
      for (const file of [...kept, target]) expect((await lstat(file)).isFile()).toBe(true);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('a temp folder that is a symlink is not followed (put() refuses to write through one, too)', async () => {
    const outside = await mkdtemp(path.join(tmpdir(), 'deepstore-sweep-outside-'));
    try {
      const inLinkedFolder = await oldFile(path.join(outside, tempFileName(UUID)));
      await symlink(outside, temps);
      expect(await store.sweepStaleTemps({ olderThanMs: 60_000 })).toEqual({ removed: 0, bytes: 0 });
      expect((await lstat(inLinkedFolder)).isFile()).toBe(true);

      const body = Readable.from([Buffer.from('x')]);
      const err = await rejection(store.put(store.segmentUri('t', 'seg'), body, { crc: '1' }));
      expect(err).toMatchObject({ code: 'TempFolderBlocked', retriable: false });
      expect((err as Error).message).toContain(`the temp folder ${temps} is a symlink; it must be a real folder`);
      expect(await readdir(outside)).toEqual([tempFileName(UUID)]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it(`by default keeps temp files younger than ${FILE_STORE_DEFAULTS.staleTempAgeMs / HOUR} h (by mtime) and removes older ones`, async () => {
    expect(FILE_STORE_DEFAULTS.staleTempAgeMs).toBe(HOUR);
    await mkdir(temps);
    const young = path.join(temps, tempFileName('3b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'));
    const stale = path.join(temps, tempFileName('4b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'));
    await writeFile(young, 'young');
    await writeFile(stale, 'stale!');
    await age(young, HOUR - 5 * 60_000);
    await age(stale, HOUR + 5 * 60_000);
    expect(await store.sweepStaleTemps()).toEqual({ removed: 1, bytes: 6 });
    expect(await readdir(temps)).toEqual([path.basename(young)]);
  });

  it("a put in progress is never swept: each write moves its temp file's mtime to now", async () => {
    const body = new PassThrough();
    const uri = store.segmentUri('t', SEGMENT);
    const put = store.put(uri, body, { crc: '1' });
    body.write(Buffer.alloc(MiB, 1));
    let tmp = '';
    await vi.waitFor(async () => {
      const names = await readdir(temps);
      expect(names).toHaveLength(1);
      tmp = path.join(temps, names[0]!);
      expect((await stat(tmp)).size).toBe(MiB);
    });
    // A put that started long ago (a huge segment on a slow volume) and is still writing.
    await age(tmp, 2 * HOUR);
    body.write(Buffer.alloc(MiB, 2));
    await vi.waitFor(async () => expect((await stat(tmp)).size).toBe(2 * MiB));

    expect(await store.sweepStaleTemps({ olderThanMs: 60_000 })).toEqual({ removed: 0, bytes: 0 });
    body.end(Buffer.alloc(MiB, 3));
    expect(await put).toEqual({ bytes: 3 * MiB });
    expect(await readdir(path.join(root, 't'))).toEqual([SEGMENT]);
    expect(await readdir(temps)).toEqual([]);
  });

  it("an empty or missing base folder, or a file at the temp folder's name, has nothing to sweep; an aborted signal rejects", async () => {
    expect(await store.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });
    const missing = new FileDeepStore(pathToFileURL(path.join(root, 'not-mounted')).href);
    expect(await missing.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });
    await oldFile(temps);
    expect(await store.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });
    expect((await lstat(temps)).isFile()).toBe(true);
    await rm(temps);
    await mkdir(temps);
    const reason = new Error('stop');
    await expect(store.sweepStaleTemps({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});

describe("FileDeepStore.sweepStaleTemps never removes a segment, whatever its name or its table's", () => {
  /** Store a real archive of `segment` in `table` with put() and make it two hours old. */
  async function storedSegment(table: string, segment: string): Promise<{ uri: string; file: string; bytes: number }> {
    const archive = await segmentArchive(segment, [{ name: 'creation.meta', data: creationMeta(1234567890n) }]);
    const uri = store.segmentUri(table, segment);
    expect(await store.put(uri, Readable.from([archive]), { crc: '1234567890' })).toEqual({ bytes: archive.length });
    const file = path.join(root, table, segment);
    expect((await stat(file)).size).toBe(archive.length);
    await age(file, 2 * HOUR);
    return { uri, file, bytes: archive.length };
  }

  // Review of item 15: the sweep used to decide "ours" by the file name alone, in the table folders, and a
  // segment's file name is its decoded segment name, on which Pinot puts no rule beyond "/".
  it.each([
    ['the old temp name shape `<segment>.sidecar-tmp.<uuid v4>`', 'events', `events_2024-01-01.sidecar-tmp.${UUID}`],
    ['exactly the temp file name shape `<uuid v4>.part`', 'events', tempFileName(UUID)],
    [
      'a temp file name, in a table named like the temp folder with one dot (a name Pinot accepts)',
      '.pinot-sidecar-tmp',
      tempFileName(UUID),
    ],
    [
      'a temp file name, in a table named like the temp folder without the leading dot',
      'pinot-sidecar.tmp',
      tempFileName(UUID),
    ],
  ])('a segment named %s is stored, swept, and survives', async (_what, table, segment) => {
    const { uri, file, bytes } = await storedSegment(table, segment);
    expect(await readdir(path.join(root, table))).toEqual([segment]);

    expect(await store.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });

    expect((await stat(file)).size).toBe(bytes);
    expect(await store.head(uri)).toEqual({ bytes, crc: '1234567890' });
  });

  it('no table can live in the temp folder: put() refuses a URI there, before writing anything', async () => {
    const body = Readable.from([Buffer.from('x')]);
    for (const uri of [
      store.segmentUri(TEMP_FOLDER, SEGMENT),
      `${store.baseUri}/${TEMP_FOLDER}/${tempFileName(UUID)}`,
    ]) {
      expect(await rejection(store.put(uri, body, { crc: '1' }))).toMatchObject({
        code: 'UriInTempFolder',
        retriable: false,
      });
    }
    expect(body.destroyed).toBe(true);
    expect(await readdir(root)).toEqual([]);
  });
});

describe('S3DeepStore.sweepStaleTemps', () => {
  it('has nothing to sweep and sends no request (the endpoint does not even exist)', async () => {
    const s3 = new S3DeepStore('s3://bucket/pinot', {
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
    });
    try {
      expect(await s3.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });
    } finally {
      await s3.close();
    }
  });
});
