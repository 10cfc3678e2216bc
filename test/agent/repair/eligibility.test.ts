import { describe, expect, it } from 'vitest';
import {
  checkEligibility,
  checkMetadata,
  repairInterest,
  retentionExpiry,
  type EligibilityInput,
  type LocalCheck,
} from '../../../src/agent/repair/eligibility.js';
import { readSegmentMetadata } from '../../../src/helix/segment-metadata.js';
import { segmentRecord, type SegmentFields } from '../../helpers/pinot-cluster.js';

const NOW = Date.parse('2024-06-01T00:00:00Z');
const DAY = 86_400_000;
const HOUR = 3_600_000;
const SEG = 'events__0__5__20240101T0000Z';

function zkOf(fields: SegmentFields, mtimeMs = NOW - 10_000) {
  return {
    metadata: readSegmentMetadata(segmentRecord(SEG, { endTimeMs: NOW - DAY, crc: '1000', ...fields })),
    mtimeMs,
  };
}

interface Row {
  name: string;
  fields?: SegmentFields;
  input?: Partial<EligibilityInput>;
  local?: LocalCheck;
  expected: ReturnType<typeof checkEligibility>;
}

function input(row: Row): EligibilityInput & { local: LocalCheck } {
  return {
    tableNameWithType: 'events_REALTIME',
    replicaState: 'ONLINE',
    zk: zkOf({ status: 'DONE', downloadUrl: '', ...row.fields }),
    tableSettings: { tableType: 'REALTIME', retentionMs: 5 * DAY, pauselessEnabled: false, crypterClassName: null },
    cluster: { maxSegmentCompletionTimeMs: 300_000 },
    nowMs: NOW,
    local: row.local ?? { kind: 'sealed', crc: '1000' },
    ...row.input,
  };
}

const rows: Row[] = [
  { name: 'DONE, URL "", ONLINE, sealed, same CRC, far from retention', expected: { eligible: true } },
  // What ZooKeeper says about the segment
  {
    name: 'URL set',
    fields: { downloadUrl: 's3://b/t/s' },
    expected: { eligible: false, reason: 'has_url', detail: 's3://b/t/s' },
  },
  {
    name: 'no URL key (absent is not repaired: shouldSkipForNonPauselessMode)',
    fields: { downloadUrl: undefined },
    expected: { eligible: false, reason: 'no_url_key' },
  },
  { name: 'COMMITTING', fields: { status: 'COMMITTING' }, expected: { eligible: false, reason: 'committing' } },
  { name: 'IN_PROGRESS', fields: { status: 'IN_PROGRESS' }, expected: { eligible: false, reason: 'in_progress' } },
  { name: 'UPLOADED', fields: { status: 'UPLOADED' }, expected: { eligible: false, reason: 'uploaded' } },
  {
    name: 'no status key reads as UPLOADED',
    fields: { status: null },
    expected: { eligible: false, reason: 'uploaded' },
  },
  {
    name: 'status not an exact enum name reads as UPLOADED',
    fields: { status: null, extra: { 'segment.realtime.status': 'done' } },
    expected: { eligible: false, reason: 'uploaded' },
  },
  { name: 'no metadata', input: { zk: null }, expected: { eligible: false, reason: 'no_metadata' } },
  { name: 'ZK CRC not a CRC', fields: { crc: '-1' }, expected: { eligible: false, reason: 'no_zk_crc' } },
  {
    name: 'encrypted segment (ZK segment.crypter): Pinot would decrypt a plain archive',
    fields: { extra: { 'segment.crypter': 'AesCrypter' } },
    expected: { eligible: false, reason: 'encrypted', detail: 'segment.crypter is AesCrypter' },
  },
  {
    name: 'empty segment.crypter is no crypter',
    fields: { extra: { 'segment.crypter': '' } },
    expected: { eligible: true },
  },
  // The table
  {
    name: 'OFFLINE table',
    input: { tableNameWithType: 'events_OFFLINE' },
    expected: { eligible: false, reason: 'offline_table' },
  },
  {
    name: 'OFFLINE table type in its config',
    input: {
      tableSettings: { tableType: 'OFFLINE', retentionMs: null, pauselessEnabled: false, crypterClassName: null },
    },
    expected: { eligible: false, reason: 'offline_table' },
  },
  { name: 'no table config', input: { tableSettings: null }, expected: { eligible: false, reason: 'no_table_config' } },
  {
    name: 'table encrypts its deep-store copies (segmentsConfig.crypterClassName)',
    input: {
      tableSettings: {
        tableType: 'REALTIME',
        retentionMs: null,
        pauselessEnabled: false,
        crypterClassName: 'AesCrypter',
      },
    },
    expected: { eligible: false, reason: 'encrypted', detail: "the table's crypterClassName is AesCrypter" },
  },
  {
    name: 'within 1 h of retention expiry',
    fields: { endTimeMs: NOW - 5 * DAY + 30 * 60_000 },
    expected: {
      eligible: false,
      reason: 'near_retention',
      detail: `retention expires at ${new Date(NOW + 30 * 60_000).toISOString()}`,
    },
  },
  {
    name: 'exactly 1 h before expiry counts as near',
    fields: { endTimeMs: NOW - 5 * DAY + HOUR },
    expected: {
      eligible: false,
      reason: 'near_retention',
      detail: `retention expires at ${new Date(NOW + HOUR).toISOString()}`,
    },
  },
  {
    name: '1 h and 1 ms before expiry is fine',
    fields: { endTimeMs: NOW - 5 * DAY + HOUR + 1 },
    expected: { eligible: true },
  },
  {
    name: 'no retention: never expires',
    fields: { endTimeMs: NOW - 400 * DAY },
    input: {
      tableSettings: { tableType: 'REALTIME', retentionMs: null, pauselessEnabled: false, crypterClassName: null },
    },
    expected: { eligible: true },
  },
  {
    name: 'unknown end time: never purgeable (TimeRetentionStrategy)',
    input: {
      zk: { metadata: { ...zkOf({ status: 'DONE', downloadUrl: '' }).metadata, endTimeMs: null }, mtimeMs: NOW },
    },
    expected: { eligible: true },
  },
  // This server's replica
  { name: 'not hosted', input: { replicaState: undefined }, expected: { eligible: false, reason: 'not_hosted' } },
  {
    name: 'replica CONSUMING',
    input: { replicaState: 'CONSUMING' },
    expected: { eligible: false, reason: 'not_online', detail: 'replica is CONSUMING' },
  },
  {
    name: 'replica ERROR',
    input: { replicaState: 'ERROR' },
    expected: { eligible: false, reason: 'not_online', detail: 'replica is ERROR' },
  },
  {
    name: 'replica OFFLINE',
    input: { replicaState: 'OFFLINE' },
    expected: { eligible: false, reason: 'not_online', detail: 'replica is OFFLINE' },
  },
  // The local copy
  {
    name: 'no local directory',
    local: { kind: 'absent', detail: 'segment directory absent' },
    expected: { eligible: false, reason: 'not_local', detail: 'segment directory absent' },
  },
  {
    name: 'local directory not sealed',
    local: { kind: 'unsealed' },
    expected: { eligible: false, reason: 'not_sealed' },
  },
  {
    name: 'corrupt creation.meta',
    local: { kind: 'corrupt', detail: 'bad size' },
    expected: { eligible: false, reason: 'corrupt_local', detail: 'bad size' },
  },
  {
    name: 'name the store refuses',
    local: { kind: 'invalid_name' },
    expected: { eligible: false, reason: 'invalid_name' },
  },
  {
    name: 'local I/O error',
    local: { kind: 'unreadable', detail: 'EIO' },
    expected: { eligible: false, reason: 'local_unreadable', detail: 'EIO' },
  },
  {
    name: 'creation.meta CRC differs from ZK',
    local: { kind: 'sealed', crc: '999' },
    expected: { eligible: false, reason: 'crc_mismatch', detail: 'local creation.meta crc 999, ZK segment.crc 1000' },
  },
  // Order: the ZK verdict comes before the local one (no disk work for segments that are not candidates)
  {
    name: 'COMMITTING beats an absent local copy',
    fields: { status: 'COMMITTING' },
    local: { kind: 'absent' },
    expected: { eligible: false, reason: 'committing' },
  },
  {
    name: 'not ONLINE beats a CRC mismatch',
    input: { replicaState: 'ERROR' },
    local: { kind: 'sealed', crc: '1' },
    expected: { eligible: false, reason: 'not_online', detail: 'replica is ERROR' },
  },
];

describe('checkEligibility', () => {
  it.each(rows)('$name', (row) => {
    expect(checkEligibility(input(row))).toEqual(row.expected);
  });

  it('checkMetadata answers without the local copy, and null means "look at the local copy"', () => {
    const { local: _local, ...rest } = input({ name: 'base', expected: { eligible: true } });
    expect(checkMetadata(rest)).toBeNull();
    expect(checkMetadata({ ...rest, replicaState: 'ERROR' })).toEqual({
      eligible: false,
      reason: 'not_online',
      detail: 'replica is ERROR',
    });
  });

  it.each([
    {
      name: 'pauseless COMMITTING past the max completion time is reported as stuck',
      pauseless: true,
      ageMs: 301_000,
      stuck: true,
    },
    { name: 'pauseless COMMITTING within the max completion time', pauseless: true, ageMs: 299_000, stuck: false },
    { name: 'non-pauseless COMMITTING never says stuck', pauseless: false, ageMs: 3_000_000, stuck: false },
  ])('$name', ({ pauseless, ageMs, stuck }) => {
    const decision = checkEligibility({
      ...input({ name: '', expected: { eligible: true } }),
      zk: zkOf({ status: 'COMMITTING' }, NOW - ageMs),
      tableSettings: {
        tableType: 'REALTIME',
        retentionMs: 5 * DAY,
        pauselessEnabled: pauseless,
        crypterClassName: null,
      },
    });
    expect(decision).toMatchObject({ eligible: false, reason: 'committing' });
    expect('detail' in decision && decision.detail?.startsWith('stuck:')).toBe(stuck);
  });
});

describe('repairInterest', () => {
  it.each([
    { fields: { status: 'DONE', downloadUrl: '' }, interest: 'candidate' },
    { fields: { status: 'DONE', downloadUrl: 's3://x' }, interest: 'none' },
    { fields: { status: 'DONE' }, interest: 'none' },
    { fields: { status: 'COMMITTING' }, interest: 'report' },
    { fields: { status: 'IN_PROGRESS' }, interest: 'report' },
    { fields: { status: 'UPLOADED', downloadUrl: '' }, interest: 'none' },
  ] as Array<{ fields: SegmentFields; interest: string }>)(
    '$fields.status with URL $fields.downloadUrl → $interest',
    ({ fields, interest }) => {
      expect(repairInterest(zkOf(fields).metadata)).toBe(interest);
    },
  );
});

describe('retentionExpiry', () => {
  it.each([
    { end: 1000, retention: 500, expected: 1500 },
    { end: null, retention: 500, expected: null },
    { end: 1000, retention: null, expected: null },
  ])('end $end + retention $retention = $expected', ({ end, retention, expected }) => {
    expect(retentionExpiry(end, retention)).toBe(expected);
  });
});
