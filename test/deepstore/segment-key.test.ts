import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { isTmpSegmentFileName, segmentUri, tmpSegmentFileName, urlEncode } from '../../src/deepstore/segment-key.js';
import { thrown } from './support.js';

describe('urlEncode (java.net.URLEncoder.encode(s, UTF_8))', () => {
  it.each([
    ['myTable__0__5__20240101T0000Z', 'myTable__0__5__20240101T0000Z'], // LLC names are unchanged
    ['a b', 'a+b'], // form encoding: space is "+"
    ['a+b', 'a%2Bb'],
    ['*-._', '*-._'], // the four kept punctuation characters
    ['~', '%7E'], // encodeURIComponent keeps "~"; URLEncoder does not
    ["!'()", '%21%27%28%29'], // encodeURIComponent keeps these too
    ['a/b', 'a%2Fb'],
    ['100%', '100%25'],
    ['é', '%C3%A9'], // UTF-8 bytes, upper-case hex
    ['日本', '%E6%97%A5%E6%9C%AC'],
    ['😀', '%F0%9F%98%80'], // a surrogate pair is one code point, four bytes
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(urlEncode(input)).toBe(expected);
  });

  it('refuses a lone surrogate (Java would encode it as "?", colliding with a real "?")', () => {
    expect(() => urlEncode('a\uD800b')).toThrow(DeepStoreError);
  });
});

describe('segmentUri (URIUtils.getUri(dataDir, raw, encode(segment)))', () => {
  it.each([
    ['s3://bucket/pinot/data', 'myTable', 'myTable__0__5__20240101T0000Z', 's3://bucket/pinot/data/myTable/myTable__0__5__20240101T0000Z'],
    // getUri joins with "/" and nothing else: Pinot writes "//" for a base with a trailing slash
    ['s3://bucket/pinot/data/', 'myTable', 'seg', 's3://bucket/pinot/data//myTable/seg'],
    ['s3://bucket', 'myTable', 'seg', 's3://bucket/myTable/seg'],
    ['file:///var/pinot/deep', 'db1.events', 'seg 1', 'file:///var/pinot/deep/db1.events/seg+1'],
    ['file:/var/pinot/deep', 'events', 'seg~1', 'file:/var/pinot/deep/events/seg%7E1'],
  ])('%s + %s + %s', (base, table, segment, expected) => {
    expect(segmentUri(base, table, segment)).toBe(expected);
  });

  it.each([
    ['', 'seg'],
    ['a/b', 'seg'],
    ['..', 'seg'],
    ['my table', 'seg'],
    ['100%', 'seg'],
    ['myTable_REALTIME', 'seg'], // a typed name would make a second folder for the same table
    ['myTable_OFFLINE', 'seg'],
    ['myTable', ''],
    ['myTable', '.'],
    ['myTable', '..'],
    ['myTable', '../../etc/passwd'],
    ['myTable', 'a\\b'],
    ['myTable', 'a\0b'],
  ])('refuses table %j / segment %j with a non-retriable InvalidName', (table, segment) => {
    const caught = thrown(() => segmentUri('s3://bucket/data', table, segment));
    expect(caught).toBeInstanceOf(DeepStoreError);
    expect(caught).toMatchObject({ code: 'InvalidName', retriable: false });
  });
});

describe('tmpSegmentFileName / isTmpSegmentFileName', () => {
  const uuid = '123e4567-e89b-42d3-a456-426614174000';

  it('is <name>.sidecar-tmp.<uuid>: not the shape of Pinot\'s own temp files (SegmentCompletionUtils.isTmpFile)', () => {
    expect(tmpSegmentFileName('seg+1', uuid)).toBe(`seg+1.sidecar-tmp.${uuid}`);
    // isTmpFile splits on ".tmp." and wants a UUID after the last one: ours has no ".tmp." at all.
    expect(tmpSegmentFileName('seg+1', uuid).split('.tmp.')).toHaveLength(1);
  });

  it.each([
    [tmpSegmentFileName('seg', randomUUID()), true],
    [`seg__0__1__20240101T0000Z.sidecar-tmp.${uuid}`, true],
    [`seg.tmp.${uuid}`, false], // Pinot's own: never ours to remove
    [`seg.sidecar-tmp.${uuid.toUpperCase()}`, false], // randomUUID() is lower-case
    [`seg.sidecar-tmp.123e4567-e89b-12d3-a456-426614174000`, false], // not version 4
    [`seg.sidecar-tmp.${uuid}.bak`, false],
    [`.sidecar-tmp.${uuid}`, false], // no final name
    ['seg.sidecar-tmp.', false],
    ['seg', false],
  ])('%j → %s', (name, expected) => {
    expect(isTmpSegmentFileName(name)).toBe(expected);
  });
});
