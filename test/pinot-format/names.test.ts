import { describe, expect, it } from 'vitest';
import {
  isLlcSegmentName,
  isRealtimeTable,
  isTableType,
  rawTableName,
  splitTableSegmentKey,
  tableNameWithType,
  tableSegmentKey,
  tableTypeOf,
} from '../../src/pinot-format/index.js';

describe('table names (TableNameBuilder)', () => {
  it.each([
    ['myTable_REALTIME', 'REALTIME', 'myTable', true],
    ['myTable_OFFLINE', 'OFFLINE', 'myTable', false],
    ['myTable', undefined, 'myTable', false],
    ['a_OFFLINE_REALTIME', 'REALTIME', 'a_OFFLINE', true],
    ['myTable_realtime', undefined, 'myTable_realtime', false],
    ['myTableREALTIME', undefined, 'myTableREALTIME', false],
  ] as const)('%j: type %s, raw %j, realtime %s', (name, type, raw, realtime) => {
    expect(tableTypeOf(name)).toBe(type);
    expect(rawTableName(name)).toBe(raw);
    expect(isRealtimeTable(name)).toBe(realtime);
  });

  it('appends the type the way TableNameBuilder does', () => {
    expect(tableNameWithType('myTable', 'REALTIME')).toBe('myTable_REALTIME');
    expect(tableNameWithType('myTable', 'OFFLINE')).toBe('myTable_OFFLINE');
  });

  it.each([
    ['REALTIME', true],
    ['OFFLINE', true],
    ['realtime', false],
    ['HYBRID', false],
    [undefined, false],
  ])('isTableType(%j) = %s', (value, expected) => {
    expect(isTableType(value)).toBe(expected);
  });
});

describe('isLlcSegmentName (LLCSegmentName)', () => {
  it.each([
    ['events__0__1__20240101T0000Z', true],
    ['my_table__12__345__20991231T2359Z', true],
    ['events__-1__1__20240101T0000Z', true],
    ['events__0__1', false],
    ['events__0__1__20240101T0000Z__x', false],
    ['__0__1__20240101T0000Z', false],
    ['events__p__1__20240101T0000Z', false],
    ['events__0__1__20240101', false],
    ['events_1700000000000_1700000100000_0', false], // an uploaded (offline-style) segment
  ])('%j → %s', (name, expected) => {
    expect(isLlcSegmentName(name)).toBe(expected);
  });
});

describe('tableSegmentKey', () => {
  it.each([
    ['events_REALTIME', 'events__0__1__20240101T0000Z'],
    ['t_OFFLINE', 'a/b'], // a segment name with "/" still splits back: the table name cannot hold one
    ['t_REALTIME', ''],
  ])('(%j, %j) round-trips', (table, segment) => {
    expect(splitTableSegmentKey(tableSegmentKey(table, segment))).toEqual([table, segment]);
  });
});
