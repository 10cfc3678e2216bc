import { isZkCode } from './errors.js';
import { inflateZNRecord, parseZNRecordJson, rewriteSimpleField, type ZNRecordDocument } from './znrecord.js';
import type { Watcher, ZkSession, ZkStat, ZkWriteOptions } from './zk-session.js';

/** A ZNRecord read together with the stat its compare-and-set write must name. */
export interface VersionedRecord {
  path: string;
  doc: ZNRecordDocument;
  stat: ZkStat;
}

/**
 * Read and parse a znode; null when it does not exist. A record that does not parse, or that is
 * larger than the session's maxRecordBytes once inflated, throws ZNRecordParseError naming the path
 * (the caller logs it and skips that record). gzip is inflated in zlib's threadpool, never on the
 * event loop, and stops at the limit.
 */
export async function readRecord(session: ZkSession, path: string, watcher?: Watcher): Promise<VersionedRecord | null> {
  let read: { data: Buffer | null; stat: ZkStat };
  try {
    read = await session.getData(path, watcher);
  } catch (err) {
    if (isZkCode(err, 'NO_NODE')) return null;
    throw err;
  }
  const json = await inflateZNRecord(read.data, path, session.maxRecordBytes);
  return { path, doc: parseZNRecordJson(json, path), stat: read.stat };
}

export type CasOutcome =
  | { outcome: 'written'; stat: ZkStat }
  /** BadVersion: someone else wrote since our read. Re-read; never overwrite. */
  | { outcome: 'conflict' }
  /** NoNode: the znode was deleted. Never recreate it. */
  | { outcome: 'gone' }
  /** The node to delete with the write (CasOptions.alsoDelete) is not there: nothing was written. */
  | { outcome: 'also_delete_missing' };

export interface CasOptions extends ZkWriteOptions {
  /**
   * A node deleted in the same atomic request (ZooKeeper multi): both happen or neither, for one round trip. The
   * repair passes its upload lock, released by the very write that makes it unneeded.
   */
  alsoDelete?: string;
}

/**
 * Set one simpleField with a versioned setData of the version that was read. Nothing else in the
 * record changes: the bytes written are the bytes read with only that value replaced
 * (rewriteSimpleField; docs/pinot-interop.md, "ZNRecord bytes"). A record that cannot be rewritten
 * exactly throws RecordNotRewritableError before anything is written.
 */
export async function compareAndSetSimpleField(
  session: ZkSession,
  read: VersionedRecord,
  key: string,
  value: string,
  options: CasOptions = {},
): Promise<CasOutcome> {
  const bytes = rewriteSimpleField(read.doc, key, value);
  const { alsoDelete, ...writeOptions } = options;
  try {
    if (alsoDelete === undefined)
      return { outcome: 'written', stat: await session.setData(read.path, bytes, read.stat.version, writeOptions) };
    const ops = [
      { op: 'setData', path: read.path, data: bytes, version: read.stat.version },
      { op: 'delete', path: alsoDelete, version: -1 },
    ] as const;
    const [stat] = await session.multi(ops, writeOptions);
    return { outcome: 'written', stat: stat! };
  } catch (err) {
    if (alsoDelete !== undefined && isZkCode(err, 'NO_NODE') && err.path === alsoDelete)
      return { outcome: 'also_delete_missing' };
    if (isZkCode(err, 'BAD_VERSION')) return { outcome: 'conflict' };
    if (isZkCode(err, 'NO_NODE')) return { outcome: 'gone' };
    throw err;
  }
}
