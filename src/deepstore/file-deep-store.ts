import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { silentLogger, type Logger } from '../log.js';
import { readArchiveCrc } from './archive-crc.js';
import { classifyFsError } from './classify.js';
import type { DeepStore, DeepStoreCallOptions, ObjectRead, SegmentObjectMeta, StoredObject } from './deep-store.js';
import { DeepStoreError } from './errors.js';
import { destroyOnAbort } from './object-body.js';
import { acceptPut } from './put-guard.js';
import { segmentUri, tmpSegmentFileName } from './segment-key.js';
import { locateObject, parseStoreUri, type StoreLocation } from './store-uri.js';

export interface FileDeepStoreOptions {
  logger?: Logger;
}

/**
 * `file:///path` deep store (Pinot's LocalPinotFS; in practice a shared volume such as NFS).
 *
 * put(): write `<final>.tmp.<uuid>` in the same folder (Pinot's own temp naming, so the controller's cleanup
 * recognises a leftover), fsync it, rename it over the final name (atomic on POSIX), fsync the folder so the
 * rename survives a crash. Readers see the old object or the new one, never a partial one.
 *
 * Node has no extended-attribute API, so there is nowhere beside the bytes to keep the CRC; head() reads it
 * back from the archive's own `creation.meta` (it is the same value by construction).
 */
export class FileDeepStore implements DeepStore {
  readonly baseUri: string;
  private readonly base: StoreLocation;
  private readonly logger: Logger;

  constructor(baseUri: string, options: FileDeepStoreOptions = {}) {
    this.base = parseStoreUri(baseUri);
    if (this.base.kind !== 'file') throw new TypeError(`FileDeepStore needs a file: URI, got ${baseUri}`);
    this.baseUri = baseUri;
    this.logger = options.logger ?? silentLogger;
  }

  segmentUri(rawTableName: string, segmentName: string): string {
    return segmentUri(this.baseUri, rawTableName, segmentName);
  }

  async put(uri: string, body: Readable, meta: SegmentObjectMeta, options: DeepStoreCallOptions = {}): Promise<{ bytes: number }> {
    const { signal } = options;
    const file = acceptPut(body, meta, signal, () => this.locate(uri));
    const dir = path.dirname(file);
    const tmp = path.join(dir, tmpSegmentFileName(path.basename(file), randomUUID()));
    let bodyError: unknown;
    body.once('error', (err) => {
      bodyError = err;
    });
    const onAbort = (): void => {
      body.destroy(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    let handle: FileHandle | undefined;
    let renamed = false;
    let bytes = 0;
    try {
      const created = await this.makeParents(dir);
      handle = await open(tmp, 'wx', 0o644);
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        bytes += buf.length;
        await handle.write(buf);
      }
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(tmp, file);
      renamed = true;
      // The new name lives in `dir`; folders we just created live in their parents.
      for (const d of foldersToSync(dir, created)) await fsyncFolder(d);
      return { bytes };
    } catch (err) {
      // The body's own failure wins: iterating a destroyed stream can reject before our 'error'
      // listener runs, or with a different error object, and the caller's retry decision depends on it.
      const bodyFailure = bodyError ?? body.errored ?? undefined;
      body.destroy();
      await handle?.close().catch(() => {});
      // After the rename the object is complete at its key; only its durability is in doubt, so it stays.
      if (!renamed) {
        await rm(tmp, { force: true }).catch((rmErr: unknown) => {
          this.logger.warn({ tmp, err: rmErr }, 'could not remove a temporary deep-store file');
        });
      }
      if (signal?.aborted) throw signal.reason;
      if (bodyFailure !== undefined) throw bodyFailure;
      throw classifyFsError(err, `file put ${uri}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async head(uri: string, options: DeepStoreCallOptions = {}): Promise<StoredObject | null> {
    const { signal } = options;
    const opened = await this.openObject(uri, 'head', signal);
    if (opened === null) return null;
    try {
      const crc = await readArchiveCrc(opened.handle.createReadStream({ autoClose: false, ...(signal ? { signal } : {}) }));
      return { bytes: opened.size, crc };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classifyFsError(err, `file head ${uri}`);
    } finally {
      await opened.handle.close().catch(() => {});
    }
  }

  async get(uri: string, options: DeepStoreCallOptions = {}): Promise<ObjectRead> {
    const { signal } = options;
    const opened = await this.openObject(uri, 'get', signal);
    if (opened === null) throw new DeepStoreError(`file get ${uri}: no such object`, { code: 'NoSuchKey', retriable: false });
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
  private async openObject(uri: string, op: 'head' | 'get', signal: AbortSignal | undefined): Promise<{ handle: FileHandle; size: number } | null> {
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
        throw new DeepStoreError(`file ${op} ${uri}: not a regular file`, { code: 'NotAFile', retriable: false });
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

  /**
   * Create the table folder if needed, but never the deep-store folder itself: if it is missing, the volume is
   * most likely not mounted, and writing into the bare mount point would put segments on the local disk.
   */
  private async makeParents(dir: string): Promise<string | undefined> {
    const basePath = this.base.kind === 'file' ? this.base.path : '';
    try {
      if (!(await stat(basePath)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      throw new DeepStoreError(`deep-store folder ${basePath} is missing or not a folder (is the volume mounted?)`, {
        code: 'DeepStoreFolderMissing',
        retriable: false,
        cause: err,
      });
    }
    return mkdir(dir, { recursive: true });
  }
}

/** `dir`, plus the parent of every folder mkdir created on the way down to it (`created` is the topmost). */
export function foldersToSync(dir: string, created: string | undefined): string[] {
  const folders = [dir];
  if (created === undefined) return folders;
  for (let d = dir; d !== path.dirname(created); ) {
    d = path.dirname(d);
    folders.push(d);
  }
  return folders;
}

async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
