import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/agent/metrics.js';
import { AmbiguousWriteError } from '../../../src/agent/repair/errors.js';
import type { HostedView } from '../../../src/agent/repair/hosted-view.js';
import { OutcomeRecorder } from '../../../src/agent/repair/outcome-recorder.js';
import type { AttemptOutcome } from '../../../src/agent/repair/repair-attempt.js';
import { RepairState, type RepairEntry } from '../../../src/agent/repair/repair-state.js';
import { SidecarError } from '../../../src/errors.js';
import type { HostedSegment } from '../../../src/helix/hosted-segments.js';
import { readSegmentMetadata } from '../../../src/helix/segment-metadata.js';
import { segmentRecord } from '../../helpers/pinot-cluster.js';

const NOW = Date.parse('2024-06-01T00:00:00Z');
const TABLE = 'events_REALTIME';
const SEG = 'events__0__5__20240101T0000Z';
const URI = 's3://bucket/events/events__0__5__20240101T0000Z';
const OTHER = 's3://other/copy';
/** The tracker still caches version 5 of the znode. */
const CACHED = { version: 5, mtimeMs: NOW - 10_000 };
const WRITTEN = { version: 6, mtimeMs: NOW - 1_000 };

/** A recorder over a fresh repair state, real metrics, a captured log, and a hand-made view of one hosted segment. */
function recorder({ now = () => NOW }: { now?: () => number } = {}) {
  const repair = new RepairState({ now });
  const metrics = createMetrics({ defaultMetrics: false });
  const events: string[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void events.push(String((JSON.parse(line) as { event?: string }).event)) },
  );
  const hosted: HostedSegment = {
    table: TABLE,
    segment: SEG,
    state: 'ONLINE',
    zk: { metadata: readSegmentMetadata(segmentRecord(SEG, { downloadUrl: '' })), ...CACHED },
  };
  const view: Pick<HostedView, 'get'> = {
    get: (table, segment) => (table === TABLE && segment === SEG ? hosted : undefined),
  };
  let scheduled = 0;
  const outcomes = new OutcomeRecorder({
    repair,
    hosted: view,
    metrics,
    logger,
    now,
    random: () => 0.5,
    backoff: { minMs: 20, factor: 2, maxMs: 200 },
    lockRetryMs: 1000,
    lockPath: (table, segment) => `/locks/${table}/${segment}`,
    onScheduled: () => void (scheduled += 1),
  });
  const uploads = async (): Promise<Record<string, number>> =>
    Object.fromEntries(
      (await metrics.uploads.get()).values.filter((v) => v.value > 0).map((v) => [String(v.labels.result), v.value]),
    );
  const orphans = async (): Promise<number> =>
    (await metrics.deepStoreOrphans.get()).values.reduce((n, v) => n + v.value, 0);
  const gauge = async (state: string): Promise<number | undefined> =>
    (await metrics.repairSegments.get()).values.find((v) => v.labels.status === state)?.value;
  return { repair, outcomes, events, uploads, orphans, gauge, scheduled: () => scheduled };
}

interface Row {
  name: string;
  outcome: AttemptOutcome;
  entry: Partial<RepairEntry>;
  events: string[];
  uploads: Record<string, number>;
  orphans?: number;
}

const rows: Row[] = [
  {
    name: 'locked: pending behind the lock for 50-100 % of lockRetryMs; not an attempt, not logged',
    outcome: { kind: 'locked' },
    entry: {
      state: 'pending',
      reason: 'locked_by_other',
      detail: `/locks/${TABLE}/${SEG}`,
      attempts: 0,
      nextAttemptAt: NOW + 750,
    },
    events: [],
    uploads: {},
  },
  {
    name: 'uploaded and URL set',
    outcome: { kind: 'done', result: 'success', uri: URI, seen: WRITTEN, bytes: 4096, uploadMs: 250 },
    entry: { state: 'done', reason: null, attempts: 1, failures: 0, uri: URI, seen: WRITTEN },
    events: ['upload_success'],
    uploads: { success: 1 },
  },
  {
    name: 'already in the deep store: URL set',
    outcome: { kind: 'done', result: 'already_uploaded', uri: URI, seen: WRITTEN, bytes: null, uploadMs: null },
    entry: { state: 'done', reason: 'already_uploaded', attempts: 1, uri: URI },
    events: ['upload_success'],
    uploads: { already_uploaded: 1 },
  },
  {
    name: 'someone else set the URL after our upload: kept, our object an orphan',
    outcome: { kind: 'fixed_by_other', url: OTHER, seen: WRITTEN, orphan: URI },
    entry: { state: 'fixed_by_other', detail: OTHER, uri: OTHER, orphanUri: URI, attempts: 1, seen: WRITTEN },
    events: ['fixed_by_other', 'orphan_object'],
    uploads: { fixed_by_other: 1 },
    orphans: 1,
  },
  {
    name: 'znode deleted during the repair: gone, the cached version marked superseded',
    outcome: { kind: 'gone', orphan: URI },
    entry: {
      state: 'gone',
      detail: 'segment znode deleted; not recreated',
      attempts: 1,
      seen: { version: CACHED.version + 1, mtimeMs: CACHED.mtimeMs },
      orphanUri: URI,
    },
    events: ['gone', 'orphan_object'],
    uploads: { gone: 1 },
    orphans: 1,
  },
  {
    name: 'the fresh record has another CRC: skipped, crc_mismatch logged',
    outcome: {
      kind: 'skipped',
      reason: 'crc_mismatch',
      detail: 'local creation.meta crc 1, ZK segment.crc 2',
      seen: WRITTEN,
    },
    entry: {
      state: 'skipped',
      reason: 'crc_mismatch',
      detail: 'local creation.meta crc 1, ZK segment.crc 2',
      attempts: 1,
    },
    events: ['crc_mismatch'],
    uploads: {},
  },
  {
    name: 'the fresh record cannot be rewritten: skipped',
    outcome: { kind: 'skipped', reason: 'not_rewritable', detail: 'the URL key twice', seen: WRITTEN },
    entry: { state: 'skipped', reason: 'not_rewritable', detail: 'the URL key twice', attempts: 1, seen: WRITTEN },
    events: ['skipped'],
    uploads: {},
  },
];

describe('OutcomeRecorder', () => {
  it.each(rows)('$name', async (row) => {
    const r = recorder();
    r.outcomes.attempted(TABLE, SEG, row.outcome);
    expect(r.repair.get(TABLE, SEG)).toMatchObject(row.entry);
    expect(r.events).toEqual(row.events);
    expect(await r.uploads()).toEqual(row.uploads);
    expect(await r.orphans()).toBe(row.orphans ?? 0);
    expect(await r.gauge(row.entry.state!)).toBe(1);
  });

  it.each([
    {
      name: 'a transient failure: retrying after the backoff',
      err: new SidecarError('connection reset', { retriable: true }),
      state: 'retrying',
      nextAttemptAt: NOW + 20,
    },
    {
      name: 'a permanent failure: failed, tried at the slowest pace',
      err: new SidecarError('access denied'),
      state: 'failed',
      nextAttemptAt: NOW + 200,
    },
  ])('$name', async ({ err, state, nextAttemptAt }) => {
    const r = recorder();
    r.outcomes.failed(TABLE, SEG, err);
    expect(r.repair.get(TABLE, SEG)).toMatchObject({
      state,
      reason: 'SidecarError',
      lastError: err.message,
      attempts: 1,
      failures: 1,
      nextAttemptAt,
    });
    expect(r.events).toEqual(['upload_failure']);
    expect(await r.uploads()).toEqual({ error: 1 });
    expect(r.scheduled()).toBe(1);
  });

  it('a failure is scheduled from the instant it is recorded: nextAttemptAt - updatedAt is exactly the delay', () => {
    let clock = NOW;
    const r = recorder({ now: () => clock++ }); // every reading of the clock a millisecond later
    r.outcomes.failed(TABLE, SEG, new SidecarError('access denied'));
    const entry = r.repair.get(TABLE, SEG)!;
    expect(entry.nextAttemptAt! - entry.updatedAt).toBe(200);
    r.outcomes.attempted(TABLE, SEG, { kind: 'locked' });
    const waiting = r.repair.get(TABLE, SEG)!;
    expect(waiting.nextAttemptAt! - waiting.updatedAt).toBe(750); // lockRetryMs x (0.5 + random / 2)
  });

  it('an unanswered URL write is kept to be settled by a later view, then cleared when the view shows it not applied', () => {
    const r = recorder();
    const write = { uri: URI, result: 'success' as const, baseVersion: 5 };
    r.outcomes.failed(TABLE, SEG, new AmbiguousWriteError('/path', write, new Error('connection lost')));
    const before = r.repair.get(TABLE, SEG)!;
    expect(before).toMatchObject({ state: 'retrying', unconfirmedWrite: write });
    r.outcomes.unconfirmedNotApplied(TABLE, SEG);
    expect(r.repair.get(TABLE, SEG)).toMatchObject({
      state: 'retrying',
      unconfirmedWrite: null,
      nextAttemptAt: before.nextAttemptAt,
      attempts: 1,
      failures: 1,
    });
  });

  it('the same skip again changes nothing and logs nothing; report-only skips are never logged', () => {
    const r = recorder();
    r.outcomes.skipped(TABLE, SEG, { eligible: false, reason: 'not_online', detail: 'replica is ERROR' }, CACHED);
    const first = r.repair.get(TABLE, SEG);
    r.outcomes.skipped(TABLE, SEG, { eligible: false, reason: 'not_online', detail: 'replica is ERROR' }, CACHED);
    expect(r.repair.get(TABLE, SEG)).toBe(first);
    r.outcomes.skipped(TABLE, SEG, { eligible: false, reason: 'committing' }, CACHED);
    expect(r.repair.get(TABLE, SEG)).toMatchObject({ state: 'skipped', reason: 'committing' });
    expect(r.events).toEqual(['skipped']);
  });

  it('a finished repair queued again starts with fresh counts; a skipped one stays skipped until its local check passes', () => {
    const r = recorder();
    r.outcomes.attempted(TABLE, SEG, {
      kind: 'done',
      result: 'success',
      uri: URI,
      seen: WRITTEN,
      bytes: 1,
      uploadMs: 1,
    });
    r.outcomes.queued(TABLE, SEG);
    expect(r.repair.get(TABLE, SEG)).toMatchObject({ state: 'pending', attempts: 0, failures: 0, uri: null });
    r.outcomes.skipped(TABLE, SEG, { eligible: false, reason: 'not_local' }, CACHED);
    r.outcomes.queued(TABLE, SEG);
    expect(r.repair.get(TABLE, SEG)).toMatchObject({ state: 'skipped', reason: 'not_local' });
    r.outcomes.passedLocalCheck(TABLE, SEG);
    expect(r.repair.get(TABLE, SEG)).toMatchObject({ state: 'pending', reason: null, detail: null });
  });
});
