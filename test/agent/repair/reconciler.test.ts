import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReconcilerStoppedError } from '../../../src/agent/repair/errors.js';
import {
  corruptLocalCrc,
  entryOf,
  events,
  GatedDeepStore,
  seg,
  TABLE,
  uploads,
  useTestBed,
  waitFor,
  urlWrites,
} from './harness.js';

/**
 * The reconciler end to end against a real ZooKeeper (the run's shared one, a cluster of its own per test) and
 * a real deep store: a folder, and S3 (fauxqs) behind the fault proxy. Each test ends with the invariant check.
 */
const bed = useTestBed();

const stores = [
  { kind: 'file store', s3: false },
  { kind: 'S3', s3: true },
];

describe.each(stores)('DONE+"" is uploaded, then its URL is set ($kind)', ({ s3 }) => {
  it('uploads, verifies, sets only the URL, and reports done', async () => {
    const world = await bed.world({ store: s3 ? 's3' : 'file' });
    const server = await world.addServer();
    const crc = await world.commit(seg(1), [{ server }]);
    const before = (await world.record(seg(1)))!;
    const sidecar = await world.startSidecar(server);

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    const uri = world.segmentUri(seg(1));
    expect(await world.url(seg(1))).toBe(uri);
    const after = (await world.record(seg(1)))!;
    expect(after.stat.version).toBe(before.stat.version + 1);
    expect(await sidecar.deepStore.head(uri)).toMatchObject({ crc });
    expect(entryOf(sidecar, seg(1))).toMatchObject({
      state: 'done',
      reason: null,
      attempts: 1,
      uri,
      lastError: null,
      nextAttemptAt: null,
    });
    expect(sidecar.reconciler.status().totals).toMatchObject({ done: 1, pending: 0, retrying: 0 });
    expect(await uploads(sidecar, 'success')).toBe(1);
    expect((await sidecar.metrics.repairLastSuccess.get()).values[0]?.value).toBeGreaterThan(0);
    expect((await sidecar.metrics.uploadBytes.get()).values[0]?.value).toBeGreaterThan(0);
    expect(events(sidecar, 'upload_start')).toEqual([expect.objectContaining({ table: TABLE, segment: seg(1), uri })]);
    expect(events(sidecar, 'upload_success')).toEqual([
      expect.objectContaining({ table: TABLE, segment: seg(1), result: 'success' }),
    ]);
    if (s3) expect(bed.proxy.count('PutObject')).toBe(1);
    expect((await sidecar.metrics.repairSegments.get()).values.find((v) => v.labels.status === 'done')?.value).toBe(1);
    expect((await sidecar.metrics.repairQueueDepth.get()).values[0]?.value).toBe(0);

    // Once the tracker has read back our write, the segment costs nothing more: no request, no attempt.
    await sidecar.tracker.waitSynced();
    await waitFor(() =>
      expect(sidecar.tracker.get(TABLE, seg(1))?.zk?.metadata.downloadUrl).toEqual({ kind: 'uri', uri }),
    );
    const requests = sidecar.session.totalRequests();
    expect(await sidecar.reconciler.requestPass()).toMatchObject({ considered: 0, attempted: 0 });
    expect(sidecar.session.totalRequests()).toBe(requests);
    expect(entryOf(sidecar, seg(1))?.state).toBe('done');
    await world.checkInvariants();
  });
});

describe('segments the reconciler must leave alone', () => {
  it('no local replica / not ONLINE → skipped, with the reason', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    const other = await world.addServer();
    await world.commit(seg(1), [{ server, local: 'none' }]); // ONLINE in the current state, no directory
    await world.commit(seg(2), [{ server, local: 'unsealed' }]); // directory without creation.meta
    await world.commit(seg(3), [{ server, state: 'ERROR' }]);
    await world.commit(seg(4), [{ server, state: 'OFFLINE' }]);
    await world.commit(seg(5), [{ server: other }]); // another server's replica only: not hosted here
    const sidecar = await world.startSidecar(server);

    const summary = await sidecar.reconciler.requestPass();
    expect(summary).toMatchObject({ trigger: 'request', considered: 4 });
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'skipped', reason: 'not_local' });
    expect(entryOf(sidecar, seg(2))).toMatchObject({ state: 'skipped', reason: 'not_sealed' });
    expect(entryOf(sidecar, seg(3))).toMatchObject({
      state: 'skipped',
      reason: 'not_online',
      detail: 'replica is ERROR',
    });
    expect(entryOf(sidecar, seg(4))).toMatchObject({
      state: 'skipped',
      reason: 'not_online',
      detail: 'replica is OFFLINE',
    });
    expect(entryOf(sidecar, seg(5))).toBeUndefined();
    expect(bed.proxy.count('PutObject') + bed.proxy.count('CreateMultipartUpload')).toBe(0);
    for (const n of [1, 2, 3, 4, 5]) expect(await world.url(seg(n))).toBe('');

    // The replica recovering is a change the reconciler follows.
    await world.setReplicaState(server, seg(3), 'ONLINE');
    await waitFor(() => expect(entryOf(sidecar, seg(3))?.state).toBe('done'));
    await world.checkInvariants();
  });

  it('URL already set → no-op', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }], { downloadUrl: 's3://elsewhere/events/x' });
    const version = (await world.record(seg(1)))!.stat.version;
    const sidecar = await world.startSidecar(server);
    const requestsBefore = sidecar.session.totalRequests();

    const summary = await sidecar.reconciler.requestPass();
    expect(summary).toMatchObject({ considered: 0, attempted: 0 });
    expect(sidecar.reconciler.status().segments).toEqual([]);
    expect(sidecar.session.totalRequests()).toBe(requestsBefore);
    expect(bed.proxy.log).toEqual([]);
    expect((await world.record(seg(1)))!.stat.version).toBe(version);
    await world.checkInvariants();
  });

  it('IN_PROGRESS and COMMITTING → never written, reported', async () => {
    const world = await bed.world({}, { pauseless: true });
    const server = await world.addServer();
    await world.commit(seg(1), [{ server, state: 'CONSUMING' }], { status: 'IN_PROGRESS', downloadUrl: undefined });
    await world.commit(seg(2), [{ server }], { status: 'COMMITTING', downloadUrl: undefined });
    // Even with a "" URL key (not what Pinot writes, but a write would still reset the commit clock).
    await world.commit(seg(3), [{ server }], { status: 'COMMITTING', downloadUrl: '' });
    const versions = await Promise.all([1, 2, 3].map(async (n) => (await world.record(seg(n)))!.stat.version));
    const sidecar = await world.startSidecar(server);

    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'skipped', reason: 'in_progress' });
    expect(entryOf(sidecar, seg(2))).toMatchObject({ state: 'skipped', reason: 'committing' });
    expect(entryOf(sidecar, seg(3))).toMatchObject({ state: 'skipped', reason: 'committing' });
    expect(bed.proxy.log).toEqual([]);
    for (const [i, n] of [1, 2, 3].entries()) expect((await world.record(seg(n)))!.stat.version).toBe(versions[i]);

    // Commit end (DONE with a deep-store URL): the report entry goes away, nothing is counted as repaired.
    await world.seed.putSegment(TABLE, seg(2), {
      status: 'DONE',
      downloadUrl: world.segmentUri('by-controller'),
      crc: '1',
    });
    await waitFor(() => expect(entryOf(sidecar, seg(2))).toBeUndefined());
    expect(await uploads(sidecar, 'fixed_by_other')).toBe(0);
  });

  it('CRC mismatch → not uploaded, reported', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    const crc = await world.commit(seg(1), [{ server }], { crc: '4242' });
    expect(crc).toBe('4242');
    const sidecar = await world.startSidecar(server);

    await sidecar.reconciler.requestPass();
    const entry = entryOf(sidecar, seg(1));
    expect(entry).toMatchObject({ state: 'skipped', reason: 'crc_mismatch' });
    expect(entry?.detail).toMatch(/^local creation\.meta crc \d+, ZK segment\.crc 4242$/);
    expect(events(sidecar, 'crc_mismatch')).toEqual([
      expect.objectContaining({ table: TABLE, segment: seg(1), detail: entry?.detail }),
    ]);
    // Reported once, not once per pass.
    await sidecar.reconciler.requestPass();
    expect(events(sidecar, 'crc_mismatch')).toHaveLength(1);
    expect(bed.proxy.log).toEqual([]);
    expect(await world.url(seg(1))).toBe('');

    // The local copy changing to the committed one is picked up by the next pass (local changes have no event).
    await corruptLocalCrc(server, seg(1), 4242);
    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'done', uri: world.segmentUri(seg(1)) });
    await world.checkInvariants();
  });

  it('encrypted segment or table → nothing uploaded, reported as encrypted (issue 10 item 5)', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    // Pinot's servers decrypt a deep-store download with segment.crypter: a plain archive there is unreadable.
    await world.commit(seg(1), [{ server }], { extra: { 'segment.crypter': 'AesCrypter' } });
    await world.commit(seg(2), [{ server }]);
    const sidecar = await world.startSidecar(server);

    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({
      state: 'skipped',
      reason: 'encrypted',
      detail: 'segment.crypter is AesCrypter',
    });
    expect(entryOf(sidecar, seg(2))).toMatchObject({ state: 'done' });
    expect(await world.url(seg(1))).toBe('');

    // The table config naming a crypter (minion tasks decrypt every download with it) stops the rest too.
    const encrypted = await bed.world({}, { crypterClassName: 'AesCrypter' });
    const other = await encrypted.addServer();
    await encrypted.commit(seg(3), [{ server: other }]);
    const second = await encrypted.startSidecar(other);
    await second.reconciler.requestPass();
    expect(entryOf(second, seg(3))).toMatchObject({
      state: 'skipped',
      reason: 'encrypted',
      detail: "the table's crypterClassName is AesCrypter",
    });
    expect(await encrypted.url(seg(3))).toBe('');
    expect(await sidecar.deepStore.head(world.segmentUri(seg(1)))).toBeNull();
    expect(await second.deepStore.head(encrypted.segmentUri(seg(3)))).toBeNull();
    await world.checkInvariants();
    await encrypted.checkInvariants();
  });

  it('records that cannot be rewritten exactly → skipped before anything is uploaded, bytes untouched (item 2)', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    await world.commit(seg(2), [{ server }]);
    // seg(1): the URL key twice (Jackson keeps the last; which one to rewrite is ambiguous).
    const plain = (await world.record(seg(1)))!.doc.source.json.toString('utf8');
    const duplicated = plain.replace(
      '"segment.download.url" : "",',
      '"segment.download.url" : "",\n    "segment.download.url" : "",',
    );
    expect(duplicated).not.toBe(plain);
    await world.seed.put(world.metadataPath(seg(1)), Buffer.from(duplicated));
    // seg(2): an unknown field nested 100,000 deep (Helix cannot read it; rewriting it used to overflow the stack
    // after the upload, leaving an orphan object).
    const deep = (await world.record(seg(2)))!.doc.source.json
      .toString('utf8')
      .replace(/\n}$/, `,\n  "deep" : ${'['.repeat(100_000)}${']'.repeat(100_000)}\n}`);
    await world.seed.put(world.metadataPath(seg(2)), Buffer.from(deep));
    const before = await Promise.all(
      [1, 2].map(async (n) => (await world.seedSession.getData(world.metadataPath(seg(n)))).data!),
    );
    const sidecar = await world.startSidecar(server);

    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'skipped', reason: 'not_rewritable' });
    expect(entryOf(sidecar, seg(1))?.detail).toMatch(/holds the key 2 times/);
    expect(entryOf(sidecar, seg(2))).toMatchObject({ state: 'skipped', reason: 'no_metadata' });
    expect(entryOf(sidecar, seg(2))?.detail).toMatch(/nests deeper than 1000 levels/);
    for (const n of [1, 2]) {
      expect(await sidecar.deepStore.head(world.segmentUri(seg(n)))).toBeNull();
      expect((await world.seedSession.getData(world.metadataPath(seg(n)))).data!.equals(before[n - 1]!)).toBe(true);
    }
    expect(urlWrites(sidecar.session)).toBe(0);
  });

  it('near retention → skipped', async () => {
    const world = await bed.world({}, { retention: { unit: 'DAYS', value: '2' } });
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }], { endTimeMs: Date.now() - 2 * 86_400_000 + 30 * 60_000 });
    await world.commit(seg(2), [{ server }], { endTimeMs: Date.now() - 86_400_000 });
    const sidecar = await world.startSidecar(server);

    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'skipped', reason: 'near_retention' });
    expect(entryOf(sidecar, seg(2))).toMatchObject({ state: 'done' });
    expect(await world.url(seg(1))).toBe('');
    await world.checkInvariants();
  });
});

describe('stop()', () => {
  it('aborts an in-flight upload, then makes no ZooKeeper write and starts nothing new', async () => {
    const world = await bed.world();
    const { server, sidecar } = await world.heldAttempt();
    const writes = () => urlWrites(sidecar.session) + sidecar.session.requests.create + sidecar.session.requests.delete;
    const writesAtStop = writes();

    await sidecar.reconciler.stop();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'pending', reason: 'stopped' });
    await world.commit(seg(2), [{ server }]);
    await expect(sidecar.reconciler.requestPass()).rejects.toThrow(ReconcilerStoppedError);
    await sidecar.tracker.waitSynced();
    expect(writes()).toBe(writesAtStop);
    expect(bed.proxy.count('PutObject')).toBe(0);
    expect(await world.url(seg(1))).toBe('');
    // The lock was left to die with the session: closing it releases it.
    await sidecar.stop();
    await waitFor(async () =>
      expect(await world.seedSession.exists(`/pinot-sidecar/${world.cluster}/locks/${TABLE}/${seg(1)}`)).toBeNull(),
    );
    await world.checkInvariants();
  });

  it('does not wait forever for a store that ignores the abort', async () => {
    const world = await bed.world({ store: 'file' });
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    let entered!: () => void;
    const inPut = new Promise<void>((resolve) => (entered = resolve));
    const store = new (class extends GatedDeepStore {
      override put(): Promise<{ bytes: number }> {
        entered();
        return new Promise(() => {}); // never settles, whatever the signal says
      }
    })(world.newDeepStore());
    const sidecar = await world.startSidecar(server, { deepStore: store, stopTimeoutMs: 200 });
    await inPut;
    const setData = urlWrites(sidecar.session);

    await sidecar.reconciler.stop();
    expect(sidecar.logs.some((l) => /did not stop in time/.test(l.msg))).toBe(true);
    expect(urlWrites(sidecar.session)).toBe(setData);
    expect(await world.url(seg(1))).toBe('');
    await world.checkInvariants();
  });
});

describe('local directory vanishing before the attempt', () => {
  it('after the lock and the fresh read, before the archive is planned: skipped as not_local, nothing uploaded', async () => {
    const world = await bed.world({ store: 'file' });
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    // The directory is there when the pass finds the segment eligible and the attempt starts; it goes while the
    // attempt checks the deep store (the local dir absent from the start is the not_local case above).
    const store = new GatedDeepStore(world.newDeepStore());
    const held = store.holdNextVerify();
    const sidecar = await world.startSidecar(server, { deepStore: store });
    await held.reached;
    expect(entryOf(sidecar, seg(1))?.state).not.toBe('skipped');
    await rm(path.join(server.dataDir, TABLE, seg(1)), { recursive: true });
    held.release();

    await waitFor(() => expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'skipped', reason: 'not_local' }));
    // The attempt found the directory gone when it planned the archive: a failed attempt, not a put.
    expect(events(sidecar, 'upload_failure')).toEqual([expect.objectContaining({ reason: 'SegmentChangedError' })]);
    expect(store.puts).toBe(0);
    expect(await store.head(world.segmentUri(seg(1)))).toBeNull();
    expect(urlWrites(sidecar.session)).toBe(0);
    expect(await world.url(seg(1))).toBe('');
    await world.checkInvariants();
  });
});
