import { describe, expect, it } from 'vitest';
import { InvalidNameError } from '../../src/segments/errors.js';
import { decodePathParam, parseTableName, validateSegmentName } from '../../src/segments/names.js';

/** What a route hands over (still encoded) → what the segment validator sees after the one decode. */
function segmentFromPath(encoded: string): string {
  return validateSegmentName(decodePathParam(encoded, 'segment'));
}

function tableFromPath(encoded: string): ReturnType<typeof parseTableName> {
  return parseTableName(decodePathParam(encoded, 'table'));
}

describe('decodePathParam', () => {
  it.each([
    ['plain', 'plain'],
    ['%41b', 'Ab'],
    ['%2e%2e', '..'],
    ['%252e%252e', '%2e%2e'],
    ['a+b', 'a+b'],
    ['%2F', '/'],
    ['%00', '\u0000'],
  ])('decodes %j exactly once to %j', (input, expected) => {
    expect(decodePathParam(input)).toBe(expected);
  });

  it.each(['%', '%2', '%zz', 'a%G1', '%C0%AF', '%E0%A4%A'])(
    'rejects malformed escape %j, naming field and value',
    (input) => {
      const err = catchError(() => decodePathParam(input, 'segment'));
      expect(err).toBeInstanceOf(InvalidNameError);
      expect(err).toMatchObject({ field: 'segment', value: input, retriable: false });
    },
  );
});

describe('validateSegmentName', () => {
  it.each([
    'myTable__0__5__20240101T0000Z',
    'legacyRawInverted_OFFLINE_0',
    'a',
    'a.b-c_d',
    '...',
    '.hidden',
    'x'.repeat(255),
  ])('accepts %j', (name) => {
    expect(validateSegmentName(name)).toBe(name);
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['slash', 'a/b'],
    ['traversal', '../etc'],
    ['backslash', 'a\\b'],
    ['NUL', 'a\u0000b'],
    ['percent', 'a%2e'],
    ['space', 'a b'],
    ['plus', 'a+b'],
    ['colon', 'a:b'],
    ['hash', 'a#b'],
    ['non-ASCII', 'caf\u00e9'],
    ['256 bytes', 'x'.repeat(256)],
  ])('rejects %s', (_label, name) => {
    const err = catchError(() => validateSegmentName(name));
    expect(err).toBeInstanceOf(InvalidNameError);
    expect(err).toMatchObject({ field: 'segment', value: name });
  });
});

describe('segment names after one decode (traversal corpus)', () => {
  it.each([
    ['..', 'dot-dot'],
    ['%2e%2e', 'encoded dot-dot'],
    ['%2E%2E', 'upper-case encoded dot-dot'],
    ['..%2F', 'dot-dot and encoded slash'],
    ['%2e%2e%2f', 'fully encoded ../'],
    ['a%2Fb', 'encoded slash'],
    ['a%5Cb', 'encoded backslash'],
    ['a%00b', 'encoded NUL'],
    ['%00', 'lone NUL'],
    ['a%20b', 'encoded space'],
    ['%', 'malformed escape'],
    ['%' + 'x'.repeat(300), 'malformed and long'],
    ['x'.repeat(256), 'overlong'],
  ])('%j (%s) is rejected', (encoded) => {
    expect(() => segmentFromPath(encoded)).toThrow(InvalidNameError);
  });

  it('double encoding is decoded once only, leaving an invalid %', () => {
    // %252e%252e → %2e%2e (not ..): rejected for its %, never reaching the file system as a dot name.
    const err = catchError(() => segmentFromPath('%252e%252e'));
    expect(err).toBeInstanceOf(InvalidNameError);
    expect(err).toMatchObject({ value: '%2e%2e' });
  });

  it('an encoded ordinary name is accepted', () => {
    expect(segmentFromPath('my%54able__0__1__20240101T0000Z')).toBe('myTable__0__1__20240101T0000Z');
  });
});

describe('parseTableName', () => {
  it.each([
    ['myTable', { raw: 'myTable', type: undefined, nameWithType: undefined }],
    ['myTable_REALTIME', { raw: 'myTable', type: 'REALTIME', nameWithType: 'myTable_REALTIME' }],
    ['myTable_OFFLINE', { raw: 'myTable', type: 'OFFLINE', nameWithType: 'myTable_OFFLINE' }],
    ['db.my-table_1_OFFLINE', { raw: 'db.my-table_1', type: 'OFFLINE', nameWithType: 'db.my-table_1_OFFLINE' }],
    ['my_REALTIME_OFFLINE', { raw: 'my_REALTIME', type: 'OFFLINE', nameWithType: 'my_REALTIME_OFFLINE' }],
    ['myTable_realtime', { raw: 'myTable_realtime', type: undefined, nameWithType: undefined }],
    ['REALTIME', { raw: 'REALTIME', type: undefined, nameWithType: undefined }],
  ])('%j', (name, expected) => {
    expect(parseTableName(name)).toEqual(expected);
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['suffix only', '_REALTIME'],
    ['dot-dot raw', '.._OFFLINE'],
    ['slash', 'a/b_OFFLINE'],
    ['backslash', 'a\\b'],
    ['NUL', 'a\u0000_OFFLINE'],
    ['percent', 'my%2eTable'],
    ['space', 'my Table'],
    ['256 bytes', 't'.repeat(256)],
  ])('rejects %s', (_label, name) => {
    const err = catchError(() => parseTableName(name));
    expect(err).toBeInstanceOf(InvalidNameError);
    expect(err).toMatchObject({ field: 'table', value: name });
  });

  it.each(['%2e%2e', '..%2F', '%5C', '%00', 'a%2Fb_OFFLINE'])('rejects %j after one decode', (encoded) => {
    expect(() => tableFromPath(encoded)).toThrow(InvalidNameError);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
