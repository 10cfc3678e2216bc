import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/agent/config.js';
import { storeBase } from '../../../src/agent/fetch/deep-store-reader.js';
import { ArchiveLayoutError, FetchError, UnsafeEntryError } from '../../../src/agent/fetch/errors.js';
import { parseFetchArgs } from '../../../src/agent/fetch/options.js';
import { formatBytes, formatProgress, ProgressLine } from '../../../src/agent/fetch/progress.js';
import { fetchRetryDelayMs, PINOT_PEER_RETRY } from '../../../src/agent/fetch/retry.js';
import { checkEntry } from '../../../src/agent/fetch/safe-untar.js';
import {
  deepStoreAccess,
  planDownload,
  planPeerSources,
  replicaStates,
  shuffle,
  type PeerCandidates,
} from '../../../src/agent/fetch/sources.js';
import { crcVerdict } from '../../../src/agent/fetch/verify.js';
import type { InstanceEndpoint } from '../../../src/helix/cluster-records.js';
import { readSegmentMetadata } from '../../../src/helix/segment-metadata.js';
import { segmentRecord, type SegmentFields } from '../../helpers/pinot-cluster.js';

/** Pure parts of `pinot-sidecar fetch`: which sources, in which order, and what counts as a good archive. */

const T = 'myTable_REALTIME';
const S = 'myTable__0__5__20240101T0000Z';
const meta = (fields: SegmentFields) => readSegmentMetadata(segmentRecord(S, fields));

describe('planDownload: what segment.download.url says (BaseTableDataManager.downloadSegment)', () => {
  it.each([
    [
      'a URI: the deep store first',
      { downloadUrl: 's3://b/pinot/myTable/seg', crc: '77' },
      { deepStoreUri: 's3://b/pinot/myTable/seg', crc: '77' },
    ],
    ['"": peers only', { downloadUrl: '', crc: '77' }, { deepStoreUri: null, crc: '77' }],
    [
      'a legacy realtime key',
      { crc: '5', extra: { 'segment.realtime.download.url': 'file:/d/t/s' } },
      { deepStoreUri: 'file:/d/t/s', crc: '5' },
    ],
  ])('%s', (_what, fields, plan) => {
    expect(planDownload(T, S, meta(fields))).toEqual(plan);
  });

  it.each([
    [
      'absent on a COMMITTING segment',
      { status: 'COMMITTING' as const },
      /no segment\.download\.url .*COMMITTING: the commit has not finished/,
    ],
    [
      'absent on a DONE segment (broken record)',
      { status: 'DONE' as const, crc: '1' },
      /no segment\.download\.url .*incomplete \(status DONE\)/,
    ],
    ['no valid CRC to verify against', { downloadUrl: '', crc: '-3' }, /no valid segment\.crc/],
  ])('refuses %s', (_what, fields, message) => {
    let err: unknown;
    try {
      planDownload(T, S, meta(fields));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FetchError);
    expect(err).toMatchObject({ usage: false, message: expect.stringMatching(message) });
  });
});

describe('deepStoreAccess and storeBase', () => {
  it.each([
    ['s3://bucket/pinot/t/s', 's3'],
    ['S3A://bucket/t/s', 's3'],
    ['file:/var/pinot/t/s', 'file'],
    ['file:///var/pinot/t/s', 'file'],
    ['http://controller:9000/segments/t/s', 'http'],
    ['https://controller/segments/t/s', 'http'],
    ['gs://bucket/t/s', 'gcs'],
    ['adl2://fs/t/s', 'adl2'],
    ['hdfs://nn/t/s', 'unsupported'],
    ['/no/scheme', 'unsupported'],
  ])('%s → %s', (uri, access) => {
    expect(deepStoreAccess(uri)).toBe(access);
  });

  it.each([
    ['s3://bucket/pinot/data/t/s', 's3://bucket'],
    ['s3a://bucket/t/s', 's3a://bucket'],
    ['file:/var/pinot/t/s', 'file:///'],
    ['file:///var/pinot/t/s', 'file:///'],
  ])('the store for %s reads from %s', (uri, base) => {
    expect(storeBase(uri)).toBe(base);
  });
});

describe('peers: ONLINE replicas only, shuffled, sidecar then server', () => {
  const endpoint = (host: string, adminPort = 8097, adminHttpsPort: number | null = null): InstanceEndpoint => ({
    host,
    adminPort,
    adminHttpsPort,
  });
  const addressing = { table: T, segment: S, scheme: 'http' as const, sidecarPort: 9700 };

  it('keeps exactly ONLINE (PeerServerSegmentFinder), sorted, and lists the others for the message', () => {
    const states = replicaStates(
      new Map([
        ['Server_c', 'CONSUMING'],
        ['Server_b', 'ONLINE'],
        ['Server_e', 'ERROR'],
        ['Server_o', 'OFFLINE'],
        ['Server_a', 'ONLINE'],
        ['Server_x', 'online'],
      ]),
    );
    expect(states.online).toEqual(['Server_a', 'Server_b']);
    expect(states.others.map((r) => r.instance)).toEqual(['Server_c', 'Server_e', 'Server_o', 'Server_x']);
  });

  it("builds each peer's sidecar URL, then its server's, from HELIX_HOST and the admin port", () => {
    const candidates: PeerCandidates = {
      states: replicaStates(new Map([['Server_weird_id_1', 'ONLINE']])),
      endpoints: new Map([['Server_weird_id_1', endpoint('pinot-server-0.svc', 8197)]]),
    };
    const plan = planPeerSources(candidates, addressing);
    expect(plan.problems).toEqual([]);
    expect(plan.sources.map((s) => s.kind === 'peer' && [s.endpoint, s.url])).toEqual([
      ['sidecar', `http://pinot-server-0.svc:9700/segments/${T}/${S}`],
      ['server', `http://pinot-server-0.svc:8197/segments/${T}/${S}`],
    ]);
    expect(plan.sources[0]?.label).toBe(
      `peer Server_weird_id_1 sidecar http://pinot-server-0.svc:9700/segments/${T}/${S}`,
    );
  });

  it.each([
    ['adminHttpsPort', endpoint('h', 8097, 8443), 'https://h:8443/'],
    ['8097 when adminHttpsPort is missing, as Pinot defaults', endpoint('h', 8197, null), 'https://h:8097/'],
    ['brackets around an IPv6 host', endpoint('fd00::1', 8097, 8443), 'https://[fd00::1]:8443/'],
  ])('https uses %s', (_what, ep, prefix) => {
    const plan = planPeerSources(
      { states: replicaStates(new Map([['S', 'ONLINE']])), endpoints: new Map([['S', ep]]) },
      { ...addressing, scheme: 'https' },
    );
    expect(plan.sources.map((s) => (s.kind === 'peer' ? s.url : ''))[1]).toMatch(
      new RegExp(`^${prefix.replace(/[[\].]/g, '\\$&')}`),
    );
    expect(plan.sources[0]?.kind === 'peer' && plan.sources[0].url).toMatch(/^https:\/\//);
  });

  it('a replica without an instance config is a problem of this attempt, the others are still tried', () => {
    const plan = planPeerSources(
      {
        states: replicaStates(
          new Map([
            ['A', 'ONLINE'],
            ['B', 'ONLINE'],
          ]),
        ),
        endpoints: new Map<string, InstanceEndpoint | string>([
          ['A', 'no instance config at /c/CONFIGS/PARTICIPANT/A'],
          ['B', endpoint('b')],
        ]),
      },
      addressing,
      () => 0.99,
    );
    expect(plan.problems).toEqual([{ source: 'peer A', reason: 'no instance config at /c/CONFIGS/PARTICIPANT/A' }]);
    expect(plan.sources.map((s) => s.kind === 'peer' && s.instance)).toEqual(['B', 'B']);
  });

  it.each([
    ['no external view', null, new RegExp(`no external view for ${T}`)],
    ['the segment is not in it', replicaStates(undefined), /is not in the external view/],
    [
      'no replica ONLINE',
      replicaStates(
        new Map([
          ['Server_c', 'CONSUMING'],
          ['Server_e', 'ERROR'],
        ]),
      ),
      /no ONLINE replica of .* \(Server_c: CONSUMING, Server_e: ERROR\)/,
    ],
  ])('%s: nothing to try, with the reason', (_what, states, reason) => {
    const plan = planPeerSources({ states, endpoints: new Map() }, addressing);
    expect(plan.sources).toEqual([]);
    expect(plan.problems).toEqual([{ source: 'peers', reason: expect.stringMatching(reason) }]);
  });

  it('shuffle is a permutation, decided by the random source (fixed here), and leaves its input alone', () => {
    const items = ['a', 'b', 'c', 'd'];
    expect(shuffle(items, () => 0.999)).toEqual(['a', 'b', 'c', 'd']);
    expect(shuffle(items, () => 0)).toEqual(['b', 'c', 'd', 'a']);
    const seen = new Set<string>();
    let seed = 1;
    const lcg = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 200; i++) {
      const out = shuffle(items, lcg);
      expect([...out].sort()).toEqual(items);
      seen.add(out.join(''));
    }
    expect(seen.size).toBeGreaterThan(12); // 24 orders exist; a non-shuffle would give one
    expect(items).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe("fetchRetryDelayMs: Pinot's exponentialBackoffRetryPolicy(5, 500, 2.0), jitter in [d, 2d)", () => {
  it('is 5 attempts from 500 ms, factor 2', () => {
    expect(PINOT_PEER_RETRY).toEqual({ attempts: 5, initialDelayMs: 500, factor: 2 });
  });

  it.each([
    [1, 500, 999],
    [2, 1000, 1999],
    [3, 2000, 3999],
    [4, 4000, 7999],
  ])('after failed attempt %i: %i ms to %i ms', (attempt, low, high) => {
    expect(fetchRetryDelayMs(attempt, PINOT_PEER_RETRY, () => 0)).toBe(low);
    expect(fetchRetryDelayMs(attempt, PINOT_PEER_RETRY, () => 0.5)).toBe(low * 1.5);
    expect(fetchRetryDelayMs(attempt, PINOT_PEER_RETRY, () => 1)).toBe(high);
  });
});

describe('crcVerdict: creation.meta against ZooKeeper (BaseTableDataManager.hasSameCRC)', () => {
  const zk = (crc: string | null, dataCrc: string | null = null, useDataCrc = false) => ({ crc, dataCrc, useDataCrc });
  it.each([
    ['equal CRCs', { crcString: '10', dataCrc: 3 }, zk('10'), { ok: true, crc: '10', via: 'crc' }],
    ['different CRCs', { crcString: '11', dataCrc: 3 }, zk('10'), { ok: false, found: '11', expected: '10' }],
    [
      'different CRCs, equal data CRCs, use.data.crc on',
      { crcString: '11', dataCrc: 3 },
      zk('10', '3', true),
      { ok: true, crc: '11', via: 'dataCrc' },
    ],
    [
      'equal data CRCs but use.data.crc off',
      { crcString: '11', dataCrc: 3 },
      zk('10', '3', false),
      { ok: false, found: '11', expected: '10' },
    ],
    [
      'use.data.crc on, creation.meta without a data CRC',
      { crcString: '11', dataCrc: undefined },
      zk('10', '3', true),
      { ok: false, found: '11', expected: '10' },
    ],
  ])('%s', (_what, creationMeta, zkMeta, verdict) => {
    expect(crcVerdict(creationMeta, zkMeta)).toEqual(verdict);
  });
});

describe('checkEntry: what may be extracted', () => {
  it.each([
    ['the segment directory first', { path: `${S}/`, type: 'Directory' }, 0, null],
    ['the segment directory without its slash', { path: S, type: 'Directory' }, 0, null],
    ['a file below it', { path: `${S}/v3/columns.psf`, type: 'File' }, 3, null],
    ['a ./-prefixed file below it', { path: `./${S}/creation.meta`, type: 'File' }, 1, null],
    ['a file first', { path: `${S}/creation.meta`, type: 'File' }, 0, ArchiveLayoutError],
    ['another directory first', { path: 'other/', type: 'Directory' }, 0, ArchiveLayoutError],
    ['a file outside the segment directory', { path: 'README', type: 'File' }, 1, ArchiveLayoutError],
    ['a sibling with the segment name as prefix', { path: `${S}x/f`, type: 'File' }, 1, ArchiveLayoutError],
    ['`..` climbing out', { path: `${S}/../../etc/cron.d/x`, type: 'File' }, 1, UnsafeEntryError],
    ['`..` staying inside after all', { path: `${S}/v3/../creation.meta`, type: 'File' }, 1, UnsafeEntryError],
    ['`..` with backslashes', { path: `${S}\\..\\..\\x`, type: 'File' }, 1, UnsafeEntryError],
    ['an absolute path', { path: `/${S}/creation.meta`, type: 'File' }, 1, UnsafeEntryError],
    ['a drive-letter path', { path: 'C:/x', type: 'File' }, 1, UnsafeEntryError],
    ['a symbolic link', { path: `${S}/link`, type: 'SymbolicLink' }, 1, UnsafeEntryError],
    ['a hard link', { path: `${S}/link`, type: 'Link' }, 1, UnsafeEntryError],
    ['a FIFO', { path: `${S}/pipe`, type: 'FIFO' }, 1, UnsafeEntryError],
  ])('%s', (_what, entry, index, expected) => {
    const problem = checkEntry(entry, index, S);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toBeInstanceOf(expected);
  });
});

describe('progress line', () => {
  it('formats bytes, share and rate', () => {
    expect(formatProgress({ label: 'peer A sidecar', bytes: 12 * 2 ** 20, total: 40 * 2 ** 20, elapsedMs: 2000 })).toBe(
      'peer A sidecar: 12.0 MiB of 40.0 MiB (30%), 6.0 MiB/s',
    );
    expect(formatProgress({ label: 'x', bytes: 500, total: null, elapsedMs: 1000 })).toBe('x: 500 B, 500 B/s');
    expect(formatBytes(3 * 2 ** 30)).toBe('3.0 GiB');
  });

  it('draws on a terminal only, only after a while, at most every interval, and erases itself', () => {
    let now = 0;
    const written: string[] = [];
    const line = new ProgressLine({
      write: (t) => written.push(t),
      enabled: true,
      now: () => now,
      showAfterMs: 1000,
      intervalMs: 200,
    });
    line.start('src', 1000);
    line.update(10);
    now = 999;
    line.update(20);
    expect(written).toEqual([]); // a short download prints nothing
    now = 1000;
    line.update(500);
    now = 1100;
    line.update(600); // within the interval: not redrawn
    now = 1200;
    line.update(700);
    expect(written).toEqual(['\rsrc: 500 B of 1000 B (50%), 500 B/s', '\rsrc: 700 B of 1000 B (70%), 583 B/s']);
    line.clear();
    expect(written.at(-1)).toMatch(/^\r +\r$/);

    const quiet: string[] = [];
    const off = new ProgressLine({ write: (t) => quiet.push(t), enabled: false, now: () => now, showAfterMs: 0 });
    off.start('src', 1000);
    now += 5000;
    off.update(1000);
    off.clear();
    expect(quiet).toEqual([]);
  });
});

describe('parseFetchArgs', () => {
  const base = ['--zk', '127.0.0.1:2181', '--cluster', 'C', '--out', '/tmp/out'];

  it("takes the names, flags over the serve environment variables, and Pinot's defaults", () => {
    const r = parseFetchArgs([T, S, '--out', '/o', '--force'], {
      PINOT_SIDECAR_ZK: 'zk:2181/pinot',
      PINOT_SIDECAR_CLUSTER: 'PinotCluster',
      PINOT_SIDECAR_S3_PATH_STYLE: 'true',
    });
    expect(r).toMatchObject({
      table: T,
      segment: S,
      config: {
        zk: 'zk:2181/pinot',
        cluster: 'PinotCluster',
        out: '/o',
        peerPort: 9700,
        peerScheme: 'http',
        attempts: 5,
        retryDelayMs: 500,
        s3PathStyle: true,
        force: true,
        json: false,
      },
    });
    expect(
      parseFetchArgs([T, S, ...base, '--cluster', 'Other'], { PINOT_SIDECAR_CLUSTER: 'PinotCluster' }).config.cluster,
    ).toBe('Other');
  });

  it.each([
    [[T, ...base], /expected <tableNameWithType> <segment>, got 1 argument/],
    [[T, S, '--zk', 'z:1', '--cluster', 'C'], /^--out: required$/],
    [[T, S, ...base, '--peer-scheme', 'ftp'], /^--peer-scheme: /],
    [[T, S, ...base, '--attempts', '0'], /^--attempts: /],
    [[T, S, ...base, '--bogus'], /bogus/],
  ])('%j → %s', (argv, problem) => {
    let err: unknown;
    try {
      parseFetchArgs(argv, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
  });
});
