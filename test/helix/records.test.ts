import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ZNRecordParseError } from '../../src/helix/errors.js';
import {
  readClusterSettings,
  readCommittingSegments,
  readCurrentState,
  readInstanceEndpoint,
  readLiveInstanceSession,
} from '../../src/helix/cluster-records.js';
import { readSegmentMetadata } from '../../src/helix/segment-metadata.js';
import { readTableSettings } from '../../src/helix/table-config.js';
import { newZNRecord } from '../../src/helix/znrecord.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../helpers/fixtures.js';

const seg = (simpleFields: Record<string, string>) =>
  readSegmentMetadata(newZNRecord('t__0__1__20240101T0000Z', { simpleFields }));

describe('segment metadata (SegmentZKMetadata)', () => {
  it.each([
    [{ 'segment.realtime.status': 'DONE' }, 'DONE'],
    [{ 'segment.realtime.status': 'COMMITTING' }, 'COMMITTING'],
    [{ 'segment.realtime.status': 'IN_PROGRESS' }, 'IN_PROGRESS'],
    [{}, 'UPLOADED'],
    [{ 'segment.realtime.status': 'done' }, 'UPLOADED'],
    [{ 'segment.realtime.status': 'BOGUS' }, 'UPLOADED'],
  ])('status of %j is %s', (fields, status) => {
    expect(seg(fields).status).toBe(status);
  });

  it.each([
    [{}, { kind: 'absent' }],
    [{ 'segment.download.url': '' }, { kind: 'empty' }],
    [{ 'segment.download.url': 's3://b/p/t/s' }, { kind: 'uri', uri: 's3://b/p/t/s' }],
    [{ 'segment.offline.download.url': 'http://c/segments/t/s' }, { kind: 'uri', uri: 'http://c/segments/t/s' }],
    [{ 'segment.realtime.download.url': '' }, { kind: 'empty' }],
    [
      { 'segment.download.url': 's3://new', 'segment.offline.download.url': 's3://old' },
      { kind: 'uri', uri: 's3://new' },
    ],
  ])('download URL of %j is %j', (fields, url) => {
    expect(seg(fields).downloadUrl).toEqual(url);
  });

  it.each([
    ['3618839852', '3618839852'],
    ['0', '0'],
    ['4294967295', '4294967295'],
    ['4294967296', null],
    ['-1', null],
    ['abc', null],
    [undefined, null],
    ['007', '7'],
  ])('CRC %s reads as %s', (raw, crc) => {
    expect(seg(raw === undefined ? {} : { 'segment.crc': raw }).crc).toBe(crc);
  });

  it('converts the end time to ms with the time unit and treats values <= 0 as absent', () => {
    expect(seg({ 'segment.end.time': '19000', 'segment.time.unit': 'DAYS' }).endTimeMs).toBe(19000 * 86_400_000);
    expect(seg({ 'segment.end.time': '1704067200000' }).endTimeMs).toBe(1704067200000);
    expect(seg({ 'segment.end.time': '-1' }).endTimeMs).toBeNull();
    expect(seg({ 'segment.end.time': '5', 'segment.time.unit': 'FORTNIGHTS' }).endTimeMs).toBeNull();
  });
});

describe('cluster records', () => {
  it('live instance session id, and a clear error without one', () => {
    expect(readLiveInstanceSession(newZNRecord('S', { simpleFields: { SESSION_ID: '1a2b' } }))).toBe('1a2b');
    expect(() => readLiveInstanceSession(newZNRecord('S'), '/c/LIVEINSTANCES/S')).toThrow(ZNRecordParseError);
  });

  it.each([
    ['', /no SESSION_ID/],
    ['..', /SESSION_ID "\.\." cannot name a CURRENTSTATES folder: relative path component/],
    ['a/b', /SESSION_ID "a\/b" cannot name a CURRENTSTATES folder: contains "\/"/],
    ['x'.repeat(5000), /SESSION_ID "x{120}"\.\.\. \(5000 chars\) cannot name a CURRENTSTATES folder: 5000 bytes long/],
  ])('a live instance SESSION_ID %j that names no folder is a parse error', (id, message) => {
    const record = newZNRecord('S', { simpleFields: { SESSION_ID: id } });
    expect(() => readLiveInstanceSession(record, '/c/LIVEINSTANCES/S')).toThrow(ZNRecordParseError);
    expect(() => readLiveInstanceSession(record, '/c/LIVEINSTANCES/S')).toThrow(message);
  });

  it('current state skips entries whose segment name cannot be a ZooKeeper path component, with the reason', () => {
    const mapFields = Object.fromEntries(
      ['ok_1', '..', 'x/../y', 'a\u0000b', '', 'ok_2'].map((s) => [s, { CURRENT_STATE: 'ONLINE' }]),
    );
    const cs = readCurrentState(newZNRecord('t', { mapFields }));
    expect([...cs.states.keys()]).toEqual(['ok_1', 'ok_2']);
    expect(cs.skipped).toEqual([
      { segment: '..', reason: 'segment name is not a valid ZooKeeper path component: relative path component ".."' },
      { segment: 'x/../y', reason: 'segment name is not a valid ZooKeeper path component: contains "/" at 1' },
      {
        segment: 'a\u0000b',
        reason: 'segment name is not a valid ZooKeeper path component: contains a NUL character at 1',
      },
      { segment: '', reason: 'segment name is not a valid ZooKeeper path component: empty name' },
    ]);
  });

  it('current state maps segment to CURRENT_STATE and ignores entries without one', () => {
    const cs = readCurrentState(
      newZNRecord('t', { mapFields: { a: { CURRENT_STATE: 'ONLINE' }, b: { CURRENT_STATE: 'ERROR' }, c: {} } }),
    );
    expect(cs.skipped).toEqual([]);
    expect([...cs.states]).toEqual([
      ['a', 'ONLINE'],
      ['b', 'ERROR'],
    ]);
  });

  it.each([
    [
      { HELIX_HOST: 'h', adminPort: '9000' },
      { host: 'h', adminPort: 9000, adminHttpsPort: null },
    ],
    [{ HELIX_HOST: 'h' }, { host: 'h', adminPort: 8097, adminHttpsPort: null }],
    [
      { HELIX_HOST: 'h', adminPort: '-1', adminHttpsPort: '8443' },
      { host: 'h', adminPort: 8097, adminHttpsPort: 8443 },
    ],
    [
      { HELIX_HOST: 'pinot_server_0.svc', adminPort: 'x' },
      { host: 'pinot_server_0.svc', adminPort: 8097, adminHttpsPort: null },
    ],
  ])('instance endpoint of %j', (simpleFields, endpoint) => {
    expect(readInstanceEndpoint(newZNRecord('Server_other_8098', { simpleFields }))).toEqual(endpoint);
  });

  it('cluster settings default to 300000 ms completion time', () => {
    expect(readClusterSettings(null).maxSegmentCompletionTimeMs).toBe(300_000);
    expect(
      readClusterSettings(newZNRecord('c', { simpleFields: { 'max.segment.completion.time.millis': '60000' } }))
        .maxSegmentCompletionTimeMs,
    ).toBe(60_000);
    expect(
      readClusterSettings(newZNRecord('c', { simpleFields: { 'max.segment.completion.time.millis': 'soon' } }))
        .maxSegmentCompletionTimeMs,
    ).toBe(300_000);
    expect(
      readClusterSettings(newZNRecord('c', { simpleFields: { 'controller.segment.disaster.recovery.mode': 'ALWAYS' } }))
        .disasterRecoveryMode,
    ).toBe('ALWAYS');
  });

  it('pauseless debug metadata lists committing segments', () => {
    expect(readCommittingSegments(newZNRecord('t', { listFields: { committingSegments: ['a', 'b'] } }))).toEqual([
      'a',
      'b',
    ]);
    expect(readCommittingSegments(null)).toEqual([]);
  });
});

const tableRecord = (simpleFields: Record<string, string>) =>
  newZNRecord('t_REALTIME', { simpleFields: { tableName: 't_REALTIME', tableType: 'REALTIME', ...simpleFields } });

describe('table config', () => {
  it.each([
    [
      'pauseless on',
      { ingestionConfig: '{"streamIngestionConfig":{"pauselessConsumptionEnabled":true}}' },
      { pauselessEnabled: true },
    ],
    ['pauseless off', { ingestionConfig: '{"streamIngestionConfig":{}}' }, { pauselessEnabled: false }],
    [
      'retention',
      { segmentsConfig: '{"retentionTimeUnit":"DAYS","retentionTimeValue":"5"}' },
      { retentionMs: 5 * 86_400_000 },
    ],
    ['no retention', { segmentsConfig: '{}' }, { retentionMs: null }],
    [
      'bad retention unit',
      { segmentsConfig: '{"retentionTimeUnit":"EONS","retentionTimeValue":"5"}' },
      { retentionMs: null },
    ],
    [
      'peer scheme upper-case',
      { segmentsConfig: '{"peerSegmentDownloadScheme":"HTTPS"}' },
      { peerDownloadScheme: 'https' },
    ],
    ['peer scheme invalid', { segmentsConfig: '{"peerSegmentDownloadScheme":"ftp"}' }, { peerDownloadScheme: null }],
    ['dedup', { dedupConfig: '{"dedupEnabled":true}' }, { dedupEnabled: true }],
    ['partial upsert', { upsertConfig: '{"mode":"PARTIAL"}' }, { partialUpsert: true }],
    ['full upsert', { upsertConfig: '{"mode":"FULL"}' }, { partialUpsert: false }],
    [
      'DR mode',
      { ingestionConfig: '{"streamIngestionConfig":{"disasterRecoveryMode":"ALWAYS"}}' },
      { disasterRecoveryMode: 'ALWAYS' },
    ],
    ['crypter', { segmentsConfig: '{"crypterClassName":"AesCrypter"}' }, { crypterClassName: 'AesCrypter' }],
    ['no crypter', { segmentsConfig: '{}' }, { crypterClassName: null }],
    ['blank crypter is none', { segmentsConfig: '{"crypterClassName":" "}' }, { crypterClassName: null }],
  ])('%s', (_name, fields, expected) => {
    expect(readTableSettings(tableRecord(fields))).toMatchObject(expected);
  });

  it('rejects a config without a table type and a section that is not JSON', () => {
    expect(() => readTableSettings(newZNRecord('t', { simpleFields: {} }))).toThrow(/tableType/);
    expect(() => readTableSettings(tableRecord({ segmentsConfig: '{oops' }))).toThrow(/segmentsConfig is not JSON/);
  });
});

describe.skipIf(!hasPinotFixtures)(`table configs from apache/pinot${fixturesSkipNote}`, () => {
  // The fixtures are POST /tables bodies; the ZK form holds each section as a JSON string (TableConfigSerDeUtils).
  const asZk = (file: string) => {
    const json = JSON.parse(readFileSync(pinotFixture(file), 'utf8')) as Record<string, unknown>;
    const simpleFields: Record<string, string> = {};
    for (const [k, v] of Object.entries(json)) simpleFields[k] = typeof v === 'string' ? v : JSON.stringify(v);
    simpleFields.tableName = `${json.tableName as string}_REALTIME`;
    simpleFields.tableType = 'REALTIME';
    return newZNRecord(simpleFields.tableName, { simpleFields });
  };

  it('airlineStats: realtime, 5 days retention, not pauseless', () => {
    expect(readTableSettings(asZk('airlineStats_realtime_table_config.json'))).toMatchObject({
      tableType: 'REALTIME',
      pauselessEnabled: false,
      retentionMs: 5 * 86_400_000,
    });
  });

  it('upsertMeetupRsvp: FULL upsert is not partial', () => {
    expect(readTableSettings(asZk('upsertMeetupRsvp_realtime_table_config.json'))).toMatchObject({
      partialUpsert: false,
      dedupEnabled: false,
    });
  });

  it('simpleMeetup: legacy stream config form reads without error', () => {
    expect(readTableSettings(asZk('simpleMeetup_realtime_table_config.json')).tableType).toBe('REALTIME');
  });
});
