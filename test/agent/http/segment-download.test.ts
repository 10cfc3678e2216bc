import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { extractTarGz } from '../../helpers/raw-tar.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../../helpers/fixtures.js';
import { metricValue, startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';
import { parseResponse, rawRequest, type RawResponse } from '../../helpers/raw-http.js';
import { digestTree, openFdCount } from '../../helpers/tree.js';
import { PlansFirst } from '../../../src/agent/http/plans-first.js';
import { SegmentStore } from '../../../src/segments/index.js';

let root: string;
let dataDir: string;
let server: TestHttpServer;
const RT = 'events_REALTIME';
const OFF = 'orders_OFFLINE';
// Names are constants: it.each tables are built before beforeAll runs.
const RT_SEG = 'events__0__1__20240101T0000Z';
let rt: BuiltSegment;
let v3: BuiltSegment;
let off: BuiltSegment;
/** Big and incompressible: a reader that stops reading fills every buffer between it and the archive. */
let big: BuiltSegment;

/** Save a downloaded body, extract it with GNU tar, return the extracted tree of the segment. */
async function extracted(body: Buffer, segment: string): Promise<Map<string, string>> {
  const dir = await mkdtemp(path.join(root, 'x-'));
  const file = path.join(dir, 'download.tar.gz');
  await writeFile(file, body);
  const out = path.join(dir, 'out');
  await mkdir(out);
  await extractTarGz(file, out);
  return digestTree(path.join(out, segment));
}

async function firstTarEntry(body: Buffer): Promise<string> {
  const { gunzipSync } = await import('node:zlib');
  const tar = gunzipSync(body);
  return tar.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'sidecar-http-'));
  dataDir = path.join(root, 'data');
  rt = await buildSegment(path.join(dataDir, RT), {
    name: RT_SEG,
    layout: 'v3',
    payloadBytes: 300_000,
    payloadKind: 'mixed',
  });
  v3 = await buildSegment(path.join(dataDir, RT), {
    name: 'events__1__1__20240101T0000Z',
    layout: 'v3',
    extraFiles: { 'v3/star_tree_index': 'x'.repeat(5000) },
  });
  off = await buildSegment(path.join(dataDir, OFF), { name: 'orders_0', layout: 'v1' });
  big = await buildSegment(path.join(dataDir, RT), {
    name: 'events__5__5__20240101T0000Z',
    payloadBytes: 48 * 1024 * 1024,
    payloadKind: 'random',
  });
  // Something outside the data dir that no request may ever reach.
  await writeFile(path.join(root, 'secret.txt'), 'TOPSECRET-OUTSIDE-DATA-DIR');
  server = await startTestHttpServer({ dataDir });
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe('segment download', () => {
  it.each([
    ['our path, typed table', () => `/tables/${RT}/segments/${rt.name}`, () => rt],
    ['our path, raw table', () => `/tables/events/segments/${rt.name}`, () => rt],
    ["Pinot's path", () => `/segments/${RT}/${rt.name}`, () => rt],
    ['an OFFLINE table by raw name', () => `/tables/orders/segments/${off.name}`, () => off],
    ["an OFFLINE table on Pinot's path", () => `/segments/${OFF}/${off.name}`, () => off],
    ['a v3 segment with extra index files', () => `/tables/${RT}/segments/${v3.name}`, () => v3],
  ])('%s: extracts with GNU tar to the source tree byte for byte', async (_name, target, segment) => {
    const seg = segment();
    const res = await rawRequest(server.port, target());
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.headers['content-type']).toBe('application/gzip');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${seg.name}.tar.gz"`);
    expect(res.headers['x-segment-crc']).toBe(String(seg.crc));
    expect(res.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    // Pinot's untar takes the first entry as the segment dir (TarCompressionUtils.untar(...).get(0)).
    expect(await firstTarEntry(res.body)).toBe(`${seg.name}/`);
    const got = await extracted(res.body, seg.name);
    expect(got).toEqual(await digestTree(seg.dir));
    await vi.waitFor(async () =>
      expect(await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_in_flight')).toBe(0),
    );
  });

  it('HEAD answers with the same headers and no body, without streaming', async () => {
    const before = await metricValue(server.metrics, 'pinot_sidecar_peer_download_bytes_total');
    for (const target of [`/tables/${RT}/segments/${rt.name}`, `/segments/${RT}/${rt.name}`]) {
      const res = await rawRequest(server.port, target, { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(res.headers['x-segment-crc']).toBe(String(rt.crc));
      expect(res.headers['content-type']).toBe('application/gzip');
    }
    expect(await metricValue(server.metrics, 'pinot_sidecar_peer_download_bytes_total')).toBe(before);
  });

  it("a download's plan counts in PlansFirst and its stream holds its reads while another plan is in flight; HEAD does not count", async () => {
    /** The real PlansFirst, counting what the download path asks of it. */
    class CountingPlansFirst extends PlansFirst {
      started = 0;
      asked = 0;
      override startPlan(): () => void {
        this.started += 1;
        return super.startPlan();
      }
      override streamGate(): () => Promise<void> | undefined {
        const gate = super.streamGate();
        return () => {
          this.asked += 1;
          return gate();
        };
      }
    }
    // A hold as long as the test: only the end of the other plan lets the stream read.
    const plans = new CountingPlansFirst({ holdMs: 60_000 });
    const own = await startTestHttpServer({ dataDir, plansFirst: plans });
    try {
      expect((await rawRequest(own.port, `/tables/${RT}/segments/${rt.name}`, { method: 'HEAD' })).status).toBe(200);
      expect(plans.started).toBe(0);
      const endOther = plans.startPlan(); // another download's plan, still in flight
      const res = await fetch(own.url(`/tables/${RT}/segments/${rt.name}`));
      expect(res.status).toBe(200);
      expect(plans.started).toBe(2);
      await vi.waitFor(() => expect(plans.asked).toBe(1));
      const reader = res.body!.getReader();
      const first = await reader.read();
      expect(first.value?.length).toBe(10); // the gzip header, sent once the plan succeeded; no file byte yet
      expect(plans.asked).toBe(1);
      endOther();
      const chunks = [Buffer.from(first.value)];
      for (let part = await reader.read(); !part.done; part = await reader.read()) chunks.push(Buffer.from(part.value));
      expect(plans.asked).toBeGreaterThan(1);
      expect(await extracted(Buffer.concat(chunks), rt.name)).toEqual(await digestTree(rt.dir));
    } finally {
      await own.close();
    }
  });

  it('counts downloads and bytes', async () => {
    const before = await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'success' });
    const res = await fetch(server.url(`/tables/${RT}/segments/${rt.name}`));
    const body = Buffer.from(await res.arrayBuffer());
    await vi.waitFor(async () =>
      expect(await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'success' })).toBe(
        before + 1,
      ),
    );
    expect(await metricValue(server.metrics, 'pinot_sidecar_peer_download_bytes_total')).toBeGreaterThanOrEqual(
      body.length,
    );
    expect(await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_in_flight')).toBe(0);
  });

  it.each([
    [`/tables/${RT}/segments/nope`, 404],
    [`/segments/${RT}/nope`, 404],
    ['/tables/nosuchtable/segments/x', 404],
    ['/tables/bad%20table/segments/x', 400],
    ['/tables/t/segments/a%zz', 400],
    ['/health/nothing', 404],
  ])('%s → %i with a JSON error', async (target, status) => {
    const res = await rawRequest(server.port, target);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(res.body.toString()) as { error: string; status: number };
    expect(body.status).toBe(status);
    expect(body.error.length).toBeGreaterThan(0);
  });
});

describe.skipIf(!hasPinotFixtures)(`Pinot's own segment tarballs${fixturesSkipNote}`, () => {
  // creation.meta CRCs from ../shared/fixtures/pinot/README.md; the v3 one is not recomputable
  // (format conversion kept the v1 creation.meta), which the download does not care about.
  const cases = [
    ['legacyRawInverted_OFFLINE_0.tar.gz', 'legacyRawInverted_OFFLINE_0', '1299627447'],
    ['legacyRawInverted_v3_OFFLINE_0.tar.gz', 'legacyRawInverted_OFFLINE_0', '1299627447'],
    ['paddingNull.tar.gz', null, '2641412145'],
    ['paddingOld.tar.gz', null, '1317909654'],
    ['paddingPercent.tar.gz', null, '3757555477'],
  ] as const;

  it.each(cases)('%s served from a data dir re-extracts to the same tree', async (file, _name, crc) => {
    const table = `fixture${file.replace(/[^A-Za-z]/g, '').slice(0, 20)}_OFFLINE`;
    const tableDir = path.join(dataDir, table);
    await mkdir(tableDir, { recursive: true });
    await extractTarGz(pinotFixture(file), tableDir);
    const { readdir } = await import('node:fs/promises');
    const [segment] = await readdir(tableDir);
    const res = await rawRequest(server.port, `/segments/${table}/${segment}`);
    expect(res.status).toBe(200);
    expect(res.headers['x-segment-crc']).toBe(crc);
    expect(await extracted(res.body, segment!)).toEqual(await digestTree(path.join(tableDir, segment!)));
  });
});

describe('traversal and malformed paths over a raw socket', () => {
  beforeAll(async () => {
    // Symlinks the resolver must refuse: a table dir, a segment dir, and a file inside a segment.
    await symlink(path.join(dataDir, RT), path.join(dataDir, 'linked_REALTIME'));
    await symlink(rt.dir, path.join(dataDir, RT, 'events__9__9__20240101T0000Z'));
    const withLink = await buildSegment(path.join(dataDir, RT), { name: 'events__8__8__20240101T0000Z' });
    await symlink(path.join(root, 'secret.txt'), path.join(withLink.dir, 'leak.txt'));
    await symlink(root, path.join(dataDir, 'escape_OFFLINE'));
  });

  const corpus = [
    `/tables/${RT}/segments/../../secret.txt`,
    `/tables/${RT}/segments/..%2F..%2Fsecret.txt`,
    `/tables/${RT}/segments/%2e%2e%2f%2e%2e%2fsecret.txt`,
    `/tables/${RT}/segments/%2e%2e`,
    `/tables/${RT}/segments/..`,
    `/tables/${RT}/segments/.`,
    `/tables/..%2F..%2F/segments/secret.txt`,
    `/tables/%2e%2e/segments/secret.txt`,
    `/segments/..%2F${RT}/${RT_SEG}`,
    `/segments/${RT}/..%5C..%5Csecret.txt`,
    `/segments/${RT}/%5C..%5Csecret.txt`,
    `/tables/${RT}/segments/${RT_SEG}%2F..%2F..%2F..%2Fsecret.txt`,
    `/tables/${RT}//segments/${RT_SEG}`,
    `//tables/${RT}/segments/${RT_SEG}`,
    `/tables/${RT}/segments//${RT_SEG}`,
    `/tables/${RT}/segments/${RT_SEG}%00`,
    `/tables/${RT}/segments/${RT_SEG}%00.tar.gz`,
    `/tables/${RT}%00/segments/${RT_SEG}`,
    `/tables/${RT}/segments/%252e%252e%252fsecret.txt`,
    `/tables/${RT}/segments/${'a'.repeat(256)}`,
    `/tables/${'t'.repeat(300)}_REALTIME/segments/x`,
    `/tables/${RT}/segments/${'%41'.repeat(300)}`,
    `/tables/${RT}/segments/\\..\\..\\secret.txt`,
    `/tables/${RT}/segments/%C0%AE%C0%AE%2Fsecret.txt`,
    `/tables/${RT}/segments/%ZZ`,
    `/tables/linked_REALTIME/segments/${RT_SEG}`,
    `/tables/${RT}/segments/events__9__9__20240101T0000Z`,
    `/tables/${RT}/segments/events__8__8__20240101T0000Z`,
    `/tables/escape_OFFLINE/segments/secret.txt`,
    `/segments/escape_OFFLINE/data`,
    `/tables/${RT}/segments/${RT_SEG}/v3/columns.psf`,
    `/tables/${RT}/segments/${RT_SEG}/creation.meta`,
  ];

  it.each(corpus)('%s → 400 or 404, never file content, never a 5xx', async (target) => {
    const res: RawResponse = await rawRequest(server.port, target);
    expect([400, 404]).toContain(res.status);
    expect(res.body.toString('latin1')).not.toContain('TOPSECRET');
    // Node's HTTP parser refuses some targets (a raw backslash) before the app sees them: a bare 400.
    if (res.headers['content-type'] !== undefined) expect(res.headers['content-type']).toMatch(/^application\/json/);
  });

  it('keeps serving after the whole corpus', async () => {
    const res = await rawRequest(server.port, `/tables/${RT}/segments/${rt.name}`);
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
  });
});

/** Open a download, wait for the first body bytes, and hand back the socket. */
async function startDownload(port: number, target: string): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {});
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await vi.waitFor(() => expect(Buffer.concat(chunks).length).toBeGreaterThan(64 * 1024));
  return { socket, received: () => Buffer.concat(chunks) };
}

/** A download request from a client that never reads: the stream stalls on backpressure and holds its slot. */
function openWithoutReading(port: number, target: string): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  socket.pause();
  socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return socket;
}

/** Takes the one download slot of `server` with a big download nobody reads, and hands back its socket. */
async function holdTheOnlySlot(server: TestHttpServer): Promise<net.Socket> {
  const holder = openWithoutReading(server.port, `/tables/${RT}/segments/${big.name}`);
  await vi.waitFor(() => expect(server.slots.active).toBe(1));
  return holder;
}

/** A real segment store that counts the requests that reached the disk. */
class CountingSegmentStore extends SegmentStore {
  resolves = 0;

  override resolve(table: string, segment: string): ReturnType<SegmentStore['resolve']> {
    this.resolves += 1;
    return super.resolve(table, segment);
  }
}

describe('streams that end badly', () => {
  it('a client that disconnects mid-stream leaves no file descriptor behind', async () => {
    // Warm up so lazily opened handles (zlib, thread pool, every compression worker: a segment of several blocks
    // starts them all) are part of the baseline.
    await rawRequest(server.port, `/tables/${RT}/segments/${big.name}`);
    const baseline = openFdCount();
    for (let i = 0; i < 3; i++) {
      const { socket } = await startDownload(server.port, `/tables/${RT}/segments/${big.name}`);
      socket.destroy();
    }
    await vi.waitFor(
      async () => expect(await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_in_flight')).toBe(0),
      { timeout: 10_000 },
    );
    await vi.waitFor(() => expect(openFdCount()).toBeLessThanOrEqual(baseline), { timeout: 10_000 });
    expect(
      await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'aborted' }),
    ).toBeGreaterThanOrEqual(3);
    expect(server.slots.active).toBe(0);
  });

  it('a segment deleted mid-stream gives the client a broken transfer, not a clean end', async () => {
    const victim = await buildSegment(path.join(dataDir, RT), {
      name: 'events__6__6__20240101T0000Z',
      payloadBytes: 48 * 1024 * 1024,
      payloadKind: 'random',
    });
    const { socket, received } = await startDownload(server.port, `/tables/${RT}/segments/${victim.name}`);
    await rm(victim.dir, { recursive: true, force: true });
    await new Promise<void>((r) => socket.once('close', () => r()));
    const res = parseResponse(received());
    expect(res.status).toBe(200);
    expect(res.complete).toBe(false);
    await vi.waitFor(async () =>
      expect(
        await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'error' }),
      ).toBeGreaterThanOrEqual(1),
    );
  });
});

describe('limits and authentication', () => {
  it('answers 503 with Retry-After when every slot and queue place is taken', async () => {
    const limited = await startTestHttpServer({ dataDir, maxDownloads: 1, queue: 0 });
    try {
      // A client that does not read keeps the stream paused by backpressure, and its slot taken.
      const holder = await holdTheOnlySlot(limited);
      const res = await rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`);
      expect(res.status).toBe(503);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(JSON.parse(res.body.toString())).toMatchObject({ status: 503 });
      expect(await metricValue(limited.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'busy' })).toBe(1);
      holder.destroy();
      await vi.waitFor(() => expect(limited.slots.active).toBe(0));
      expect((await rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('a refused request touches no file: admission comes before resolving and planning the segment', async () => {
    const store = new CountingSegmentStore(dataDir);
    const limited = await startTestHttpServer({ dataDir, store, maxDownloads: 1, queue: 1 });
    try {
      const holder = await holdTheOnlySlot(limited);
      // The queued request waits for its slot before it looks at the disk.
      const queued = rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`);
      await vi.waitFor(() => expect(limited.slots.queued).toBe(1));
      expect(store.resolves).toBe(1);
      const refused = await Promise.all(
        Array.from({ length: 40 }, () => rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`)),
      );
      expect(refused.map((r) => r.status)).toEqual(refused.map(() => 503));
      expect(store.resolves).toBe(1);
      expect(await metricValue(limited.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'busy' })).toBe(40);
      // Names are still checked first: a malformed one is a 400 even when every slot is taken.
      expect((await rawRequest(limited.port, `/tables/bad%20table/segments/${rt.name}`)).status).toBe(400);
      // Once the slot frees, the queued request does its disk work and is served whole.
      holder.destroy();
      const served = await queued;
      expect(served.status).toBe(200);
      expect(served.complete).toBe(true);
      expect(await extracted(served.body, rt.name)).toEqual(await digestTree(rt.dir));
      expect(store.resolves).toBe(2);
    } finally {
      await limited.close();
    }
  });

  it('a queued request whose segment is gone gets its 404 and gives its slot back', async () => {
    const limited = await startTestHttpServer({ dataDir, maxDownloads: 1, queue: 1 });
    try {
      const holder = await holdTheOnlySlot(limited);
      const missing = rawRequest(limited.port, `/tables/${RT}/segments/nope`);
      await vi.waitFor(() => expect(limited.slots.queued).toBe(1));
      holder.destroy();
      expect((await missing).status).toBe(404);
      await vi.waitFor(() => expect(limited.slots.active).toBe(0));
      expect((await rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('a reader that stops reading loses its slot after the idle timeout', async () => {
    const limited = await startTestHttpServer({ dataDir, maxDownloads: 1, queue: 0, downloadIdleTimeoutMs: 1_000 });
    try {
      const { socket, received } = await startDownload(limited.port, `/tables/${RT}/segments/${big.name}`);
      // It read a little and stops: the kernel buffers fill and the archive waits for it.
      socket.pause();
      expect(limited.slots.active).toBe(1);
      // The server gives up on it: the slot is free and the next download is served.
      await vi.waitFor(() => expect(limited.slots.active).toBe(0), { timeout: 20_000, interval: 100 });
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.resume();
      await closed;
      expect(parseResponse(received()).complete).toBe(false);
      expect(await metricValue(limited.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'aborted' })).toBe(1);
      expect((await rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('a client that gives up while queued leaves the queue at once', async () => {
    const limited = await startTestHttpServer({ dataDir, maxDownloads: 1, queue: 1 });
    try {
      const holder = await holdTheOnlySlot(limited);
      const quitter = openWithoutReading(limited.port, `/tables/${RT}/segments/${RT_SEG}`);
      await vi.waitFor(() => expect(limited.slots.queued).toBe(1));
      quitter.destroy();
      await vi.waitFor(() => expect(limited.slots.queued).toBe(0));
      // Its place is free: the next request queues instead of getting 503, and is served once the holder goes.
      const next = rawRequest(limited.port, `/tables/${RT}/segments/${RT_SEG}`);
      await vi.waitFor(() => expect(limited.slots.queued).toBe(1));
      holder.destroy();
      expect((await next).status).toBe(200);
      await vi.waitFor(async () =>
        expect(
          await metricValue(limited.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'aborted' }),
        ).toBeGreaterThanOrEqual(2),
      );
      expect(await metricValue(limited.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'busy' })).toBe(0);
    } finally {
      await limited.close();
    }
  });

  it('queues within the bound instead of refusing', async () => {
    const limited = await startTestHttpServer({ dataDir, maxDownloads: 1, queue: 2 });
    try {
      const holder = await holdTheOnlySlot(limited);
      // Two requests wait in the queue while the slot is taken; a third would be one too many.
      const queued = [1, 2].map(() => rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`));
      await vi.waitFor(() => expect(limited.slots.queued).toBe(2));
      expect((await rawRequest(limited.port, `/tables/${RT}/segments/${rt.name}`)).status).toBe(503);
      holder.destroy();
      const served = await Promise.all(queued);
      expect(served.map((r) => [r.status, r.complete])).toEqual([
        [200, true],
        [200, true],
      ]);
      expect(await extracted(served[1]!.body, rt.name)).toEqual(await digestTree(rt.dir));
      expect(await metricValue(limited.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'busy' })).toBe(1);
    } finally {
      await limited.close();
    }
  });

  it('with a token: 401 without it or with a wrong one, 200 with it; health and metrics stay open', async () => {
    const secured = await startTestHttpServer({ dataDir, token: 's3cr3t-token' });
    try {
      const target = `/tables/${RT}/segments/${rt.name}`;
      const none = await rawRequest(secured.port, target);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await rawRequest(secured.port, target, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      expect(
        (await rawRequest(secured.port, target, { headers: { Authorization: 'Basic czNjcjN0LXRva2Vu' } })).status,
      ).toBe(401);
      expect((await rawRequest(secured.port, target, { method: 'HEAD' })).status).toBe(401);
      expect((await rawRequest(secured.port, `/segments/${RT}/${rt.name}`)).status).toBe(401);
      // Unknown paths are behind the token too: nothing is learned without it.
      expect((await rawRequest(secured.port, '/anything')).status).toBe(401);
      expect(
        (await rawRequest(secured.port, target, { headers: { Authorization: 'Bearer s3cr3t-token' } })).status,
      ).toBe(200);
      expect((await rawRequest(secured.port, '/health/live')).status).toBe(200);
      expect((await rawRequest(secured.port, '/metrics')).status).toBe(200);
      // A path that normalises to a protected route is protected.
      expect((await rawRequest(secured.port, `/health/live/../../tables/${RT}/segments/${rt.name}`)).status).toBe(401);
    } finally {
      await secured.close();
    }
  });

  it('a download refused for its token counts as unauthorized; other refused paths do not', async () => {
    const secured = await startTestHttpServer({ dataDir, token: 's3cr3t-token', authHealth: true });
    const unauthorized = () =>
      metricValue(secured.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'unauthorized' });
    try {
      expect((await rawRequest(secured.port, `/tables/${RT}/segments/${rt.name}`)).status).toBe(401);
      expect(await unauthorized()).toBe(1);
      expect(
        (await rawRequest(secured.port, `/segments/${RT}/${rt.name}`, { headers: { Authorization: 'Bearer wrong' } }))
          .status,
      ).toBe(401);
      expect(await unauthorized()).toBe(2);
      // Not downloads: probes, metrics, repair, unknown paths, and HEAD (never counted, whatever its outcome).
      for (const [target, method] of [
        ['/health/ready', 'GET'],
        ['/metrics', 'GET'],
        ['/repair/status', 'GET'],
        ['/repair/run', 'POST'],
        ['/anything', 'GET'],
        [`/tables/${RT}/segments`, 'GET'],
        [`/tables/${RT}/segments/${rt.name}`, 'HEAD'],
      ] as const) {
        expect((await rawRequest(secured.port, target, { method })).status).toBe(401);
      }
      expect(await unauthorized()).toBe(2);
      expect(await metricValue(secured.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'success' })).toBe(0);
    } finally {
      await secured.close();
    }
  });

  it('with --auth-health the probes and metrics need the token too', async () => {
    const secured = await startTestHttpServer({ dataDir, token: 't', authHealth: true });
    try {
      expect((await rawRequest(secured.port, '/metrics')).status).toBe(401);
      expect((await rawRequest(secured.port, '/health/ready')).status).toBe(401);
      expect((await rawRequest(secured.port, '/metrics', { headers: { Authorization: 'Bearer t' } })).status).toBe(200);
    } finally {
      await secured.close();
    }
  });

  it('refuses new downloads once shutdown started', async () => {
    const closing = await startTestHttpServer({ dataDir, accepting: () => false });
    try {
      const res = await rawRequest(closing.port, `/tables/${RT}/segments/${rt.name}`);
      expect(res.status).toBe(503);
    } finally {
      await closing.close();
    }
  });

  it('health: live always, ready follows readiness', async () => {
    let ready = false;
    const s = await startTestHttpServer({
      dataDir,
      readiness: () => ({ ready, reasons: ready ? [] : ['zookeeper not connected'] }),
    });
    try {
      expect((await rawRequest(s.port, '/health/live')).status).toBe(200);
      const notReady = await rawRequest(s.port, '/health/ready');
      expect(notReady.status).toBe(503);
      expect(JSON.parse(notReady.body.toString()).reasons).toEqual(['zookeeper not connected']);
      ready = true;
      expect((await rawRequest(s.port, '/health/ready')).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});
