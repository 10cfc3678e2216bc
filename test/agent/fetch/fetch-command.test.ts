import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DeepStoreReader } from '../../../src/agent/fetch/deep-store-reader.js';
import { fetchSegment, type FetchEnvironment, type FetchResult } from '../../../src/agent/fetch/procedure.js';
import { createDeepStore } from '../../../src/deepstore/index.js';
import { SegmentStore, streamSegmentArchive } from '../../../src/segments/index.js';
import { closedPort, startBadPeer, type BadPeer, type PeerAnswer } from '../../helpers/bad-peer.js';
import { runCli } from '../../helpers/cli.js';
import { recordProcessErrors } from '../../helpers/process-errors.js';
import { startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';
import { FAKE_CREDENTIALS, FAKE_REGION, startS3Fake, type S3Fake } from '../../helpers/s3-fake.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';
import { rawTarGz } from '../../helpers/tar-entries.js';
import { digestTree } from '../../helpers/tree.js';

/**
 * `pinot-sidecar fetch` end to end: a real ZooKeeper seeded like a Pinot cluster, the sidecar's real HTTP app
 * as the healthy peer, misbehaving peers and deep stores over real sockets. Each test seeds its own segment
 * (and the external view it needs) and fetches into a fresh folder.
 */
const RAW = 'fetchTbl';
const TABLE = `${RAW}_REALTIME`;

const pinot = useSeededCluster('fetch', { setup: (seed) => seed.addTable(TABLE) });
let root: string;
let dataDir: string;
let sidecar: TestHttpServer;
let nothingListens: number;
const peers: BadPeer[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fetch-cmd-'));
  dataDir = path.join(root, 'data');
  await mkdir(dataDir, { recursive: true });
  sidecar = await startTestHttpServer({ dataDir });
  nothingListens = await closedPort();
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await sidecar?.close();
  await rm(root, { recursive: true, force: true });
});

let serial = 0;
/** A new segment hosted by the healthy peer (`<dataDir>/<table>/<name>`), v3 with a ~2 MiB payload. */
async function hostedSegment(): Promise<BuiltSegment> {
  serial += 1;
  return buildSegment(path.join(dataDir, TABLE), {
    name: `${RAW}__0__${serial}__20240101T0000Z`,
    layout: 'v3',
    payloadBytes: 2 * 1024 * 1024,
    payloadKind: 'mixed',
  });
}

/** The archive the sidecar serves for a segment under `data` (what a peer, or a deep-store upload, holds). */
async function archiveIn(data: string, segment: string): Promise<Buffer> {
  return buffer(streamSegmentArchive(await new SegmentStore(data).resolve(TABLE, segment)));
}

const archiveOf = (seg: BuiltSegment) => archiveIn(dataDir, seg.name);

/** Another build of the same segment (different files, so a different CRC): a replica ZooKeeper disagrees with. */
async function otherBuildOf(seg: BuiltSegment): Promise<{ archive: Buffer; crc: number }> {
  serial += 1;
  const otherData = path.join(root, `other-${serial}`);
  const other = await buildSegment(path.join(otherData, TABLE), { name: seg.name, layout: 'v3', payloadBytes: 4096 });
  return { archive: await archiveIn(otherData, seg.name), crc: other.crc };
}

/**
 * fetchSegment itself rather than the CLI, for an order the test decides: replicas are sorted before the shuffle
 * and `random: () => 0.999` keeps that order. Sidecar URLs go nowhere; peers answer on their adminPort.
 */
async function fetchInOrder(segment: string, out: string, extra: Partial<FetchEnvironment> = {}): Promise<FetchResult> {
  const { session, cluster } = pinot;
  const deepStore = new DeepStoreReader();
  try {
    return await fetchSegment(
      { table: TABLE, segment, outDir: out, force: false },
      {
        session,
        cluster,
        peer: { scheme: 'http', sidecarPort: nothingListens },
        deepStore,
        retry: { attempts: 1, initialDelayMs: 1, factor: 2 },
        random: () => 0.999,
        ...extra,
      },
    );
  } finally {
    await deepStore.close();
  }
}

/** A fresh output folder path (not created: fetch creates it). */
function newOut(): string {
  serial += 1;
  return path.join(root, `out-${serial}`);
}

async function badPeer(answer: PeerAnswer, host?: string): Promise<BadPeer> {
  const peer = await startBadPeer(answer, host === undefined ? {} : { host });
  peers.push(peer);
  return peer;
}

function fetchCli(seg: string, out: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return runCli(['fetch', TABLE, seg, '--out', out, '--retry-delay-ms', '1', ...extra], {
    PINOT_SIDECAR_ZK: inject('zkConnectString'),
    PINOT_SIDECAR_CLUSTER: pinot.cluster,
    ...env,
  });
}

const peerUrl = (port: number, seg: string, host = '127.0.0.1') => `http://${host}:${port}/segments/${TABLE}/${seg}`;

async function expectFetched(out: string, seg: BuiltSegment): Promise<void> {
  expect(await readdir(out)).toEqual([seg.name]); // the segment, and no staging folder left behind
  expect(await digestTree(path.join(out, seg.name))).toEqual(await digestTree(seg.dir));
}

describe('fetch from a peer (segment.download.url = "")', () => {
  it("downloads from the ONLINE replica's sidecar (gzipped external view), verifies the CRC, prints one line", async () => {
    const seg = await hostedSegment();
    await pinot.seed.addInstance('Server_peer_1', { adminPort: nothingListens });
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_peer_1: 'ONLINE' } }, { compress: true });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
    const out = newOut();

    const r = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port)]);

    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^fetched ${seg.name} of ${TABLE} from peer Server_peer_1 sidecar ${peerUrl(sidecar.port, seg.name)}: \\d+ bytes \\([\\d.]+ MiB\\), CRC ${seg.crc} matches ZooKeeper, into ${out}/${seg.name}\\n$`,
      ),
    );
    await expectFetched(out, seg);
  });

  it('a corrupt answer from the sidecar (CRC mismatch) fails that source; the server endpoint of the same peer is next', async () => {
    const seg = await hostedSegment();
    const other = await otherBuildOf(seg);
    const liar = await badPeer({ kind: 'archive', body: other.archive });
    await pinot.seed.addInstance('Server_solo', { adminPort: sidecar.port });
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_solo: 'ONLINE' } });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
    const out = newOut();

    const r = await fetchCli(seg.name, out, ['--peer-port', String(liar.port)]);

    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      `pinot-sidecar fetch: attempt 1: peer Server_solo sidecar ${peerUrl(liar.port, seg.name)}: CRC mismatch: the archive's creation.meta says ${other.crc}, ZooKeeper segment.crc is ${seg.crc}\n`,
    );
    expect(r.stdout).toContain(`from peer Server_solo server ${peerUrl(sidecar.port, seg.name)}: `);
    expect(liar.requests).toHaveLength(1);
    await expectFetched(out, seg);
  });

  it('CONSUMING, ERROR and OFFLINE replicas are never tried', async () => {
    const seg = await hostedSegment();
    // The others live on another loopback address: their sidecar URL refuses and their server endpoint records.
    const recorder = await badPeer(
      { kind: 'status', status: 500, body: '{"message":"must not be asked"}' },
      '127.0.0.2',
    );
    for (const id of ['Server_consuming', 'Server_error', 'Server_offline'])
      await pinot.seed.addInstance(id, { host: '127.0.0.2', adminPort: recorder.port });
    await pinot.seed.addInstance('Server_online', { adminPort: nothingListens });
    await pinot.seed.setExternalView(TABLE, {
      [seg.name]: {
        Server_consuming: 'CONSUMING',
        Server_error: 'ERROR',
        Server_offline: 'OFFLINE',
        Server_online: 'ONLINE',
      },
    });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
    const out = newOut();

    const r = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port)]);

    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('from peer Server_online sidecar');
    expect(recorder.requests).toEqual([]);
    await expectFetched(out, seg);
  });

  it('no ONLINE replica: a clear error after the configured attempts, nothing left in --out (exit 1)', async () => {
    const seg = await hostedSegment();
    const recorder = await badPeer({ kind: 'status', status: 500, body: '{}' }, '127.0.0.2');
    for (const id of ['Server_consuming', 'Server_error'])
      await pinot.seed.addInstance(id, { host: '127.0.0.2', adminPort: recorder.port });
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_consuming: 'CONSUMING', Server_error: 'ERROR' } });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
    const out = newOut();

    const r = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port), '--attempts', '3']);

    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const reason = `no ONLINE replica of ${seg.name} in the external view (Server_consuming: CONSUMING, Server_error: ERROR); only ONLINE replicas serve segments`;
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      `pinot-sidecar fetch: attempt 1: peers: ${reason}`,
      expect.stringMatching(/^pinot-sidecar fetch: attempt 2 of 3 in \d+\.\d s$/),
      `pinot-sidecar fetch: attempt 2: peers: ${reason}`,
      expect.stringMatching(/^pinot-sidecar fetch: attempt 3 of 3 in \d+\.\d s$/),
      `pinot-sidecar fetch: attempt 3: peers: ${reason}`,
    ]);
    expect(lines[5]).toBe(
      `pinot-sidecar fetch: could not fetch ${seg.name} of ${TABLE}: all 3 attempts failed (each source's reason is listed above)`,
    );
    expect(lines).toHaveLength(6);
    expect(recorder.requests).toEqual([]);
    expect(existsSync(out)).toBe(false); // not even the --out folder this fetch created

    const json = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port), '--attempts', '2', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      table: TABLE,
      segment: seg.name,
      error: `could not fetch ${seg.name} of ${TABLE}: all 2 attempts failed`,
      failures: [1, 2].map((attempt) => ({ attempt, source: 'peers', reason })),
    });
  });

  it('a sidecar that requires a token gets it from --token-file; the Pinot server endpoint never does', async () => {
    const seg = await hostedSegment();
    const guarded = await startTestHttpServer({ dataDir, token: 's3cret-token' });
    const server = await badPeer({ kind: 'status', status: 503, body: '{"message":"busy"}' });
    try {
      await pinot.seed.addInstance('Server_guarded', { adminPort: server.port });
      await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_guarded: 'ONLINE' } });
      await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
      const tokenFile = path.join(root, `token-${seg.name}`);
      await writeFile(tokenFile, 's3cret-token\n');

      const existing = newOut();
      await mkdir(existing);
      await writeFile(path.join(existing, 'unrelated'), 'x');
      const without = await fetchCli(seg.name, existing, ['--peer-port', String(guarded.port), '--attempts', '1']);
      expect(without.code).toBe(1);
      expect(await readdir(existing)).toEqual(['unrelated']); // a folder that was there stays, with nothing added
      expect(without.stderr).toContain(`peer Server_guarded sidecar ${peerUrl(guarded.port, seg.name)}: HTTP 401`);
      expect(without.stderr).toContain(`peer Server_guarded server ${peerUrl(server.port, seg.name)}: HTTP 503: busy`);

      const out = newOut();
      const withToken = await fetchCli(seg.name, out, ['--peer-port', String(guarded.port), '--attempts', '1'], {
        PINOT_SIDECAR_TOKEN_FILE: tokenFile,
      });
      expect(withToken.code).toBe(0);
      await expectFetched(out, seg);
      expect(server.requests.map((r) => r.headers.authorization)).toEqual([undefined]);
    } finally {
      await guarded.close();
    }
  });
});

describe('a misbehaving peer fails its source, the next peer succeeds, the reason is reported', () => {
  let seg: BuiltSegment;
  let good: Buffer;
  let otherBuild: Buffer;
  let bad: BadPeer;

  beforeAll(async () => {
    seg = await hostedSegment();
    good = await archiveOf(seg);
    otherBuild = (await otherBuildOf(seg)).archive;
    bad = await startBadPeer({ kind: 'status', status: 500, body: '' });
    await pinot.seed.addInstance('Server_a_bad', { adminPort: bad.port });
    await pinot.seed.addInstance('Server_b_good', { adminPort: sidecar.port });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
  });

  afterAll(async () => {
    await bad?.close();
  });

  it.each<[string, () => PeerAnswer, RegExp]>([
    [
      'a CRC that disagrees with ZooKeeper',
      () => ({ kind: 'archive', body: otherBuild }),
      /^CRC mismatch: the archive's creation\.meta says \d+, ZooKeeper segment\.crc is \d+$/,
    ],
    [
      'a CRC announced in X-Segment-Crc that disagrees',
      () => ({ kind: 'archive', body: good, headers: { 'X-Segment-Crc': String(seg.crc + 1) } }),
      /^CRC mismatch: the X-Segment-Crc header says \d+/,
    ],
    [
      'a truncated body',
      () => ({ kind: 'archive', body: good.subarray(0, Math.floor(good.length / 2)) }),
      /^gzip: unexpected end of file: the archive is truncated$/,
    ],
    [
      'a lying Content-Length (connection closed early)',
      () => ({ kind: 'cut', body: good, announce: good.length, send: Math.floor(good.length / 3) }),
      /^received \d+ bytes, but \d+ were announced/,
    ],
    [
      'a first entry that is not the segment directory',
      () => ({ kind: 'archive', body: rawTarGz([{ path: `${seg.name}/creation.meta`, body: 'x' }]) }),
      /^the first entry is .* not the segment directory/,
    ],
    [
      'an entry escaping with ../',
      () => ({
        kind: 'archive',
        body: rawTarGz([{ path: `${seg.name}/` }, { path: `${seg.name}/../../../../escaped-by-peer.txt`, body: 'x' }]),
      }),
      /^unsafe archive entry .*: path contains '\.\.'$/,
    ],
    [
      'HTTP 500',
      () => ({
        kind: 'status',
        status: 500,
        body: '{"code":500,"message":"Table fetchTbl_REALTIME segment x does not exist"}',
      }),
      /^HTTP 500: Table fetchTbl_REALTIME segment x does not exist$/,
    ],
  ])('%s', async (_what, answer, reason) => {
    bad.answer(answer());
    const before = bad.requests.length;
    await pinot.seed.setExternalView(TABLE, {
      [seg.name]: { Server_b_good: 'ONLINE', Server_a_bad: 'ONLINE', Server_c_gone: 'CONSUMING' },
    });
    const out = newOut();
    const result = await fetchInOrder(seg.name, out); // Server_a_bad before Server_b_good

    expect(result.source).toMatchObject({
      kind: 'peer',
      instance: 'Server_b_good',
      endpoint: 'server',
      url: peerUrl(sidecar.port, seg.name),
    });
    expect(result.crc).toBe(String(seg.crc));
    expect(result.failures).toEqual([
      {
        attempt: 1,
        source: `peer Server_a_bad sidecar ${peerUrl(nothingListens, seg.name)}`,
        reason: expect.stringMatching(/ECONNREFUSED/),
      },
      {
        attempt: 1,
        source: `peer Server_a_bad server ${peerUrl(bad.port, seg.name)}`,
        reason: expect.stringMatching(reason),
      },
      {
        attempt: 1,
        source: `peer Server_b_good sidecar ${peerUrl(nothingListens, seg.name)}`,
        reason: expect.stringMatching(/ECONNREFUSED/),
      },
    ]);
    expect(bad.requests.length - before).toBe(1);
    await expectFetched(out, seg);
    expect(existsSync(path.join(root, 'escaped-by-peer.txt'))).toBe(false);
  });
});

describe('an archive refused while node-tar still has entries to write', () => {
  it('fails that source with the reason, leaves no late error and no staging folder, and the next peer serves', async () => {
    const seg = await hostedSegment();
    // The refused entry shares its chunk with a run of entries node-tar has parsed and queued: each still needs
    // its mkdir/open/close when the refusal comes, i.e. while the procedure already clears the staging folder
    // for the next source. Several rounds, as a real fetch retrying would.
    const queued = Array.from({ length: 30 }, (_, i) => ({ path: `${seg.name}/v3/part-${i}/file` }));
    const hostile = rawTarGz([
      { path: `${seg.name}/` },
      ...queued,
      { path: `${seg.name}/../../escaped-mid-extraction.txt`, body: 'x' },
      ...queued.map((e) => ({ path: `${e.path}-after` })),
    ]);
    const liar = await badPeer({ kind: 'archive', body: hostile });
    await pinot.seed.addInstance('Server_a_hostile', { adminPort: liar.port });
    await pinot.seed.addInstance('Server_b_honest', { adminPort: sidecar.port });
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_a_hostile: 'ONLINE', Server_b_honest: 'ONLINE' } });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });

    const recorder = recordProcessErrors();
    try {
      for (let round = 0; round < 10; round++) {
        const out = newOut();
        const result = await fetchInOrder(seg.name, out);
        expect(result.source).toMatchObject({ kind: 'peer', instance: 'Server_b_honest', endpoint: 'server' });
        expect(result.failures).toContainEqual({
          attempt: 1,
          source: `peer Server_a_hostile server ${peerUrl(liar.port, seg.name)}`,
          reason: `unsafe archive entry ${JSON.stringify(`${seg.name}/../../escaped-mid-extraction.txt`)}: path contains '..'`,
        });
        await expectFetched(out, seg); // the segment, and no staging folder left behind
      }
      expect(recorder.errors).toEqual([]);
    } finally {
      recorder.stop();
    }
    expect(liar.requests).toHaveLength(10);
    expect(existsSync(path.join(root, 'escaped-mid-extraction.txt'))).toBe(false);
  });
});

describe('a peer that goes silent', () => {
  let seg: BuiltSegment;
  let good: Buffer;
  let silent: BadPeer;

  beforeAll(async () => {
    seg = await hostedSegment();
    good = await archiveOf(seg);
    silent = await startBadPeer({ kind: 'stall', body: good, send: Math.floor(good.length / 2) });
    await pinot.seed.addInstance('Server_silent', { adminPort: silent.port });
    await pinot.seed.addInstance('Server_speaks', { adminPort: sidecar.port });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
  });

  afterAll(async () => {
    await silent?.close();
  });

  it('fails its source once the idle timeout passes; the next peer serves', async () => {
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_silent: 'ONLINE', Server_speaks: 'ONLINE' } });
    const out = newOut();
    const result = await fetchInOrder(seg.name, out, { idleTimeoutMs: 300 });
    expect(result.source).toMatchObject({ instance: 'Server_speaks', endpoint: 'server' });
    expect(result.failures).toContainEqual({
      attempt: 1,
      source: `peer Server_silent server ${peerUrl(silent.port, seg.name)}`,
      reason: 'timed out: no data for 300 ms',
    });
    await expectFetched(out, seg);
  });

  it('an interrupt mid-download rejects with its reason and leaves nothing in --out', async () => {
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_silent: 'ONLINE' } });
    const out = newOut();
    const controller = new AbortController();
    const fetching = fetchInOrder(seg.name, out, { signal: controller.signal });
    fetching.catch(() => {});
    // The first half has arrived and is being extracted into the staging folder.
    await vi.waitFor(async () =>
      expect(
        (await readdir(out, { recursive: true })).some((p) => p.endsWith('creation.meta') || p.includes('v3')),
      ).toBe(true),
    );
    const reason = new Error('interrupted by SIGINT');
    controller.abort(reason);
    await expect(fetching).rejects.toBe(reason);
    expect(existsSync(out)).toBe(false); // not even the --out folder this fetch created
  });
});

describe('fetch from the deep store (segment.download.url is a URI)', () => {
  it('file:// — the object a FileDeepStore wrote; peers are not asked', async () => {
    const seg = await hostedSegment();
    const deepDir = await mkdtemp(path.join(root, 'deep-'));
    const store = createDeepStore(pathToFileURL(deepDir).href);
    const uri = store.segmentUri(RAW, seg.name);
    await store.put(uri, streamSegmentArchive(await new SegmentStore(dataDir).resolve(TABLE, seg.name)), {
      crc: String(seg.crc),
    });
    const recorder = await badPeer({ kind: 'status', status: 500, body: '{}' });
    await pinot.seed.addInstance('Server_unasked', { adminPort: recorder.port });
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_unasked: 'ONLINE' } });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: uri, crc: String(seg.crc) });
    const out = newOut();

    const r = await fetchCli(seg.name, out, ['--peer-port', String(recorder.port)]);

    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`from deep store ${uri}: `);
    expect(r.stdout).toContain(`CRC ${seg.crc} matches ZooKeeper`);
    expect(recorder.requests).toEqual([]);
    await expectFetched(out, seg);
  });

  describe('s3:// through the S3 fake', () => {
    let fake: S3Fake;
    beforeAll(async () => {
      fake = await startS3Fake();
    });
    afterAll(async () => {
      await fake?.stop();
    });

    it('reads the object an S3DeepStore wrote (multipart), with --s3-endpoint and --s3-path-style', async () => {
      const seg = await hostedSegment();
      await fake.createBucket('fetch-deep');
      const store = createDeepStore('s3://fetch-deep/pinot/data', {
        s3: {
          endpoint: fake.endpoint,
          region: FAKE_REGION,
          credentials: FAKE_CREDENTIALS,
          forcePathStyle: true,
          partSizeBytes: 5 * 1024 * 1024,
        },
      });
      const uri = store.segmentUri(RAW, seg.name);
      await store.put(uri, streamSegmentArchive(await new SegmentStore(dataDir).resolve(TABLE, seg.name)), {
        crc: String(seg.crc),
      });
      await store.close();
      await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: uri, crc: String(seg.crc) });
      vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE_CREDENTIALS.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE_CREDENTIALS.secretAccessKey);
      const out = newOut();

      const r = await fetchCli(seg.name, out, [
        '--s3-endpoint',
        fake.endpoint,
        '--s3-path-style',
        '--s3-region',
        FAKE_REGION,
      ]);

      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`from deep store s3://fetch-deep/pinot/data/${RAW}/${seg.name}: `);
      await expectFetched(out, seg);
    });
  });

  it('http:// — a controller-style download URL', async () => {
    const seg = await hostedSegment();
    const url = sidecar.url(`/segments/${TABLE}/${seg.name}`);
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: url, crc: String(seg.crc) });
    const out = newOut();

    const r = await fetchCli(seg.name, out, ['--json']);

    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: true,
      table: TABLE,
      segment: seg.name,
      dir: path.join(out, seg.name),
      source: { kind: 'deep-store', uri: url, access: 'http' },
      crc: String(seg.crc),
      crcVia: 'crc',
      attempts: 1,
      failures: [],
    });
    await expectFetched(out, seg);
  });

  it('a deep-store object that is missing fails that source; the ONLINE peer is next (BaseTableDataManager falls back to peers)', async () => {
    const seg = await hostedSegment();
    const uri = `${pathToFileURL(path.join(root, 'no-deep-store')).href}/${RAW}/${seg.name}`;
    await pinot.seed.addInstance('Server_fallback', { adminPort: nothingListens });
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_fallback: 'ONLINE' } });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: uri, crc: String(seg.crc) });
    const out = newOut();

    const r = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port)]);

    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`pinot-sidecar fetch: attempt 1: deep store ${uri}: file get ${uri}: no such object\n`);
    expect(r.stdout).toContain('from peer Server_fallback sidecar');
    await expectFetched(out, seg);
  });
});

describe('refusals', () => {
  it('no download URL (a COMMITTING segment): a clear error, nothing downloaded (exit 1)', async () => {
    const seg = await hostedSegment();
    await pinot.seed.putSegment(TABLE, seg.name, { status: 'COMMITTING' });
    const out = newOut();
    const r = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^pinot-sidecar fetch: ${seg.name} of ${TABLE} has no segment\\.download\\.url in ZooKeeper: its status is COMMITTING`,
      ),
    );
    expect(existsSync(out)).toBe(false); // not even the --out folder this fetch created
  });

  it('an existing target is refused without --force and replaced with it', async () => {
    const seg = await hostedSegment();
    await pinot.seed.addInstance('Server_force', { adminPort: nothingListens });
    await pinot.seed.setExternalView(TABLE, { [seg.name]: { Server_force: 'ONLINE' } });
    await pinot.seed.putSegment(TABLE, seg.name, { downloadUrl: '', crc: String(seg.crc) });
    const out = newOut();
    await mkdir(path.join(out, seg.name), { recursive: true });
    await writeFile(path.join(out, seg.name, 'old-copy'), 'keep me');

    const refused = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `pinot-sidecar fetch: ${path.join(out, seg.name)} already exists; pass --force to replace it\n`,
    );
    expect(await readdir(path.join(out, seg.name))).toEqual(['old-copy']);

    const forced = await fetchCli(seg.name, out, ['--peer-port', String(sidecar.port), '--force']);
    expect(forced.code).toBe(0);
    await expectFetched(out, seg);
  });

  it.each([
    [
      'a table name without its type: exit 2',
      RAW,
      'seg_1',
      2,
      /table "fetchTbl" has no type: give the name with its type/,
    ],
    ['a segment name Pinot paths cannot carry: exit 2', TABLE, 'seg 1', 2, /invalid segment "seg 1"/],
    [
      'a segment ZooKeeper does not know: exit 1',
      TABLE,
      'fetchTbl__9__9__20240101T0000Z',
      1,
      /no ZooKeeper metadata for segment fetchTbl__9__9__20240101T0000Z of table fetchTbl_REALTIME/,
    ],
  ])('%s', async (_what, table, segment, code, message) => {
    const out = newOut();
    const r = await runCli(['fetch', table, segment, '--out', out], {
      PINOT_SIDECAR_ZK: inject('zkConnectString'),
      PINOT_SIDECAR_CLUSTER: pinot.cluster,
    });
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('a cluster that does not exist is a configuration error (exit 2)', async () => {
    const r = await runCli([
      'fetch',
      TABLE,
      'fetchTbl__0__1__20240101T0000Z',
      '--out',
      newOut(),
      '--zk',
      inject('zkConnectString'),
      '--cluster',
      'no_such_cluster_here',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Pinot cluster "no_such_cluster_here" does not exist in ZooKeeper/);
  });

  it('missing options are listed, one line each (exit 2)', async () => {
    const r = await runCli(['fetch', TABLE], {});
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').slice(0, 5)).toEqual([
      'pinot-sidecar fetch: invalid arguments',
      '  expected <tableNameWithType> <segment>, got 1 argument',
      '  --zk (PINOT_SIDECAR_ZK): required',
      '  --cluster (PINOT_SIDECAR_CLUSTER): required',
      '  --out: required',
    ]);
  });
});
