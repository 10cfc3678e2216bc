import { describe, expect, it } from 'vitest';
import { verdictFromRecord, type RecordedObject } from '../../src/deepstore/recorded-verdict.js';

describe("verdictFromRecord: what an object's recorded size and CRC say before it is read", () => {
  it.each<[string, RecordedObject, ReturnType<typeof verdictFromRecord>]>([
    [
      'both recorded and matching: verified by the record',
      { bytes: 10, crc: '7', recordedBytes: '10' },
      { kind: 'verified', bytes: 10, by: 'recorded' },
    ],
    [
      'another CRC: unverified at once, whatever the size',
      { bytes: 10, crc: '8', recordedBytes: undefined, version: 'g1' },
      {
        kind: 'unverified',
        reason: 'recorded CRC 8, expected 7: another segment or version',
        bytes: 10,
        version: 'g1',
      },
    ],
    [
      'a size that differs: cut or replaced',
      { bytes: 9, crc: '7', recordedBytes: '10', version: 'e1' },
      {
        kind: 'unverified',
        reason: 'recorded size "10" bytes, the object has 9: cut or replaced',
        bytes: 9,
        version: 'e1',
      },
    ],
    [
      'no version: none in the verdict',
      { bytes: 9, crc: '7', recordedBytes: '10' },
      { kind: 'unverified', reason: 'recorded size "10" bytes, the object has 9: cut or replaced', bytes: 9 },
    ],
    ['CRC only (an S3 multipart put): read it in full', { bytes: 10, crc: '7', recordedBytes: undefined }, null],
    [
      'nothing recorded (written by Pinot): read it in full',
      { bytes: 10, crc: undefined, recordedBytes: undefined },
      null,
    ],
    ['a size without a CRC decides nothing', { bytes: 10, crc: undefined, recordedBytes: '10' }, null],
  ])('%s', (_label, found, verdict) => {
    expect(verdictFromRecord(found, '7')).toEqual(verdict);
  });
});
