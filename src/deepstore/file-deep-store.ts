import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { silentLogger, type Logger } from '../log.js';
import { readArchiveCrc } from './archive-crc.js';
import { verifyArchiveStream } from './archive-verifier.js';
import { classifyFsError, fsErrorCode } from './classify.js';
import { assertSegmentCrc } from './segment-crc.js';
import type {
  ArchiveVerdict,
  DeepStore,
  DeepStoreCallOptions,
  ObjectRead,
  ProbeOptions,
  SegmentObjectMeta,
  StoredObject,
  SweepOptions,
  SweepResult,
} from './deep-store.js';
import { DeepStoreError, invalidArgument } from './errors.js';
import { isTempFileName, TEMP_FOLDER, tempFileName } from './file-store-temps.js';
import { destroyOnAbort } from './object-body.js';
import {
  PROBE_FILE_SUFFIX,
  PROBE_READ_LIMIT_BYTES,
  probeBody,
  probeMismatch,
  probeObjectName,
  runProbe,
  type ProbeMode,
  type ProbeResult,
} from './probe.js';
import { acceptPut } from './put-guard.js';
import { segmentUri } from './segment-key.js';
import { locateObject, parseStoreUri, type StoreLocation } from './store-uri.js';

export interface FileDeepStoreOptions {
  logger?: Logger;
}

export const FILE_STORE_DEFAULTS = {
  /**
   * How old (by mtime) a temp file must be before sweepStaleTemps() removes it. A put() in progress writes its
   * temp file continuously, so its mtime stays within seconds of now however large the segment; an hour
   * without a write means the writer is gone (or stalled far past any timeout the agent allows).
   */
  staleTempAgeMs: 60 * 60 * 1000,
} as const;

/**
 * `file:///path` deep store (Pinot's LocalPinotFS; in practice a shared volume such as NFS).
 *
 * put(): write `<base>/.pinot-sidecar.tmp/<uuid>.part` (the sidecar's own temp folder, file-store-temps.ts
 * says why never a table folder), fsync it, rename it over the final name (atomic on POSIX, and possible
 * only within one file system), fsync the table folder so the rename survives a crash. Readers see the old
 * object or the new one, never a partial one. A process killed mid-write leaves its temp file;
 * sweepStaleTemps() removes those, and looks nowhere else.
 *
 * Node has no extended-attribute API, so there is nowhere beside the bytes to keep the CRC; head() reads it
 * back from the archive's own `creation.meta` (it is the same value by construction), and verifyArchive()
 * reads the whole file.
 */
export class FileDeepStore implements DeepStore {
  readonly baseUri: string;
  private readonly basePath: string;
  /** `<base>/.pinot-sidecar.tmp`: every put()'s temp file, and nothing else. */
  private readonly tempFolder: string;
  private readonly base: StoreLocation;
  private readonly logger: Logger;
  /** The probe file's name when probe() is given none (ProbeOptions.name). */
  private readonly probeName = randomUUID();

  constructor(baseUri: string, options: FileDeepStoreOptions = {}) {
    this.base = parseStoreUri(baseUri);
    if (this.base.kind !== 'file') throw new TypeError(`FileDeepStore needs a file: URI, got ${baseUri}`);
    this.basePath = this.base.path;
    this.tempFolder = path.join(this.basePath, TEMP_FOLDER);
    this.baseUri = baseUri;
    this.logger = options.logger ?? silentLogger;
  }

  segmentUri(rawTableName: string, segmentName: string): string {
    return segmentUri(this.baseUri, rawTableName, segmentName);
  }

  async put(
    uri: string,
    body: Readable,
    meta: SegmentObjectMeta,
    options: DeepStoreCallOptions = {},
  ): Promise<{ bytes: number }> {
    const { signal } = options;
    const file = acceptPut(body, meta, signal, () => this.locateSegmentFile(uri));
    const dir = path.dirname(file);
    const tmp = path.join(this.tempFolder, tempFileName(randomUUID()));
    // Whichever failed first is what put() reports: the body (the segment changed while read: the agent's
    // cause) or the store (a full disk: ours). A body failure seen before the store's own is the body's.
    let bodyFailure: { error: unknown } | undefined;
    body.once('error', (error) => {
      bodyFailure ??= { error };
    });
    const onAbort = (): void => {
      body.destroy(signal?.reason as Error | undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    let handle: FileHandle | undefined;
    let renamed = false;
    let bytes = 0;
    let readingBody = false;
    try {
      await this.assertBaseFolder();
      await this.makeTempFolder(uri);
      const created = await this.makeTableFolder(uri, dir);
      handle = await open(tmp, 'wx', 0o644);
      // Not `for await`: leaving that loop on a write failure destroys the body with an AbortError of the
      // iterator's own, which then passed for the body's failure and hid the real cause (ENOSPC reported as
      // AbortError, classified permanent). Here a failed write leaves the iterator alone (destroyOnReturn:
      // false covers a return() all the same); the body is destroyed below, without an error.
      const chunks = body.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer | string>;
      for (;;) {
        readingBody = true;
        const next = await chunks.next();
        readingBody = false;
        if (next.done) break;
        const buf = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
        bytes += buf.length;
        await writeAll(handle, buf);
      }
      await handle.sync();
      await handle.close();
      handle = undefined;
      await this.moveIntoPlace(tmp, file, uri);
      renamed = true;
      // The new name lives in `dir`; folders we just created live in their parents.
      for (const d of foldersToSync(dir, created)) await fsyncFolder(d);
      return { bytes };
    } catch (err) {
      // Reading the body can reject before its 'error' event arrives: that rejection is the body's failure too.
      const failure = bodyFailure ?? (readingBody ? { error: err } : undefined);
      body.destroy();
      await handle?.close().catch(() => {});
      // After the rename the object is complete at its key; only its durability is in doubt, so it stays.
      if (!renamed) {
        await rm(tmp, { force: true }).catch((rmErr: unknown) => {
          this.logger.warn({ tmp, err: rmErr }, 'could not remove a temporary deep-store file');
        });
      }
      if (signal?.aborted) throw signal.reason;
      if (failure !== undefined) throw failure.error;
      throw await this.describeWriteFailure(err, uri, dir);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async head(uri: string, options: DeepStoreCallOptions = {}): Promise<StoredObject | null> {
    const { signal } = options;
    const opened = await this.openObject(uri, 'head', signal);
    if (opened === null) return null;
    try {
      const crc = await readArchiveCrc(
        opened.handle.createReadStream({ autoClose: false, ...(signal ? { signal } : {}) }),
      );
      return { bytes: opened.size, crc };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classifyFsError(err, `file head ${uri}`);
    } finally {
      await opened.handle.close().catch(() => {});
    }
  }

  async verifyArchive(
    uri: string,
    expected: SegmentObjectMeta,
    options: DeepStoreCallOptions = {},
  ): Promise<ArchiveVerdict> {
    const { signal } = options;
    assertSegmentCrc(expected.crc);
    let opened: OpenedObject | null;
    try {
      opened = await this.openObject(uri, 'verify', signal);
    } catch (err) {
      if (err instanceof DeepStoreError && err.code === NOT_A_FILE)
        return { kind: 'unverified', reason: err.message, bytes: 0 };
      throw err;
    }
    if (opened === null) return { kind: 'absent' };
    try {
      const read = opened.handle.createReadStream({ autoClose: false });
      const check = await verifyArchiveStream(read, expected.crc, signal ? { signal } : {});
      return check.kind === 'verified' ? { ...check, by: 'full_read' } : check;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classifyFsError(err, `file verify ${uri}`);
    } finally {
      await opened.handle.close().catch(() => {});
    }
  }

  /**
   * Remove the temp files of put()s that died mid-write. Only in the temp folder `<base>/.pinot-sidecar.tmp`,
   * and only if it is a real folder (a symlink there is not followed); only regular files named exactly as
   * tempFileName() makes them; only those whose mtime is older than `olderThanMs`. Never anything in a table
   * folder, whatever its name: there a file is a segment (or Pinot's own temp file), and segment names are
   * free. A put() in progress keeps its temp file's mtime fresh with every write, so it is never swept; a temp
   * file removed under a put() stalled for longer than that makes the put fail (its rename finds nothing) and
   * the agent retries it.
   */
  async sweepStaleTemps(options: SweepOptions = {}): Promise<SweepResult> {
    const { signal, olderThanMs = FILE_STORE_DEFAULTS.staleTempAgeMs } = options;
    signal?.throwIfAborted();
    const cutoff = Date.now() - olderThanMs;
    const result = { removed: 0, bytes: 0 };
    if (!(await this.tempFolderToSweep())) return result;
    for (const entry of await this.listFolder(this.tempFolder)) {
      signal?.throwIfAborted();
      if (!entry.isFile() || !isTempFileName(entry.name)) continue;
      const tmp = path.join(this.tempFolder, entry.name);
      try {
        const info = await lstat(tmp);
        if (!info.isFile() || info.mtimeMs >= cutoff) continue;
        await unlink(tmp);
        result.removed += 1;
        result.bytes += info.size;
        this.logger.info(
          { tmp, bytes: info.size, mtime: info.mtime.toISOString() },
          'removed a stale temporary deep-store file',
        );
      } catch (err) {
        // Renamed into place or removed meanwhile: nothing left to sweep.
        if (fsErrorCode(err) === 'ENOENT') continue;
        this.logger.warn({ tmp, err }, 'could not remove a stale temporary deep-store file');
      }
    }
    return result;
  }

  /**
   * Is there a temp folder to sweep? Not when it (or the base folder) is missing: nothing was ever written, or
   * the volume is not mounted. Not when something other than a real folder sits at its name (put() refuses to
   * write there, so nothing of ours is inside): a symlink would lead the sweep out of the store.
   */
  private async tempFolderToSweep(): Promise<boolean> {
    let info;
    try {
      info = await lstat(this.tempFolder);
    } catch (err) {
      const code = fsErrorCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw classifyFsError(err, `file sweep ${this.tempFolder}`);
    }
    if (info.isDirectory()) return true;
    this.logger.warn(
      { tempFolder: this.tempFolder },
      'the temp folder of the deep store is not a real folder; not swept',
    );
    return false;
  }

  /**
   * Write: the probe file `<base>/.pinot-sidecar.tmp/<name>.probe`, written as put() writes a segment (a
   * `<uuid>.part` temp file in the same folder, fsync, rename, fsync the folder; the sweep removes the temp file
   * of a probe killed mid-write), read back, compared, removed. Never anything in the base folder itself or a
   * table folder; a missing base folder is DeepStoreFolderMissing, as for put() (never created: it is most
   * likely an unmounted volume). Read: the base folder is a folder and can be listed.
   */
  async probe(mode: ProbeMode, options: ProbeOptions = {}): Promise<ProbeResult> {
    const { signal } = options;
    const file = path.join(
      this.tempFolder,
      `${probeObjectName(options.name ?? '') || this.probeName}${PROBE_FILE_SUFFIX}`,
    );
    const uri = mode === 'write' ? pathToFileURL(file).href : this.baseUri;
    const context = {
      mode,
      uri,
      target: { folder: this.basePath },
      signal,
      classify: (err: unknown) => classifyFsError(err, `file probe ${uri}`),
    };
    return runProbe(context, async (run) => {
      await run.step('folder', () => this.assertBaseFolder());
      if (mode === 'read') {
        await run.step('list', () => readdir(this.basePath));
        return undefined;
      }
      const body = probeBody();
      await run.step('write', () => this.writeProbeFile(file, body, uri));
      let deleteTried = false;
      try {
        const back = await run.step('read', () => readHead(file, PROBE_READ_LIMIT_BYTES + 1));
        await run.step('compare', async () => {
          if (!back.equals(body))
            throw probeMismatch(uri, body, back, { truncated: back.length > PROBE_READ_LIMIT_BYTES });
        });
        deleteTried = true;
        return await run.tolerate('delete', () => unlink(file));
      } finally {
        if (!deleteTried) await rm(file, { force: true }).catch(() => {});
      }
    });
  }

  /** put()'s way of writing, for the probe's few bytes: temp file, fsync, rename into place, fsync the folder. */
  private async writeProbeFile(file: string, bytes: Buffer, uri: string): Promise<void> {
    await this.makeTempFolder(uri);
    const tmp = path.join(this.tempFolder, tempFileName(randomUUID()));
    let handle: FileHandle | undefined;
    let renamed = false;
    try {
      handle = await open(tmp, 'wx', 0o644);
      await writeAll(handle, bytes);
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(tmp, file);
      renamed = true;
      await fsyncFolder(this.tempFolder);
    } finally {
      await handle?.close().catch(() => {});
      if (!renamed) await rm(tmp, { force: true }).catch(() => {});
    }
  }

  async get(uri: string, options: DeepStoreCallOptions = {}): Promise<ObjectRead> {
    const { signal } = options;
    const opened = await this.openObject(uri, 'get', signal);
    if (opened === null)
      throw new DeepStoreError(`file get ${uri}: no such object`, { code: 'NoSuchKey', retriable: false });
    if (signal?.aborted) {
      await opened.handle.close().catch(() => {});
      throw signal.reason;
    }
    // autoClose (the default): the handle closes when the body ends or is destroyed.
    return { body: destroyOnAbort(opened.handle.createReadStream(), signal), bytes: opened.size };
  }

  /**
   * The object's file, opened, with its size; null when there is none. One open file serves the whole call:
   * a concurrent rename over the key cannot pair one version's size with another version's bytes or CRC.
   */
  private async openObject(
    uri: string,
    op: 'head' | 'get' | 'verify',
    signal: AbortSignal | undefined,
  ): Promise<OpenedObject | null> {
    const file = this.locate(uri);
    signal?.throwIfAborted();
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw classifyFsError(err, `file ${op} ${uri}`);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        throw new DeepStoreError(`file ${op} ${uri}: not a regular file`, { code: NOT_A_FILE, retriable: false });
      }
      return { handle, size: info.size };
    } catch (err) {
      await handle.close().catch(() => {});
      throw classifyFsError(err, `file ${op} ${uri}`);
    }
  }

  async close(): Promise<void> {}

  private locate(uri: string): string {
    const target = locateObject(this.base, uri);
    if (target.kind !== 'file') throw new TypeError('unreachable: locateObject keeps the base kind');
    return target.path;
  }

  /** Where put() writes `uri`: anywhere in the store but the temp folder, whose files the sweep removes. */
  private locateSegmentFile(uri: string): string {
    const file = this.locate(uri);
    if (path.relative(this.basePath, file).split(path.sep)[0] === TEMP_FOLDER) {
      throw invalidArgument(
        'UriInTempFolder',
        `${uri} lies in the sidecar's temp folder ${this.tempFolder}, where no segment is kept`,
      );
    }
    return file;
  }

  /** Entries of a folder; none when it does not exist (yet). */
  private async listFolder(folder: string): Promise<Dirent[]> {
    try {
      return await readdir(folder, { withFileTypes: true });
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT') return [];
      throw classifyFsError(err, `file sweep ${folder}`);
    }
  }

  /**
   * Never create the deep-store folder itself: if it is missing, the volume is most likely not mounted, and
   * writing into the bare mount point would put segments on the local disk.
   */
  private async assertBaseFolder(): Promise<void> {
    try {
      if (!(await stat(this.basePath)).isDirectory())
        throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      throw new DeepStoreError(
        `deep-store folder ${this.basePath} is missing or not a folder (is the volume mounted?)`,
        {
          code: 'DeepStoreFolderMissing',
          retriable: false,
          cause: err,
        },
      );
    }
  }

  /**
   * Create the temp folder if needed. It must be a real folder, not a symlink to one: the sweep never follows
   * a symlink, so temp files written through one would never be swept (and could land on another file system).
   */
  private async makeTempFolder(uri: string): Promise<void> {
    await makeFolder(uri, this.tempFolder, 'the temp folder', 'TempFolderBlocked');
    if ((await lstat(this.tempFolder)).isDirectory()) return;
    // mkdir accepted what is there, so it leads to a folder: a symlink.
    throw new DeepStoreError(
      `file put ${uri}: the temp folder ${this.tempFolder} is a symlink; it must be a real folder (the sweep of stale temp files never follows a symlink)`,
      {
        code: 'TempFolderBlocked',
        retriable: false,
      },
    );
  }

  /** Create the table folder if needed. Returns the topmost folder created (mkdir's answer). */
  private async makeTableFolder(uri: string, dir: string): Promise<string | undefined> {
    return makeFolder(uri, dir, 'the table folder', 'TableFolderBlocked');
  }

  /**
   * Rename the finished temp file over the segment's name. A rename cannot cross file systems (EXDEV: a volume
   * mounted at the table folder, or at the temp folder): no retry helps, an operator has to fix the layout.
   */
  private async moveIntoPlace(tmp: string, file: string, uri: string): Promise<void> {
    try {
      await rename(tmp, file);
    } catch (err) {
      if (fsErrorCode(err) !== 'EXDEV') throw err;
      throw new DeepStoreError(
        `file put ${uri}: cannot rename ${tmp} to ${file}: the temp folder ${this.tempFolder} and the table folder ${path.dirname(file)} are on different file systems; they must be on one (is a volume mounted inside the deep-store folder?)`,
        { code: 'TempFolderOnOtherFileSystem', retriable: false, cause: err },
      );
    }
  }

  /**
   * A write failure, classified, saying what happened when the errno alone misleads: an ENOENT after the
   * folders were made means one was removed while the segment was written (table deletion, an operator's
   * cleanup), not that a file was missing.
   */
  private async describeWriteFailure(err: unknown, uri: string, dir: string): Promise<DeepStoreError> {
    if (fsErrorCode(err) === 'ENOENT') {
      if ((await whatIsAt(dir)) !== 'folder')
        return classifyFsError(err, `file put ${uri} (the table folder ${dir} was removed during the write)`);
      if ((await whatIsAt(this.tempFolder)) !== 'folder')
        return classifyFsError(
          err,
          `file put ${uri} (the temp folder ${this.tempFolder} was removed during the write)`,
        );
    }
    return classifyFsError(err, `file put ${uri}`);
  }
}

/**
 * mkdir -p `dir`; returns the topmost folder created. A folder that cannot be made says which and why:
 * mkdir says EEXIST (a file), ENOENT (a dangling symlink) or ENOTDIR, none of which says what is in the way.
 */
async function makeFolder(uri: string, dir: string, what: string, blockedCode: string): Promise<string | undefined> {
  try {
    return await mkdirRecursive(dir);
  } catch (err) {
    const blocker = await whatIsAt(dir);
    const code = fsErrorCode(err);
    if (blocker !== 'nothing' && blocker !== 'folder') {
      throw new DeepStoreError(`file put ${uri}: cannot create ${what} ${dir}: ${blocker} is in the way (${code})`, {
        code: blockedCode,
        retriable: false,
        cause: err,
      });
    }
    throw classifyFsError(err, `file put ${uri}: creating ${what} ${dir}`);
  }
}

/**
 * mkdir -p that reports the kernel's errno. Node's recursive mkdir turns every failure to create a missing
 * folder that it does not expect into ENOENT (nodejs/node#47098, open in Node 20): on a read-only mount a
 * missing table or temp folder read as "no such file or directory", a retriable error, instead of EROFS. On
 * ENOENT, the first missing folder is made once more without `recursive`, which fails with the real errno; if
 * it succeeds (the mount came back meanwhile), the rest is made as usual. Returns the topmost folder created.
 */
async function mkdirRecursive(dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (err) {
    if (fsErrorCode(err) !== 'ENOENT') throw err;
    const first = await firstMissingFolder(dir);
    await mkdir(first).catch((retryErr: unknown) => {
      if (fsErrorCode(retryErr) !== 'EEXIST') throw retryErr;
    });
    await mkdir(dir, { recursive: true });
    return first;
  }
}

/** The topmost folder on the way to `dir` that does not exist (`dir` itself when its parent exists). */
async function firstMissingFolder(dir: string): Promise<string> {
  let missing = dir;
  for (
    let parent = path.dirname(missing);
    parent !== missing && (await whatIsAt(parent)) === 'nothing';
    parent = path.dirname(parent)
  ) {
    missing = parent;
  }
  return missing;
}

/** `dir`, plus the parent of every folder mkdir created on the way down to it (`created` is the topmost). */
export function foldersToSync(dir: string, created: string | undefined): string[] {
  const folders = [dir];
  if (created === undefined) return folders;
  for (let d = dir; d !== path.dirname(created);) {
    d = path.dirname(d);
    folders.push(d);
  }
  return folders;
}

interface OpenedObject {
  handle: FileHandle;
  size: number;
}

const NOT_A_FILE = 'NotAFile';

/** What occupies `target`, without following a symlink there: for errors that say what is in the way. */
async function whatIsAt(
  target: string,
): Promise<
  'nothing' | 'folder' | 'a file' | 'a symlink to a missing target' | 'a symlink' | 'something that is not a folder'
> {
  let info;
  try {
    info = await lstat(target);
  } catch {
    return 'nothing';
  }
  if (info.isDirectory()) return 'folder';
  if (info.isFile()) return 'a file';
  if (info.isSymbolicLink()) {
    const resolved = await stat(target).catch(() => null);
    if (resolved === null) return 'a symlink to a missing target';
    return resolved.isDirectory() ? 'folder' : 'a symlink';
  }
  return 'something that is not a folder';
}

/**
 * Write all of `buf`. FileHandle.write() does not loop: on a file system that fills up mid-buffer the kernel
 * writes what fits and says so (a short count, no error); only the next write fails with ENOSPC. Ignoring the
 * count would leave a silently shortened file when the last buffer is the one cut.
 */
async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  for (let at = 0; at < buf.length;) {
    const { bytesWritten } = await handle.write(buf, at, buf.length - at);
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    at += bytesWritten;
  }
}

/** The first `limit` bytes of `file` (fewer when it is shorter). */
async function readHead(file: string, limit: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(limit);
    let at = 0;
    while (at < limit) {
      const { bytesRead } = await handle.read(buf, at, limit - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return buf.subarray(0, at);
  } finally {
    await handle.close();
  }
}

async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
