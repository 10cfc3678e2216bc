import { describe, expect, it } from 'vitest';
import { segmentRecord } from '../../src/agent/demo/cluster-seeder.js';
import type { LoggedRequest } from '../helpers/fault-proxy.js';
import { judgeHistory } from './history.js';
import type { DriverWrite, Inspection, SegmentEntry, SegmentKind } from './ledger.js';
import { parseDuration } from './options.js';
import { quantile } from './report.js';
import { createRng } from '../helpers/rng.js';
import { concurrentUploads, objectKey, uploadWindows } from './upload-windows.js';

/** The chaos harness's judgement, on made-up histories: it must catch what it claims to, and nothing else. */

const SEG = 'events__0__1__20240101T0000Z';
const URL = `s3://chaos/pinot/data/events/${SEG}`;
const done = (fields: { url?: string; crc?: string } = {}) =>
  segmentRecord(SEG, {
    status: 'DONE',
    crc: fields.crc ?? '42',
    ...(fields.url === undefined ? { downloadUrl: '' } : { downloadUrl: fields.url }),
  });
const write = (version: number, what: DriverWrite['what'], record = done()): DriverWrite => ({
  version,
  at: version,
  what,
  record,
});

function entry(kind: SegmentKind, writes: DriverWrite[], matching = [1, 2]): SegmentEntry {
  return {
    table: 'events_REALTIME',
    segment: SEG,
    kind,
    replicas: [1, 2],
    matching,
    zkCrc: '42',
    writes,
    eligibleSince: 0,
    commitDoneAt: null,
    controllerUrl: null,
    deletedAt: null,
    uncertain: null,
    inspection: null,
  };
}
const found = (version: number, url: string | undefined, mtimeMs = 1_000): Inspection => ({
  at: 0,
  exists: true,
  version,
  mtimeMs,
  url,
  record: null,
});

describe('judgeHistory: whose writes, and were they allowed', () => {
  it('one write by a sidecar after DONE "" is the repair (and its mtime is when it landed)', () => {
    const verdict = judgeHistory(entry('eligible', [write(0, 'create')]), found(1, URL, 5_000));
    expect(verdict).toEqual({ foreignWrites: 1, violations: [], repairedBySidecar: true, repairedAt: 5_000 });
  });

  it('no foreign write: not repaired, nothing wrong', () => {
    expect(judgeHistory(entry('eligible', [write(0, 'create')]), found(0, ''))).toMatchObject({
      foreignWrites: 0,
      violations: [],
      repairedBySidecar: false,
    });
  });

  it('two foreign writes after DONE "": the second went over a URL', () => {
    expect(judgeHistory(entry('eligible', [write(0, 'create')]), found(2, URL)).violations).toEqual([
      expect.objectContaining({ kind: 'url_overwritten' }),
    ]);
  });

  it('the controller fixed it, then someone wrote again: overwritten', () => {
    const history = [write(0, 'create'), write(1, 'controller_fix', done({ url: URL }))];
    expect(judgeHistory(entry('eligible', history), found(1, URL)).violations).toEqual([]);
    expect(judgeHistory(entry('eligible', history), found(2, URL)).violations).toEqual([
      expect.objectContaining({ kind: 'url_overwritten' }),
    ]);
  });

  it('a sidecar repaired, then the controller wrote its snapshot over it (Pinot does that): allowed, repair time unknown from ZK', () => {
    const verdict = judgeHistory(
      entry('eligible', [write(0, 'create'), write(2, 'controller_fix', done({ url: URL }))]),
      found(2, URL),
    );
    expect(verdict).toEqual({ foreignWrites: 1, violations: [], repairedBySidecar: true, repairedAt: null });
  });

  it.each([
    ['committing', segmentRecord(SEG, { status: 'COMMITTING' }), [1, 2], 'committing_written'],
    ['crc_mismatch', done(), [], 'crc_mismatch_written'],
    ['near_retention', done(), [1, 2], 'near_retention_written'],
    ['no_url_key', segmentRecord(SEG, { status: 'DONE', crc: '42' }), [1, 2], 'no_url_key_written'],
  ] as const)('any write to a %s record is a violation', (kind, record, matching, violation) => {
    const history = [write(0, 'create', record)];
    expect(
      judgeHistory(entry(kind, history, [...matching]), found(0, record.simpleFields['segment.download.url']))
        .violations,
    ).toEqual([]);
    expect(judgeHistory(entry(kind, history, [...matching]), found(1, URL)).violations).toEqual([
      expect.objectContaining({ kind: violation }),
    ]);
  });

  it('a COMMITTING segment committed later is repairable from then on', () => {
    const history = [write(0, 'create', segmentRecord(SEG, { status: 'COMMITTING' })), write(1, 'commit_done')];
    expect(judgeHistory(entry('committing', history), found(2, URL))).toMatchObject({
      violations: [],
      repairedBySidecar: true,
    });
  });

  it("a version below the driver's last write means the znode was recreated; a missing one, that it vanished", () => {
    expect(
      judgeHistory(
        entry('eligible', [write(0, 'create'), write(1, 'controller_fix', done({ url: URL }))]),
        found(0, ''),
      ).violations,
    ).toEqual([expect.objectContaining({ kind: 'znode_recreated' })]);
    expect(
      judgeHistory(entry('eligible', [write(0, 'create')]), { ...found(0, ''), exists: false }).violations,
    ).toEqual([expect.objectContaining({ kind: 'znode_vanished' })]);
  });
});

function request(
  op: LoggedRequest['op'],
  client: string,
  startedAt: number,
  end: number,
  extra: Partial<LoggedRequest> = {},
): LoggedRequest {
  const url = `/chaos/pinot/data/events/${SEG}${op === 'PutObject' ? '' : '?uploadId=u1'}`;
  return {
    op,
    method: 'PUT',
    url,
    query: new URLSearchParams(),
    headers: {},
    fault: null,
    status: 200,
    upstreamStatus: 200,
    startedAt,
    endedAt: end,
    answeredAt: end,
    client,
    uploadId: op === 'PutObject' ? null : 'u1',
    ...extra,
  };
}

describe('upload windows at the proxy', () => {
  it('one PutObject per window; multipart requests joined by upload id', () => {
    const windows = uploadWindows([
      request('PutObject', 'a', 0, 10),
      request('CreateMultipartUpload', 'b', 20, 21),
      request('UploadPart', 'b', 22, 40),
      request('CompleteMultipartUpload', 'b', 41, 45),
      request('HeadObject', 'a', 50, 51),
    ]);
    expect(windows.map((w) => [w.client, w.kind, w.start, w.end, w.requests])).toEqual(
      [
        ['a', 'put', 0, 10],
        ['b', 'multipart', 20, 45],
      ].map(([c, k, s, e]) => [c, k, s, e, c === 'a' ? 1 : 3]),
    );
    expect(concurrentUploads(windows)).toEqual([]);
  });

  it('two processes uploading one key at once are caught; one after the other is not', () => {
    expect(
      concurrentUploads(uploadWindows([request('PutObject', 'a', 0, 10), request('PutObject', 'b', 5, 12)])),
    ).toHaveLength(1);
    expect(
      concurrentUploads(uploadWindows([request('PutObject', 'a', 0, 10), request('PutObject', 'b', 10, 12)])),
    ).toHaveLength(0);
  });

  it('a request the store answered after its client died lasts until the store answered', () => {
    const dead = request('PutObject', 'a', 0, 1, { answeredAt: 30 });
    expect(concurrentUploads(uploadWindows([dead, request('PutObject', 'b', 20, 25)]))).toHaveLength(1);
  });

  it('object keys are decoded, without the bucket and the query', () => {
    expect(objectKey('/chaos/pinot/data/my%20table/seg?partNumber=1&uploadId=x')).toBe('pinot/data/my table/seg');
  });
});

describe('options and numbers', () => {
  it.each([
    ['60s', 60_000],
    ['10m', 600_000],
    ['90', 90_000],
    ['1.5m', 90_000],
    ['1h', 3_600_000],
  ])('duration %s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'ten minutes', '10 x', '5s'])('duration %j is refused', (text) => {
    expect(() => parseDuration(text)).toThrow();
  });

  it('seeded streams repeat, and forks are independent of each other', () => {
    const a = createRng(7);
    const b = createRng(7);
    expect(Array.from({ length: 5 }, () => a.next())).toEqual(Array.from({ length: 5 }, () => b.next()));
    const f1 = createRng(7).fork('faults');
    const f2 = createRng(7).fork('faults');
    const d = createRng(7).fork('driver');
    const first = f1.next();
    expect(f2.next()).toBe(first);
    expect(d.next()).not.toBe(first);
  });

  it('quantiles: nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(values, 0.5)).toBe(50);
    expect(quantile(values, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBeNull();
  });
});
