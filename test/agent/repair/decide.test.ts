import { describe, expect, it } from 'vitest';
import {
  concernsRepair,
  decide,
  type DecideContext,
  type RepairDecision,
  type RepairFacts,
} from '../../../src/agent/repair/decide.js';
import type { UnconfirmedWrite } from '../../../src/agent/repair/errors.js';
import type { RepairEntry } from '../../../src/agent/repair/repair-state.js';
import type { HostedSegment } from '../../../src/helix/hosted-segments.js';
import { readSegmentMetadata } from '../../../src/helix/segment-metadata.js';
import { segmentRecord, type SegmentFields } from '../../helpers/pinot-cluster.js';

const NOW = Date.parse('2024-06-01T00:00:00Z');
const DAY = 86_400_000;
const TABLE = 'events_REALTIME';
const SEG = 'events__0__5__20240101T0000Z';
const URI = 's3://bucket/events/events__0__5__20240101T0000Z';
/** The cached view's znode: version 5, written 10 s ago. */
const VERSION = 5;
const MTIME = NOW - 10_000;
const SEEN = { version: VERSION, mtimeMs: MTIME };

const FACTS: RepairFacts = {
  tableNameWithType: TABLE,
  replicaState: 'ONLINE',
  tableSettings: { tableType: 'REALTIME', retentionMs: 5 * DAY, pauselessEnabled: false, crypterClassName: null },
  cluster: { maxSegmentCompletionTimeMs: 300_000 },
};

/** A hosted replica whose cached metadata has these fields (DONE, URL "", CRC 1000, far from retention, by default). */
function hosted(fields: SegmentFields = {}, extra: Partial<HostedSegment> = {}): HostedSegment {
  const metadata = readSegmentMetadata(
    segmentRecord(SEG, { status: 'DONE', downloadUrl: '', endTimeMs: NOW - DAY, crc: '1000', ...fields }),
  );
  return { table: TABLE, segment: SEG, state: 'ONLINE', zk: { metadata, ...SEEN }, ...extra };
}

function entry(patch: Partial<RepairEntry>): RepairEntry {
  return {
    table: TABLE,
    segment: SEG,
    state: 'pending',
    reason: null,
    detail: null,
    attempts: 1,
    failures: 0,
    lastError: null,
    nextAttemptAt: null,
    uri: null,
    orphanUri: null,
    seen: null,
    unconfirmedWrite: null,
    updatedAt: NOW - 60_000,
    ...patch,
  };
}

/** Our URL write sent on version 4 and never answered: version 5 is the first that can tell. */
const UNCONFIRMED: UnconfirmedWrite = { uri: URI, result: 'success', baseVersion: VERSION - 1 };
const COMMITTING_ENTRY = entry({ state: 'skipped', reason: 'committing', seen: SEEN });
const BACKING_OFF = entry({ state: 'retrying', reason: 'network', failures: 2, nextAttemptAt: NOW + 5_000 });
const FAILED = entry({ state: 'failed', reason: 'access_denied', failures: 9, nextAttemptAt: NOW + 300_000 });
const DONE = entry({ state: 'done', uri: URI, seen: { version: VERSION - 2, mtimeMs: MTIME - 60_000 } });

interface Row {
  name: string;
  entry?: RepairEntry;
  hosted: HostedSegment | undefined;
  facts?: Partial<RepairFacts>;
  context?: DecideContext;
  expected: RepairDecision;
}

const rows: Row[] = [
  // Whose segment it is
  { name: 'no longer hosted: not ours', entry: BACKING_OFF, hosted: undefined, expected: { kind: 'not_ours' } },
  {
    name: 'an OFFLINE table: not ours',
    hosted: { ...hosted(), table: 'events_OFFLINE' },
    facts: { tableNameWithType: 'events_OFFLINE' },
    expected: { kind: 'not_ours' },
  },
  {
    name: 'metadata not read yet: its change follows',
    hosted: hosted({}, { zk: undefined }),
    expected: { kind: 'await_metadata' },
  },

  // No znode, or one that cannot be read
  {
    name: 'znode deleted after the repair finished: the record stays',
    entry: DONE,
    hosted: hosted({}, { zk: null }),
    expected: { kind: 'none' },
  },
  {
    name: 'a COMMITTING segment whose znode was deleted: forgotten',
    entry: COMMITTING_ENTRY,
    hosted: hosted({}, { zk: null }),
    expected: { kind: 'forget' },
  },
  {
    name: 'a COMMITTING segment whose znode became unreadable: reported',
    entry: COMMITTING_ENTRY,
    hosted: hosted({}, { zk: null, metadataError: 'record nests too deep' }),
    expected: {
      kind: 'skip',
      verdict: { eligible: false, reason: 'no_metadata', detail: 'record nests too deep' },
      seen: null,
    },
  },
  {
    name: 'an active repair whose znode was deleted: skipped, no_metadata',
    entry: BACKING_OFF,
    hosted: hosted({}, { zk: null }),
    expected: {
      kind: 'skip',
      verdict: { eligible: false, reason: 'no_metadata', detail: 'segment metadata znode does not exist' },
      seen: null,
    },
  },
  {
    name: 'an unreadable znode never seen before: reported (it may well be a candidate)',
    hosted: hosted({}, { zk: null, metadataError: 'record past the size limit' }),
    expected: {
      kind: 'skip',
      verdict: { eligible: false, reason: 'no_metadata', detail: 'record past the size limit' },
      seen: null,
    },
  },
  { name: 'no znode and no entry: nothing to report', hosted: hosted({}, { zk: null }), expected: { kind: 'none' } },

  // A view older than what the last attempt saw
  {
    name: 'the last attempt saw a newer version: wait for the tracker',
    entry: entry({ state: 'pending', seen: { version: VERSION + 1, mtimeMs: MTIME + 1_000 } }),
    hosted: hosted(),
    expected: { kind: 'wait', for: 'tracker' },
  },
  {
    name: 'a recreated znode (lower version, later mtime) is not stale',
    entry: entry({ state: 'skipped', reason: 'not_local', seen: { version: VERSION + 3, mtimeMs: MTIME - 60_000 } }),
    hosted: hosted(),
    expected: { kind: 'launch' },
  },

  // A URL write of ours that was never answered
  {
    name: 'a later version holding our URL: our write was applied, recorded as done',
    entry: entry({
      state: 'retrying',
      reason: 'connection_loss',
      nextAttemptAt: NOW + 1_000,
      unconfirmedWrite: UNCONFIRMED,
    }),
    hosted: hosted({ downloadUrl: URI }),
    expected: { kind: 'record_done', write: UNCONFIRMED, seen: SEEN },
  },
  {
    name: 'a later version still without a URL: our write was not applied, forgotten; the backoff still holds',
    entry: entry({
      state: 'retrying',
      reason: 'connection_loss',
      nextAttemptAt: NOW + 1_000,
      unconfirmedWrite: UNCONFIRMED,
    }),
    hosted: hosted(),
    expected: { kind: 'clear_unconfirmed', then: { kind: 'wait', for: 'retry' } },
  },
  {
    name: 'a later version with another URL: not ours, fixed by someone else',
    entry: entry({
      state: 'retrying',
      reason: 'connection_loss',
      nextAttemptAt: NOW + 1_000,
      unconfirmedWrite: UNCONFIRMED,
    }),
    hosted: hosted({ downloadUrl: 's3://other/copy' }),
    expected: { kind: 'clear_unconfirmed', then: { kind: 'fixed_by_other', url: 's3://other/copy', seen: SEEN } },
  },
  {
    name: 'the version the write named: cannot tell yet (a read from a server behind it)',
    entry: entry({
      state: 'retrying',
      reason: 'connection_loss',
      nextAttemptAt: NOW + 1_000,
      unconfirmedWrite: { ...UNCONFIRMED, baseVersion: VERSION },
    }),
    hosted: hosted(),
    expected: { kind: 'wait', for: 'retry' },
  },

  // Not a candidate any more (a URL, no URL key, UPLOADED)
  {
    name: 'a URL and no entry: none of the repair’s business',
    hosted: hosted({ downloadUrl: URI }),
    expected: { kind: 'none' },
  },
  {
    name: 'a URL after our repair finished: the record stays',
    entry: DONE,
    hosted: hosted({ downloadUrl: URI }),
    expected: { kind: 'none' },
  },
  {
    name: 'a URL set while the repair waited: fixed by someone else',
    entry: BACKING_OFF,
    hosted: hosted({ downloadUrl: 's3://other/copy' }),
    expected: { kind: 'fixed_by_other', url: 's3://other/copy', seen: SEEN },
  },
  {
    name: 'a COMMITTING segment committed normally: forgotten, nothing to report',
    entry: COMMITTING_ENTRY,
    hosted: hosted({ downloadUrl: URI }),
    expected: { kind: 'forget' },
  },
  {
    name: 'an active repair whose segment became UPLOADED without a URL: forgotten',
    entry: BACKING_OFF,
    hosted: hosted({ status: 'UPLOADED', downloadUrl: undefined }),
    expected: { kind: 'forget' },
  },

  // Report-only (COMMITTING, IN_PROGRESS): never written
  {
    name: 'COMMITTING: reported',
    hosted: hosted({ status: 'COMMITTING' }),
    expected: { kind: 'skip', verdict: { eligible: false, reason: 'committing' }, seen: SEEN },
  },
  {
    name: 'IN_PROGRESS: reported, even behind a backoff',
    entry: BACKING_OFF,
    hosted: hosted({ status: 'IN_PROGRESS' }),
    expected: { kind: 'skip', verdict: { eligible: false, reason: 'in_progress' }, seen: SEEN },
  },

  // Candidates (DONE, URL "")
  { name: 'a candidate seen for the first time: launched', hosted: hosted(), expected: { kind: 'launch' } },
  {
    name: 'backing off after a transient error: wait',
    entry: BACKING_OFF,
    hosted: hosted(),
    expected: { kind: 'wait', for: 'retry' },
  },
  {
    name: 'waiting behind another sidecar’s lock: wait',
    entry: entry({ state: 'pending', reason: 'locked_by_other', nextAttemptAt: NOW + 30_000 }),
    hosted: hosted(),
    expected: { kind: 'wait', for: 'retry' },
  },
  {
    name: 'due exactly now: launched',
    entry: { ...BACKING_OFF, nextAttemptAt: NOW },
    hosted: hosted(),
    expected: { kind: 'launch' },
  },
  {
    name: 'failed (permanent), waiting at the slowest pace: wait',
    entry: FAILED,
    hosted: hosted(),
    expected: { kind: 'wait', for: 'retry' },
  },
  {
    name: 'failed, and an operator asks for a pass: launched now',
    entry: FAILED,
    hosted: hosted(),
    context: { operatorAsked: true },
    expected: { kind: 'launch' },
  },
  {
    name: 'backing off, and an operator asks for a pass: a transient backoff is never bypassed',
    entry: BACKING_OFF,
    hosted: hosted(),
    context: { operatorAsked: true },
    expected: { kind: 'wait', for: 'retry' },
  },
  {
    name: 'waiting beats a verdict: the wake-up decides again',
    entry: BACKING_OFF,
    hosted: hosted(),
    facts: { replicaState: 'ERROR' },
    expected: { kind: 'wait', for: 'retry' },
  },
  {
    name: 'an ineligible candidate (replica not ONLINE): skipped with the rule’s reason',
    hosted: hosted(),
    facts: { replicaState: 'ERROR' },
    expected: {
      kind: 'skip',
      verdict: { eligible: false, reason: 'not_online', detail: 'replica is ERROR' },
      seen: SEEN,
    },
  },
  {
    name: 'a candidate again after our repair finished (its URL reset to ""): launched',
    entry: DONE,
    hosted: hosted(),
    expected: { kind: 'launch' },
  },
];

describe('decide', () => {
  it.each(rows)('$name', (row) => {
    expect(decide(row.entry, row.hosted, { ...FACTS, ...row.facts }, NOW, row.context)).toEqual(row.expected);
  });
});

describe('concernsRepair', () => {
  it.each([
    { name: 'a candidate (DONE, URL "")', hosted: hosted(), concerns: true },
    { name: 'COMMITTING (report-only)', hosted: hosted({ status: 'COMMITTING' }), concerns: true },
    { name: 'IN_PROGRESS (report-only)', hosted: hosted({ status: 'IN_PROGRESS' }), concerns: true },
    { name: 'a URL set', hosted: hosted({ downloadUrl: URI }), concerns: false },
    { name: 'metadata not read yet', hosted: hosted({}, { zk: undefined }), concerns: false },
    { name: 'no znode', hosted: hosted({}, { zk: null }), concerns: false },
    {
      name: 'a znode that cannot be read',
      hosted: hosted({}, { zk: null, metadataError: 'record nests too deep' }),
      concerns: true,
    },
    { name: 'an OFFLINE table', hosted: { ...hosted(), table: 'events_OFFLINE' }, concerns: false },
  ])('$name: $concerns', ({ hosted: segment, concerns }) => {
    expect(concernsRepair(segment)).toBe(concerns);
  });
});
