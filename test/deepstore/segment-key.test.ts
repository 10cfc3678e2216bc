import { describe, expect, it } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { segmentUri, urlEncode } from '../../src/deepstore/segment-key.js';
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
    [
      's3://bucket/pinot/data',
      'myTable',
      'myTable__0__5__20240101T0000Z',
      's3://bucket/pinot/data/myTable/myTable__0__5__20240101T0000Z',
    ],
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
