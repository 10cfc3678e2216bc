import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FILE_STORE_DEFAULTS, FileDeepStore } from '../../src/deepstore/file-deep-store.js';
import { S3DeepStore } from '../../src/deepstore/s3-deep-store.js';
import { tmpSegmentFileName } from '../../src/deepstore/segment-key.js';
import { repoRoot } from '../helpers/fixtures.js';
import { MiB } from './support.js';

/**
 * A sidecar killed mid-upload leaves its temp file in the file deep store; sweepStaleTemps() removes exactly
 * those, once old enough (issue 10, item 15).
 */

const SEGMENT = 'events__0__3__20240101T0000Z';
const UUID = '0b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const HOUR = 60 * 60 * 1000;

let root: string;
let store: FileDeepStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'deepstore-sweep-'));
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

/** Run put() in a child process, wait until its temp file holds `bytes`, SIGKILL it: the temp file stays. */
async function killedMidPut(table: string, segment: string, bytes: number): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/deepstore/put-until-killed.ts'), store.baseUri, table, segment, String(bytes)], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(child, 'exit');
  try {
    let tmp = '';
    await vi.waitFor(
      async () => {
        const names = await readdir(path.join(root, table)).catch(() => []);
        expect(names).toHaveLength(1);
        tmp = path.join(root, table, names[0]!);
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
    expect(path.basename(killedTemp)).toMatch(new RegExp(`^${SEGMENT}\\.sidecar-tmp\\.`));
    await age(killedTemp, 2 * HOUR);

    const table = path.join(root, 'events');
    const old = async (file: string, content = 'x'): Promise<string> => {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content);
      await age(file, 2 * HOUR);
      return file;
    };
    const kept = [
      // a temp file of a put still writing: fresh mtime
      path.join(table, tmpSegmentFileName('other_segment', '1b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b')),
      // the final objects, however old
      await old(path.join(table, SEGMENT)),
      // Pinot's own temp files (a server's upload the controller has yet to move, or a DONE segment's URL)
      await old(path.join(table, `${SEGMENT}.tmp.${UUID}`)),
      // names close to ours but not made by tmpSegmentFileName
      await old(path.join(table, `${SEGMENT}.sidecar-tmp.${UUID.toUpperCase()}`)),
      await old(path.join(table, `${SEGMENT}.sidecar-tmp.${UUID}.keep`)),
      // one of our names outside a table folder (directly under the base, or one folder deeper)
      await old(path.join(root, tmpSegmentFileName(SEGMENT, UUID))),
      await old(path.join(table, 'nested', tmpSegmentFileName(SEGMENT, UUID))),
    ];
    await writeFile(kept[0]!, 'still being written');

    // A symlink named like our temp file, to an old file elsewhere: neither the link nor its target goes.
    const outside = await mkdtemp(path.join(tmpdir(), 'deepstore-sweep-outside-'));
    try {
      const target = await old(path.join(outside, 'precious'));
      const link = path.join(table, tmpSegmentFileName('linked', '2b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'));
      await symlink(target, link);
      // A table folder that is a symlink to a folder holding one of our old temp names: not followed.
      const linkedTableTarget = path.join(outside, 'tbl');
      const inLinkedTable = await old(path.join(linkedTableTarget, tmpSegmentFileName(SEGMENT, UUID)));
      await symlink(linkedTableTarget, path.join(root, 'linked_table'));

      const killedSize = (await stat(killedTemp)).size;
      expect(await store.sweepStaleTemps({ olderThanMs: 60_000 })).toEqual({ removed: 1, bytes: killedSize });

      await expect(lstat(killedTemp)).rejects.toMatchObject({ code: 'ENOENT' });
      for (const file of [...kept, target, inLinkedTable]) expect((await lstat(file)).isFile()).toBe(true);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it(`by default keeps temp files younger than ${FILE_STORE_DEFAULTS.staleTempAgeMs / HOUR} h (by mtime) and removes older ones`, async () => {
    expect(FILE_STORE_DEFAULTS.staleTempAgeMs).toBe(HOUR);
    const table = path.join(root, 't');
    await mkdir(table);
    const young = path.join(table, tmpSegmentFileName('a', '3b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'));
    const stale = path.join(table, tmpSegmentFileName('b', '4b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'));
    await writeFile(young, 'young');
    await writeFile(stale, 'stale!');
    await age(young, HOUR - 5 * 60_000);
    await age(stale, HOUR + 5 * 60_000);
    expect(await store.sweepStaleTemps()).toEqual({ removed: 1, bytes: 6 });
    expect(await readdir(table)).toEqual([path.basename(young)]);
  });

  it('a put in progress is never swept: each write moves its temp file\'s mtime to now', async () => {
    const body = new PassThrough();
    const uri = store.segmentUri('t', SEGMENT);
    const put = store.put(uri, body, { crc: '1' });
    body.write(Buffer.alloc(MiB, 1));
    let tmp = '';
    await vi.waitFor(async () => {
      const names = await readdir(path.join(root, 't'));
      expect(names).toHaveLength(1);
      tmp = path.join(root, 't', names[0]!);
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
  });

  it('an empty or missing base folder has nothing to sweep; an aborted signal rejects', async () => {
    expect(await store.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });
    const missing = new FileDeepStore(pathToFileURL(path.join(root, 'not-mounted')).href);
    expect(await missing.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });
    await mkdir(path.join(root, 't'));
    const reason = new Error('stop');
    await expect(store.sweepStaleTemps({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});

describe('S3DeepStore.sweepStaleTemps', () => {
  it('has nothing to sweep and sends no request (the endpoint does not even exist)', async () => {
    const s3 = new S3DeepStore('s3://bucket/pinot', { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    try {
      expect(await s3.sweepStaleTemps({ olderThanMs: 0 })).toEqual({ removed: 0, bytes: 0 });
    } finally {
      await s3.close();
    }
  });
});
