import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DeepStore } from '../../src/deepstore/deep-store.js';
import { builtSegmentArchive, PatternSource, rejection, sha256 } from './support.js';

/**
 * What every DeepStore does alike, written once and run for each store (store-contract.test.ts): the round
 * trip, Pinot's odd segment names, a foreign object, the verifyArchive verdicts, an abort mid-upload, a missing
 * key, a URI outside the base, the probe. A store's own behaviour (create-only writes, the requests it makes,
 * faults through the proxy, credentials) stays in its own test file.
 *
 * Adding a store is one StoreSubject: how to start its emulator, make a fresh store, and look at what is stored
 * without it.
 */

/** One fresh store (its own bucket, container or folder) and a way to look at it from outside. */
export interface ContractStore {
  store: DeepStore;
  /** The bytes stored for `uri`, read without the store, or null when there is no object. */
  rawBytes(uri: string): Promise<Buffer | null>;
  /** Put `bytes` at `uri` without the store and without its metadata, as Pinot itself would. */
  plantForeign(uri: string, bytes: Buffer): Promise<void>;
}

export interface StoreSubject {
  name: string;
  /** Start what the store needs (an emulator) once per file; stop it after. */
  start(): Promise<void>;
  stop(): Promise<void>;
  fresh(): Promise<ContractStore>;
  /** A URI of the store's own scheme that lies outside every store fresh() makes. */
  outsideUri: string;
  /** A body size that takes more than one part, block or chunk in this store's configuration. */
  largeBodyBytes: number;
  /** How verifyArchive() knows an archive put() wrote: from recorded metadata (one request) or a full read. */
  verifiesPutBy: 'recorded' | 'full_read';
}

export function storeContract(subject: StoreSubject): void {
  describe(`${subject.name}: the DeepStore contract`, () => {
    const opened: DeepStore[] = [];
    let archive: Buffer;
    let crc: string;

    beforeAll(async () => {
      await subject.start();
      ({ archive, crc } = await builtSegmentArchive({ name: 'events__0__7__20240101T0000Z', payloadBytes: 60_000 }));
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    afterAll(async () => {
      await subject.stop();
    });

    async function fresh(): Promise<ContractStore> {
      const handle = await subject.fresh();
      opened.push(handle.store);
      return handle;
    }

    it('round-trips a small object: put, head, get and the stored bytes agree', async () => {
      const { store, rawBytes } = await fresh();
      const uri = store.segmentUri('myTable', 'myTable__0__5__20240101T0000Z');
      const data = Buffer.from('a tiny segment archive');
      expect(await store.put(uri, Readable.from([data]), { crc: '1299627447' })).toEqual({ bytes: data.length });
      expect(await store.head(uri)).toMatchObject({ bytes: data.length });
      const read = await store.get(uri);
      expect(read.bytes).toBe(data.length);
      expect(await buffer(read.body)).toEqual(data);
      expect(await rawBytes(uri)).toEqual(data);
    });

    it('round-trips a body larger than one part, byte-identical', async () => {
      const { store, rawBytes } = await fresh();
      const uri = store.segmentUri('big', 'big__0__1__20240101T0000Z');
      const source = new PatternSource(subject.largeBodyBytes);
      expect(await store.put(uri, source, { crc: '4294967295' })).toEqual({ bytes: subject.largeBodyBytes });
      expect(await store.head(uri)).toMatchObject({ bytes: subject.largeBodyBytes });
      const read = await store.get(uri);
      expect(sha256(await buffer(read.body))).toBe(source.digest());
      // Compared by hash: a deep equality of megabytes blocks the event loop for seconds.
      expect(sha256((await rawBytes(uri)) ?? Buffer.alloc(0))).toBe(source.digest());
    });

    it('stores odd segment names at the URIs Pinot would write, each its own object', async () => {
      const { store, rawBytes } = await fresh();
      const names = ['seg with space', 'a+b', 'seg~tilde', 'séga', '100%', "it's(1)", '*-._'];
      for (const [i, name] of names.entries()) {
        await store.put(store.segmentUri('t', name), Readable.from([Buffer.from(`${i}:${name}`)]), { crc: String(i) });
      }
      for (const [i, name] of names.entries()) {
        const uri = store.segmentUri('t', name);
        expect(await rawBytes(uri)).toEqual(Buffer.from(`${i}:${name}`));
        expect(await buffer((await store.get(uri)).body)).toEqual(Buffer.from(`${i}:${name}`));
      }
    });

    it('heads an object it did not write (not an archive) with crc null, and never verifies it', async () => {
      const { store, plantForeign } = await fresh();
      const uri = store.segmentUri('t', 'by_pinot');
      await plantForeign(uri, Buffer.from('xyz'));
      expect(await store.head(uri)).toMatchObject({ bytes: 3, crc: null });
      expect(await store.verifyArchive(uri, { crc: '1' })).toMatchObject({ kind: 'unverified', bytes: 3 });
    });

    it('verifyArchive: absent, then verified after put()', async () => {
      const { store } = await fresh();
      const uri = store.segmentUri('events', 'events__0__7__20240101T0000Z');
      expect(await store.verifyArchive(uri, { crc })).toEqual({ kind: 'absent' });
      await store.put(uri, Readable.from([archive]), { crc });
      expect(await store.verifyArchive(uri, { crc })).toEqual({
        kind: 'verified',
        bytes: archive.length,
        by: subject.verifiesPutBy,
      });
    });

    it('verifyArchive: a complete archive Pinot wrote is verified by a full read', async () => {
      const { store, plantForeign } = await fresh();
      const uri = store.segmentUri('events', 'events__0__7__20240101T0000Z');
      await plantForeign(uri, archive);
      expect(await store.verifyArchive(uri, { crc })).toEqual({
        kind: 'verified',
        bytes: archive.length,
        by: 'full_read',
      });
    });

    it('verifyArchive: a cut archive, and one of another segment version, are unverified with a reason', async () => {
      const { store, plantForeign } = await fresh();
      const cut = store.segmentUri('events', 'cut');
      await plantForeign(cut, archive.subarray(0, Math.floor(archive.length / 2)));
      expect(await store.verifyArchive(cut, { crc })).toMatchObject({
        kind: 'unverified',
        reason: expect.stringMatching(/truncated|cut/),
      });
      const other = store.segmentUri('events', 'events__0__7__20240101T0000Z');
      await store.put(other, Readable.from([archive]), { crc });
      const otherCrc = String((Number(crc) + 1) % 2 ** 32);
      expect(await store.verifyArchive(other, { crc: otherCrc })).toMatchObject({
        kind: 'unverified',
        reason: expect.stringContaining(otherCrc),
      });
    });

    it('aborting mid-upload rejects with the reason, destroys the body, and leaves no object', async () => {
      const { store, rawBytes } = await fresh();
      const uri = store.segmentUri('t', 'aborted');
      const stallAfter = Math.floor(subject.largeBodyBytes / 2);
      const body = new PatternSource(subject.largeBodyBytes, { stallAfter });
      const controller = new AbortController();
      const put = store.put(uri, body, { crc: '1' }, { signal: controller.signal });
      await vi.waitFor(() => expect(body.emitted).toBeGreaterThanOrEqual(stallAfter));
      const reason = new Error('shutting down');
      controller.abort(reason);
      expect(await rejection(put)).toBe(reason);
      expect(body.destroyed).toBe(true);
      expect(await store.head(uri)).toBeNull();
      expect(await rawBytes(uri)).toBeNull();
    });

    it('get of a missing key is NoSuchKey, permanent', async () => {
      const { store } = await fresh();
      expect(await rejection(store.get(store.segmentUri('t', 'nothing_here')))).toMatchObject({
        code: 'NoSuchKey',
        retriable: false,
      });
      expect(await store.head(store.segmentUri('t', 'nothing_here'))).toBeNull();
    });

    it('refuses a URI outside its base before touching storage, and destroys the body', async () => {
      const { store } = await fresh();
      const body = Readable.from([Buffer.from('x')]);
      expect(await rejection(store.put(subject.outsideUri, body, { crc: '1' }))).toMatchObject({
        code: 'UriOutsideDeepStore',
        retriable: false,
      });
      expect(body.destroyed).toBe(true);
      expect(await rejection(store.get(subject.outsideUri))).toMatchObject({
        code: 'UriOutsideDeepStore',
        retriable: false,
      });
      expect(await rejection(store.head(subject.outsideUri))).toMatchObject({
        code: 'UriOutsideDeepStore',
        retriable: false,
      });
    });

    it.each(['write', 'read'] as const)(
      'probe(%s) of a usable store is ok, and a write probe leaves nothing',
      async (mode) => {
        const { store, rawBytes } = await fresh();
        const result = await store.probe(mode, { name: 'contract' });
        expect(result).toMatchObject({ ok: true, mode });
        expect(result).not.toHaveProperty('warning');
        if (mode === 'write') expect(await rawBytes(result.uri)).toBeNull();
      },
    );
  });
}
