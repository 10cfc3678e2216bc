import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeepStoreCallOptions, SegmentObjectMeta } from '../../../src/deepstore/deep-store.js';
import { ZooKeeperError } from '../../../src/helix/errors.js';
import { ZkSession, type ZkMultiOp, type ZkWriteOptions } from '../../../src/helix/zk-session.js';
import { FileDeepStore } from '../../../src/deepstore/file-deep-store.js';
import { faults } from '../../helpers/fault-proxy.js';
import { mountTinyTmpfs } from '../../helpers/tiny-tmpfs.js';
import {
  entryOf,
  events,
  GatedDeepStore,
  ManualClock,
  seg,
  uploads,
  useTestBed,
  waitFor,
  urlWrites,
} from './harness.js';

/**
 * Deep-store and ZooKeeper failures during a repair: S3 (fauxqs) behind the fault proxy, real ZooKeeper.
 * Schedules that the test must observe use a manual clock; the next attempt then happens only when the test
 * moves the clock and asks for a pass, so nothing here depends on timing.
 */
const bed = useTestBed();

const uploadRequests = () => bed.proxy.count('PutObject') + bed.proxy.count('UploadPart');

/** A real 512 KiB tmpfs as a file deep store that fills up (issue 10 item 13). */
const fullStore = mountTinyTmpfs('repair-full-store', 512 * 1024);
afterAll(() => fullStore.unmount());

describe(`a full deep store${fullStore.skipNote}`, () => {
  it.skipIf(fullStore.dir === null)(
    '→ retrying with reason NoSpace (not AbortError), counted as no_space, ZooKeeper untouched',
    async () => {
      const world = await bed.world({ store: 'file' });
      const server = await world.addServer();
      await world.commit(seg(1), [{ server, payloadBytes: 2 * 1024 * 1024 }]);
      const sidecar = await world.startSidecar(server, {
        deepStore: new FileDeepStore(`file://${fullStore.dir}`),
        now: new ManualClock().now,
      });

      await waitFor(() =>
        expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'retrying', reason: 'NoSpace', attempts: 1 }),
      );
      expect(entryOf(sidecar, seg(1))?.lastError).toMatch(/deep store is full/);
      expect(await uploads(sidecar, 'no_space')).toBe(1);
      expect(await uploads(sidecar, 'error')).toBe(0);
      expect(events(sidecar, 'upload_failure')).toEqual([
        expect.objectContaining({ reason: 'NoSpace', permanent: false }),
      ]);
      expect(await world.url(seg(1))).toBe('');
      expect(urlWrites(sidecar.session)).toBe(0);
    },
  );
});

describe('deep-store failures', () => {
  it('upload 500 → ZK untouched, retried', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    const before = (await world.record(seg(1)))!;
    bed.proxy.inject('PutObject', faults.internalError());
    const clock = new ManualClock();
    const sidecar = await world.startSidecar(server, { now: clock.now });

    await waitFor(() =>
      expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'retrying', reason: 'InternalError', attempts: 1 }),
    );
    const entry = entryOf(sidecar, seg(1))!;
    expect(Date.parse(entry.nextAttemptAt!)).toBeGreaterThanOrEqual(clock.t + 20);
    expect(entry.lastError).toMatch(/InternalError/);
    const now = (await world.record(seg(1)))!;
    expect(now.stat.version).toBe(before.stat.version);
    expect(now.doc.record).toEqual(before.doc.record);
    expect(urlWrites(sidecar.session)).toBe(0);
    expect(events(sidecar, 'upload_failure')).toEqual([
      expect.objectContaining({ segment: seg(1), reason: 'InternalError', permanent: false }),
    ]);
    expect(await uploads(sidecar, 'error')).toBe(1);

    clock.advance(200);
    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'done', attempts: 2, reason: null });
    expect(bed.proxy.count('PutObject')).toBe(2);
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    await world.checkInvariants();
  });

  it('ambiguous success (object written, client sees an error) → the retry is idempotent', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    bed.proxy.inject('PutObject', faults.forwardThenFail());
    const sidecar = await world.startSidecar(server);

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    // The retry found the object by HEAD with the ZK CRC and did only the ZooKeeper step.
    expect(entryOf(sidecar, seg(1))).toMatchObject({ attempts: 2, reason: 'already_uploaded' });
    expect(uploadRequests()).toBe(1);
    expect(bed.proxy.log.find((r) => r.op === 'PutObject')).toMatchObject({ upstreamStatus: 200, status: 500 });
    expect(await uploads(sidecar, 'error')).toBe(1);
    expect(await uploads(sidecar, 'already_uploaded')).toBe(1);
    expect(await uploads(sidecar, 'success')).toBe(0);
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    await world.checkInvariants();
  });

  it('503 SlowDown with Retry-After honoured: the next attempt not before it', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    bed.proxy.inject('PutObject', faults.slowDown(7));
    const clock = new ManualClock();
    const failedAt = clock.t;
    const sidecar = await world.startSidecar(server, { now: clock.now });

    await waitFor(() => expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'retrying', reason: 'SlowDown' }));
    expect(Date.parse(entryOf(sidecar, seg(1))!.nextAttemptAt!)).toBe(failedAt + 7_000);

    clock.advance(6_999);
    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))?.state).toBe('retrying');
    expect(bed.proxy.count('PutObject')).toBe(1);

    clock.advance(1);
    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))?.state).toBe('done');
    expect(bed.proxy.count('PutObject')).toBe(2);
    await world.checkInvariants();
  });

  it('403 → no fast loop: failed with the reason, one request while a retriable neighbour retries', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    await world.commit(seg(2), [{ server }]);
    const putOf = (n: number) => (r: { op: string; url: string }) =>
      r.op === 'PutObject' && r.url.includes(`/${seg(n)}`);
    const denied = bed.proxy.inject(putOf(1), faults.accessDenied(), { times: Infinity });
    bed.proxy.inject(putOf(2), faults.internalError(), { times: 3 });
    const sidecar = await world.startSidecar(server, { backoff: { minMs: 20, factor: 2, maxMs: 60_000 } });

    // The neighbour goes through three failures and backoffs and succeeds ...
    await waitFor(() => expect(entryOf(sidecar, seg(2))).toMatchObject({ state: 'done', attempts: 4 }));
    // ... while the permanent failure made one request and waits the cap.
    const entry = entryOf(sidecar, seg(1))!;
    expect(entry).toMatchObject({ state: 'failed', reason: 'AccessDenied', attempts: 1 });
    expect(entry.lastError).toMatch(/AccessDenied/);
    expect(Date.parse(entry.nextAttemptAt!) - Date.parse(entry.updatedAt)).toBe(60_000);
    expect(bed.proxy.count(putOf(1))).toBe(1);
    expect(events(sidecar, 'upload_failure').filter((e) => e.segment === seg(1))).toEqual([
      expect.objectContaining({ reason: 'AccessDenied', permanent: true }),
    ]);
    expect(sidecar.reconciler.status().totals).toMatchObject({ failed: 1, done: 1 });
    expect(await world.url(seg(1))).toBe('');

    // An operator's pass (POST /repair/run) is how an operator says "fixed": a failed segment is tried at once.
    await sidecar.reconciler.requestPass();
    expect(bed.proxy.count(putOf(1))).toBe(2);
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'failed', attempts: 2 });
    denied.remove(); // the permissions are fixed
    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'done' });
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    await world.checkInvariants();
  });

  it('an operator pass leaves a retrying segment on its backoff (only failed ones are tried at once)', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    bed.proxy.inject('PutObject', faults.internalError(), { times: Infinity });
    const clock = new ManualClock();
    const sidecar = await world.startSidecar(server, { now: clock.now });
    await waitFor(() => expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'retrying', attempts: 1 }));

    await sidecar.reconciler.requestPass();
    expect(entryOf(sidecar, seg(1))).toMatchObject({ state: 'retrying', attempts: 1 });
    expect(bed.proxy.count('PutObject')).toBe(1);
  });

  it('a deep store that acknowledges what it did not store is never committed', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    const inner = world.newDeepStore();
    const lies = ['drop', 'truncate'];
    const liar = new (class extends GatedDeepStore {
      override async put(uri: string, body: Readable, meta: SegmentObjectMeta, options?: DeepStoreCallOptions) {
        const lie = lies.shift();
        if (lie === undefined) return super.put(uri, body, meta, options);
        const bytes = await buffer(body);
        if (lie === 'truncate')
          await inner.put(uri, Readable.from([bytes.subarray(0, bytes.length - 10)]), meta, options);
        return { bytes: bytes.length };
      }
    })(inner);
    const sidecar = await world.startSidecar(server, { deepStore: liar });

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    expect(entryOf(sidecar, seg(1))?.attempts).toBe(3);
    expect(events(sidecar, 'upload_failure').map((e) => [e.reason, e.err])).toEqual([
      ['DeepStoreVerifyError', expect.stringContaining('no object after a successful put')],
      ['DeepStoreVerifyError', expect.stringMatching(/bytes stored, \d+ written/)],
    ]);
    await world.checkInvariants();
  });
});

/**
 * A real session whose next URL writes (setData, or multi) fail before reaching the server, as a connection loss would.
 */
class FailingWritesSession extends ZkSession {
  failUrlWrites = 0;
  override setData(path: string, data: Buffer, version: number) {
    if (this.failUrlWrites > 0) {
      this.failUrlWrites -= 1;
      return Promise.reject(new ZooKeeperError('CONNECTION_LOSS', 'setData', path));
    }
    return super.setData(path, data, version);
  }
  override multi(ops: readonly ZkMultiOp[], options?: ZkWriteOptions) {
    if (this.failUrlWrites > 0) {
      this.failUrlWrites -= 1;
      return Promise.reject(new ZooKeeperError('CONNECTION_LOSS', 'multi', ops[0]?.path ?? '/'));
    }
    return super.multi(ops, options);
  }
}

describe('ZooKeeper failures', () => {
  it('upload OK then the ZK write fails unanswered → re-read at once and written on that version (no second upload)', async () => {
    const world = await bed.world();
    const server = await world.addServer();
    await world.commit(seg(1), [{ server }]);
    const zk = new FailingWritesSession({ connectString: world.connectString, sessionTimeoutMs: 10_000 });
    await zk.waitConnected();
    zk.failUrlWrites = 1;
    const sidecar = await world.startSidecar(server, { zk });

    await waitFor(() => expect(entryOf(sidecar, seg(1))?.state).toBe('done'));
    // The lost write may have been applied: the same attempt re-reads, finds "" (it was not), and writes again.
    expect(entryOf(sidecar, seg(1))).toMatchObject({ attempts: 1, reason: null });
    expect(events(sidecar, 'upload_failure')).toEqual([]);
    expect(uploadRequests()).toBe(1);
    expect(bed.proxy.count('CreateMultipartUpload')).toBe(0);
    expect(await uploads(sidecar, 'success')).toBe(1);
    expect(urlWrites(zk)).toBe(1);
    expect(await world.url(seg(1))).toBe(world.segmentUri(seg(1)));
    await world.checkInvariants();
  });
});
