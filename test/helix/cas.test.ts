import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordNotRewritableError } from '../../src/helix/errors.js';
import { compareAndSetSimpleField, readRecord } from '../../src/helix/znode-io.js';
import { serializeZNRecord } from '../../src/helix/znrecord.js';
import type { ZkSession } from '../../src/helix/zk-session.js';
import { connectSession, segmentRecord, useSeededCluster } from '../helpers/pinot-cluster.js';

describe('compare-and-set of one segment field (real ZooKeeper)', () => {
  const table = 'events_REALTIME';
  const pinot = useSeededCluster('cas', { setup: (seed) => seed.addTable(table) });
  let other: ZkSession;

  beforeAll(async () => {
    other = await connectSession();
  });
  afterAll(async () => {
    await other.close();
  });

  it('writes only the named field, keeping every other byte of the record', async () => {
    const { seed, session } = pinot;
    await seed.putSegment(table, 'events__0__1__20240101T0000Z', { downloadUrl: '', crc: '99' });
    const path = seed.paths.segmentMetadata(table, 'events__0__1__20240101T0000Z');
    const before = (await session.getData(path)).data!.toString();
    const read = (await readRecord(session, path))!;
    const result = await compareAndSetSimpleField(
      session,
      read,
      'segment.download.url',
      's3://b/events/events__0__1__20240101T0000Z',
    );
    expect(result.outcome).toBe('written');
    const after = (await session.getData(path)).data!.toString();
    expect(after).toBe(
      before.replace(
        '"segment.download.url" : ""',
        '"segment.download.url" : "s3://b/events/events__0__1__20240101T0000Z"',
      ),
    );
    expect(after).not.toBe(before);
  });

  it('keeps a gzipped record gzipped', async () => {
    const { seed, session } = pinot;
    const path = seed.paths.segmentMetadata(table, 'events__0__2__20240101T0000Z');
    await seed.put(
      path,
      gzipSync(serializeZNRecord(segmentRecord('events__0__2__20240101T0000Z', { downloadUrl: '' }))),
    );
    const read = (await readRecord(session, path))!;
    expect(read.doc.compressed).toBe(true);
    expect((await compareAndSetSimpleField(session, read, 'segment.download.url', 'file:///x')).outcome).toBe(
      'written',
    );
    const raw = (await session.getData(path)).data!;
    expect(raw.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(JSON.parse(gunzipSync(raw).toString()).simpleFields['segment.download.url']).toBe('file:///x');
  });

  // A record as another writer may leave it: compact layout, numbers Jackson keeps as written, a
  // top-level "__proto__", integer-like keys, escapes and non-ASCII written every way.
  const ODD_RECORD =
    '{"id":"events__0__5__20240101T0000Z","__proto__":{"x":[1.0,null]},"simpleFields":{"segment.crc":12345678901234567890,' +
    '"segment.download.url":URL_VALUE,"segment.realtime.status":"DONE","f":1.0,"e":1e3,"z":-0,"b":true,"10":"ten","2":"two",' +
    '"u":"é😀\\uD83D\\uDE00\\u001f\\/"},"mapFields":{"10":{"b":"1","a":"2"},"2":{}},"listFields":{"l":[1.50,false]},"future":null}';
  const URL = 's3://b/events/events__0__5__20240101T0000Z';

  it.each([
    ['plain', (b: Buffer) => b, (b: Buffer) => b],
    ['gzip', (b: Buffer) => gzipSync(b), (b: Buffer) => gunzipSync(b)],
  ])(
    'leaves every byte of a %s record but the URL as it was, read back from ZooKeeper',
    async (form, encode, decode) => {
      const { seed, session } = pinot;
      const path = seed.paths.segmentMetadata(table, `events__0__5__20240101T0000Z_${form}`);
      await seed.put(path, encode(Buffer.from(ODD_RECORD.replace('URL_VALUE', '""'))));
      const read = (await readRecord(session, path))!;
      expect((await compareAndSetSimpleField(session, read, 'segment.download.url', URL)).outcome).toBe('written');
      const after = (await session.getData(path)).data!;
      expect(after.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(form === 'gzip');
      const expected = Buffer.from(ODD_RECORD.replace('URL_VALUE', JSON.stringify(URL)));
      expect(decode(after).toString('utf8')).toBe(expected.toString('utf8'));
      expect(decode(after).equals(expected)).toBe(true);
    },
  );

  it('refuses a record it cannot rewrite exactly (the key twice) and writes nothing', async () => {
    const { seed, session } = pinot;
    const path = seed.paths.segmentMetadata(table, 'events__0__6__20240101T0000Z');
    const bytes = Buffer.from(
      '{"id":"events__0__6__20240101T0000Z","simpleFields":{"segment.download.url":"","segment.download.url":""}}',
    );
    await seed.put(path, bytes);
    const read = (await readRecord(session, path))!;
    await expect(compareAndSetSimpleField(session, read, 'segment.download.url', URL)).rejects.toBeInstanceOf(
      RecordNotRewritableError,
    );
    const now = await session.getData(path);
    expect(now.data!.equals(bytes)).toBe(true);
    expect(now.stat.version).toBe(read.stat.version);
  });

  it('reports a conflict when another client wrote between read and write, and leaves its write alone', async () => {
    const { seed, session } = pinot;
    const segment = 'events__0__3__20240101T0000Z';
    await seed.putSegment(table, segment, { downloadUrl: '' });
    const path = seed.paths.segmentMetadata(table, segment);
    const read = (await readRecord(session, path))!;
    // The controller's repair sets the URL first (blind write in Pinot; versioned here, same effect).
    const theirs = (await readRecord(other, path))!;
    expect(
      (await compareAndSetSimpleField(other, theirs, 'segment.download.url', 's3://controller/copy')).outcome,
    ).toBe('written');
    const result = await compareAndSetSimpleField(session, read, 'segment.download.url', 's3://sidecar/copy');
    expect(result.outcome).toBe('conflict');
    const now = (await readRecord(session, path))!;
    expect(now.doc.record.simpleFields['segment.download.url']).toBe('s3://controller/copy');
    expect(now.stat.version).toBe(read.stat.version + 1);
  });

  it('reports gone when the znode was deleted, and never recreates it', async () => {
    const { seed, session } = pinot;
    const segment = 'events__0__4__20240101T0000Z';
    await seed.putSegment(table, segment, { downloadUrl: '' });
    const path = seed.paths.segmentMetadata(table, segment);
    const read = (await readRecord(session, path))!;
    await seed.remove(path);
    expect((await compareAndSetSimpleField(session, read, 'segment.download.url', 's3://x')).outcome).toBe('gone');
    expect(await session.exists(path)).toBeNull();
  });

  describe('with alsoDelete (the URL and the lock release in one multi request)', () => {
    const lockOf = (segment: string) => `/cas-locks-${pinot.seed.cluster}/${segment}`;
    async function setUp(segment: string): Promise<{ path: string; lock: string }> {
      const { seed, session } = pinot;
      await seed.putSegment(table, segment, { downloadUrl: '' });
      const lock = lockOf(segment);
      await session.ensurePath(lock.slice(0, lock.lastIndexOf('/')));
      await session.create(lock, Buffer.from('held'), 'ephemeral');
      return { path: seed.paths.segmentMetadata(table, segment), lock };
    }

    it('writes only the URL bytes and deletes the lock, in one request', async () => {
      const { session } = pinot;
      const { path, lock } = await setUp('events__0__6__20240101T0000Z');
      const before = (await session.getData(path)).data!.toString();
      const read = (await readRecord(session, path))!;
      const requests = { ...session.requests };
      const result = await compareAndSetSimpleField(session, read, 'segment.download.url', 's3://b/x', {
        alsoDelete: lock,
      });
      expect(result).toMatchObject({ outcome: 'written', stat: { version: read.stat.version + 1 } });
      expect(session.requests.multi - requests.multi).toBe(1);
      expect(session.requests.setData + session.requests.delete).toBe(requests.setData + requests.delete);
      expect((await session.getData(path)).data!.toString()).toBe(
        before.replace('"segment.download.url" : ""', '"segment.download.url" : "s3://b/x"'),
      );
      expect(await session.exists(lock)).toBeNull();
    });

    // node-zookeeper-client's Transaction turns version 0 into -1 (`version || -1`): without the pin in
    // ZkSession.multi this write would overwrite the other writer's URL.
    it('is a compare-and-set on version 0 too: another writer first → conflict, their URL and the lock untouched', async () => {
      const { session } = pinot;
      const { path, lock } = await setUp('events__0__7__20240101T0000Z');
      const read = (await readRecord(session, path))!;
      expect(read.stat.version).toBe(0);
      const theirs = (await readRecord(other, path))!;
      expect(
        (await compareAndSetSimpleField(other, theirs, 'segment.download.url', 's3://controller/copy')).outcome,
      ).toBe('written');
      expect(
        (
          await compareAndSetSimpleField(session, read, 'segment.download.url', 's3://sidecar/copy', {
            alsoDelete: lock,
          })
        ).outcome,
      ).toBe('conflict');
      expect((await readRecord(session, path))!.doc.record.simpleFields['segment.download.url']).toBe(
        's3://controller/copy',
      );
      expect(await session.exists(lock)).not.toBeNull();
    });

    it('a lock that is gone → also_delete_missing, and the record is not written', async () => {
      const { session } = pinot;
      const { path, lock } = await setUp('events__0__8__20240101T0000Z');
      const read = (await readRecord(session, path))!;
      await session.delete(lock);
      const before = (await session.getData(path)).data!;
      expect(
        (await compareAndSetSimpleField(session, read, 'segment.download.url', 's3://b/y', { alsoDelete: lock }))
          .outcome,
      ).toBe('also_delete_missing');
      const after = await session.getData(path);
      expect(after.data).toEqual(before);
      expect(after.stat.version).toBe(read.stat.version);
    });

    it('a deleted record → gone, never recreated, and the lock stays', async () => {
      const { seed, session } = pinot;
      const { path, lock } = await setUp('events__0__9__20240101T0000Z');
      const read = (await readRecord(session, path))!;
      await seed.remove(path);
      expect(
        (await compareAndSetSimpleField(session, read, 'segment.download.url', 's3://b/z', { alsoDelete: lock }))
          .outcome,
      ).toBe('gone');
      expect(await session.exists(path)).toBeNull();
      expect(await session.exists(lock)).not.toBeNull();
    });
  });

  it('readRecord returns null for a missing znode', async () => {
    const { seed, session } = pinot;
    expect(await readRecord(session, seed.paths.segmentMetadata(table, 'nope'))).toBeNull();
  });
});
