import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileDeepStore } from '../../src/deepstore/file-deep-store.js';
import { TEMP_FOLDER } from '../../src/deepstore/file-store-temps.js';
import { mountTinyTmpfs } from '../helpers/tiny-tmpfs.js';
import { rejection } from './support.js';

/**
 * FileDeepStore.probe() on a real file system (issue 12, "deep store unusable"): the write probe writes only in
 * the store's own temp folder, as put() writes, and leaves nothing; a missing folder, a blocked temp folder and
 * a read-only mount are each reported with the step and a cause an operator can act on.
 */

describe('FileDeepStore.probe on a usable store', () => {
  let base: string;
  let store: FileDeepStore;

  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'deepstore-probe-'));
    store = new FileDeepStore(pathToFileURL(base).href);
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('write: up; the probe file was <base>/.pinot-sidecar.tmp/<name>.probe and nothing is left anywhere', async () => {
    const result = await store.probe('write', { name: 'Server_pinot-server-0_8098' });
    expect(result).toEqual({
      ok: true,
      mode: 'write',
      uri: pathToFileURL(path.join(base, TEMP_FOLDER, 'Server_pinot-server-0_8098.probe')).href,
    });
    expect(await readdir(base)).toEqual([TEMP_FOLDER]);
    expect(await readdir(path.join(base, TEMP_FOLDER))).toEqual([]);
  });

  it('write without a name: one random name per store, in the temp folder', async () => {
    const first = await store.probe('write');
    const second = await store.probe('write');
    expect(first.ok && second.ok).toBe(true);
    expect(second.uri).toBe(first.uri);
    expect(first.uri).toMatch(new RegExp(`/${TEMP_FOLDER.replaceAll('.', '\\.')}/[0-9a-f-]{36}\\.probe$`));
    expect(await readdir(path.join(base, TEMP_FOLDER))).toEqual([]);
  });

  it('write: a probe file an earlier (killed) probe left is replaced and removed', async () => {
    await mkdir(path.join(base, TEMP_FOLDER));
    await writeFile(path.join(base, TEMP_FOLDER, 'me.probe'), 'left by a killed probe');
    expect(await store.probe('write', { name: 'me' })).toMatchObject({ ok: true });
    expect(await readdir(path.join(base, TEMP_FOLDER))).toEqual([]);
  });

  it('read: up, and writes nothing (not even the temp folder)', async () => {
    await mkdir(path.join(base, 'myTable'));
    expect(await store.probe('read')).toEqual({ ok: true, mode: 'read', uri: pathToFileURL(base).href });
    expect(await readdir(base)).toEqual(['myTable']);
  });

  it('an aborted probe rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stopping');
    controller.abort(reason);
    expect(await rejection(store.probe('write', { signal: controller.signal }))).toBe(reason);
    expect(await readdir(base)).toEqual([]);
  });
});

describe('FileDeepStore.probe on an unusable store', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'deepstore-probe-bad-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each(['write', 'read'] as const)(
    '%s: a missing base folder is DeepStoreFolderMissing at step folder, and is never created',
    async (mode) => {
      const base = path.join(root, 'not-mounted');
      const result = await new FileDeepStore(pathToFileURL(base).href).probe(mode);
      expect(result).toMatchObject({
        ok: false,
        mode,
        step: 'folder',
        error: { code: 'DeepStoreFolderMissing', retriable: false },
      });
      expect(!result.ok && result.error.message).toBe(
        `deep-store ${mode} probe failed at folder: deep-store folder ${base} is missing or not a folder (is the volume mounted?)`,
      );
      expect(await readdir(root)).toEqual([]);
    },
  );

  it('a file where the base folder should be: DeepStoreFolderMissing', async () => {
    await writeFile(path.join(root, 'store'), 'not a folder');
    expect(await new FileDeepStore(pathToFileURL(path.join(root, 'store')).href).probe('write')).toMatchObject({
      ok: false,
      step: 'folder',
      error: { code: 'DeepStoreFolderMissing' },
    });
  });

  it('a file where the temp folder should be: TempFolderBlocked at step write, the file untouched', async () => {
    await writeFile(path.join(root, TEMP_FOLDER), 'in the way');
    const result = await new FileDeepStore(pathToFileURL(root).href).probe('write');
    expect(result).toMatchObject({ ok: false, step: 'write', error: { code: 'TempFolderBlocked', retriable: false } });
    expect(!result.ok && result.error.message).toContain('a file is in the way');
    expect(await readFile(path.join(root, TEMP_FOLDER), 'utf8')).toBe('in the way');
  });
});

/**
 * A real tmpfs remounted read-only: the kernel's EROFS (as root, chmod stops nothing; skipped when mount is refused).
 */
const mount = mountTinyTmpfs('deepstore-probe', 1024 * 1024);

afterAll(async () => {
  await mount.unmount();
});

describe(`FileDeepStore.probe on a read-only mount${mount.skipNote}`, () => {
  let base: string;
  let store: FileDeepStore;

  beforeEach(async () => {
    base = await mkdtemp(path.join(mount.dir ?? tmpdir(), 'store-'));
    store = new FileDeepStore(pathToFileURL(base).href);
  });

  afterEach(async () => {
    mount.setReadOnly(false);
    await rm(base, { recursive: true, force: true });
  });

  it.skipIf(mount.dir === null)(
    'write, temp folder not made yet: EROFS at step write, says read-only file system; permanent',
    async () => {
      mount.setReadOnly(true);
      const result = await store.probe('write');
      expect(result).toMatchObject({ ok: false, step: 'write', error: { code: 'EROFS', retriable: false } });
      expect(!result.ok && result.error.message).toMatch(
        new RegExp(
          `^deep-store write probe failed at write: the deep-store folder ${base} is on a read-only file system: repair cannot upload there: file put .+: creating the temp folder .+ failed: EROFS: `,
        ),
      );
    },
  );

  it.skipIf(mount.dir === null)('write, temp folder made by an earlier put: EROFS at step write as well', async () => {
    expect(await store.probe('write')).toMatchObject({ ok: true });
    mount.setReadOnly(true);
    expect(await store.probe('write')).toMatchObject({
      ok: false,
      step: 'write',
      error: { code: 'EROFS', message: expect.stringContaining('read-only file system') },
    });
  });

  it.skipIf(mount.dir === null)('read: up on the read-only mount (the read probe is for exactly this)', async () => {
    mount.setReadOnly(true);
    expect(await store.probe('read')).toMatchObject({ ok: true, mode: 'read' });
  });

  it.skipIf(mount.dir === null)('remounted read-write, the write probe is up again and leaves nothing', async () => {
    mount.setReadOnly(true);
    expect(await store.probe('write')).toMatchObject({ ok: false, error: { code: 'EROFS' } });
    mount.setReadOnly(false);
    expect(await store.probe('write')).toMatchObject({ ok: true });
    expect(await readdir(path.join(base, TEMP_FOLDER))).toEqual([]);
  });
});
