import { describe, expect, it } from 'vitest';
import { isTransientDirName } from '../../src/segments/layout.js';

describe('isTransientDirName', () => {
  it.each([
    ['tmp', 'BaseTableDataManager resource tmp dir'],
    ['_tmp', 'RealtimeSegmentDataManager tmp dir'],
    ['tmp-mySeg-0b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', 'download in progress'],
    ['mySeg.segment.tmp', 'SEGMENT_TEMP_DIR_SUFFIX'],
    ['mySeg.segment.bak', 'SEGMENT_BACKUP_DIR_SUFFIX'],
    ['mySeg.tmp', '*.tmp'],
    ['mySeg.bak', '*.bak'],
    ['mySeg.tmp.0b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', 'SegmentCompletionUtils tmp name'],
  ])('%j is transient (%s)', (name) => {
    expect(isTransientDirName(name)).toBe(true);
  });

  it.each([
    'mySeg',
    'myTable__0__5__20240101T0000Z',
    'tmpTable__0__1__20240101T0000Z',
    'a.tmpx',
    'bakery',
    'tmp_1',
    'my.tmpfile',
  ])('%j is a segment name', (name) => {
    expect(isTransientDirName(name)).toBe(false);
  });
});
