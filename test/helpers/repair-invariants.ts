import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { expect } from 'vitest';
import { readArchiveCrc } from '../../src/deepstore/archive-crc.js';
import { parseStoreUri } from '../../src/deepstore/store-uri.js';
import { SegmentKeys } from '../../src/helix/segment-metadata.js';
import { readRecord } from '../../src/helix/znode-io.js';
import type { ZkSession } from '../../src/helix/zk-session.js';

/**
 * The deep-store repair's safety invariants (docs/architecture.md, "A repair"), checked against ZooKeeper and
 * the deep store themselves after a scenario:
 *
 * 1. Each segment.download.url is "" (or absent, as before) or points at an object whose archive's
 *    creation.meta CRC equals ZK segment.crc — read out of the archive bytes, not from any stored metadata.
 * 2. Nothing else in the record changed: every simpleField but the URL, and every map/list field, is as it was.
 * 3. No znode was created: a record that did not exist before does not exist after (and one deleted by the
 *    scenario stays deleted — the repair never recreates).
 */

export interface RecordSnapshot {
  path: string;
  exists: boolean;
  simpleFields: Record<string, string>;
  mapFields: Record<string, Record<string, string>>;
  listFields: Record<string, string[]>;
}

/** Opens the object a URL names, or null when there is none. */
export type ObjectOpener = (uri: string) => Promise<Readable | null>;

export async function snapshotRecord(session: ZkSession, path: string): Promise<RecordSnapshot> {
  const read = await readRecord(session, path);
  if (!read) return { path, exists: false, simpleFields: {}, mapFields: {}, listFields: {} };
  const { simpleFields, mapFields, listFields } = read.doc.record;
  return {
    path,
    exists: true,
    simpleFields: { ...simpleFields },
    mapFields: structuredClone({ ...mapFields }),
    listFields: structuredClone({ ...listFields }),
  };
}

/** Reads file: URIs from disk and s3: URIs with `s3` (a client straight to the store, not through a fault proxy). */
export function objectOpener(s3?: S3Client): ObjectOpener {
  return async (uri) => {
    const location = parseStoreUri(uri);
    if (location.kind === 'file') {
      const stream = createReadStream(location.path);
      return new Promise((resolve, reject) => {
        stream.once('open', () => resolve(stream));
        stream.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(null) : reject(err)));
      });
    }
    if (location.kind !== 's3') throw new Error(`no client to check ${uri}`);
    if (!s3) throw new Error(`no S3 client to check ${uri}`);
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
      return out.Body as Readable;
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  };
}

export async function assertRepairInvariants(options: {
  session: ZkSession;
  before: Iterable<RecordSnapshot>;
  openObject: ObjectOpener;
}): Promise<void> {
  for (const before of options.before) {
    const after = await snapshotRecord(options.session, before.path);
    if (!before.exists) {
      expect(after.exists, `${before.path} was created`).toBe(false);
      continue;
    }
    if (!after.exists) continue; // deleted by the scenario; staying deleted is the point
    const { [SegmentKeys.downloadUrl]: urlBefore, ...restBefore } = before.simpleFields;
    const { [SegmentKeys.downloadUrl]: urlAfter, ...restAfter } = after.simpleFields;
    expect(restAfter, `${before.path}: simpleFields other than the URL changed`).toEqual(restBefore);
    expect(after.mapFields, `${before.path}: mapFields changed`).toEqual(before.mapFields);
    expect(after.listFields, `${before.path}: listFields changed`).toEqual(before.listFields);
    if (urlAfter === undefined) {
      expect(urlBefore, `${before.path}: URL key removed`).toBeUndefined();
      continue;
    }
    if (urlAfter === '' || urlAfter === urlBefore) continue;
    const body = await options.openObject(urlAfter);
    expect(body, `${before.path}: URL ${urlAfter} points at no object`).not.toBeNull();
    const crc = await readArchiveCrc(body!);
    expect(crc, `${before.path}: the archive at ${urlAfter} holds another segment CRC`).toBe(
      after.simpleFields[SegmentKeys.crc],
    );
  }
}
