import { describe, expect, it } from 'vitest';
import { isSegmentCrc, readSegmentCrc } from '../../src/pinot-format/index.js';

describe('segment.crc (String.valueOf of an unsigned 32-bit Adler-32)', () => {
  it.each([
    // value, exact form Pinot writes, as read from ZooKeeper
    ['0', true, '0'],
    ['1299627447', true, '1299627447'],
    ['3618839852', true, '3618839852'],
    ['4294967295', true, '4294967295'],
    ['4294967296', false, null],
    ['-1', false, null],
    ['01', false, '1'],
    ['007', false, '7'],
    ['+1', false, null],
    ['1e3', false, null],
    ['abc', false, null],
    ['', false, null],
    ['12345678901', false, null],
  ])('%j: exact %s, reads as %s', (value, exact, read) => {
    expect(isSegmentCrc(value)).toBe(exact);
    expect(readSegmentCrc(value)).toBe(read);
  });

  it('an absent segment.crc reads as null', () => {
    expect(readSegmentCrc(undefined)).toBeNull();
  });
});
