import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RecordNotRewritableError, ZNRecordParseError } from '../../src/helix/errors.js';
import {
  checkSimpleFieldRewritable,
  parseZNRecord,
  rewriteSimpleField,
  ZNRECORD_SIZE_LIMIT,
} from '../../src/helix/znrecord.js';

/**
 * A compare-and-set of the download URL must leave every byte of the record as it was except the
 * URL's own (issue 10 item 2). Each fixture is a template with URL_VALUE where the URL's value token
 * sits: the record as read has `""` there, and the expected rewrite is the same template with the
 * new URL's JSON there — computed by string replacement, independently of the code under test.
 */
const KEY = 'segment.download.url';
const URL = 's3://deep-store/events/events__0__1__20240101T0000Z';
const URL_JSON = `"${URL}"`;

function fixture(template: string): { before: Buffer; after: Buffer } {
  expect(template.split('URL_VALUE')).toHaveLength(2);
  return {
    before: Buffer.from(template.replace('URL_VALUE', '""')),
    after: Buffer.from(template.replace('URL_VALUE', URL_JSON)),
  };
}

const lines = (...l: string[]) => l.join('\n');

const REWRITES: Array<[name: string, template: string]> = [
  [
    'a big integer, 1.0, 1e3, -0 and other number spellings in simpleFields',
    lines(
      '{',
      '  "id" : "events__0__1__20240101T0000Z",',
      '  "simpleFields" : {',
      '    "segment.crc" : 12345678901234567890,',
      '    "segment.download.url" : URL_VALUE,',
      '    "f" : 1.0,',
      '    "e" : 1e3,',
      '    "E" : 1E+3,',
      '    "z" : -0,',
      '    "x" : -0.0e-0,',
      '    "d" : 0.1000000000000000055511151231257827',
      '  },',
      '  "mapFields" : { },',
      '  "listFields" : { }',
      '}',
    ),
  ],
  [
    'numbers and booleans in mapFields and listFields',
    lines(
      '{',
      '  "id" : "r",',
      '  "simpleFields" : {',
      '    "t" : true,',
      '    "segment.download.url" : URL_VALUE,',
      '    "f" : false',
      '  },',
      '  "mapFields" : {',
      '    "m" : {',
      '      "n" : 12345678901234567890,',
      '      "f" : 1.0,',
      '      "b" : true',
      '    }',
      '  },',
      '  "listFields" : {',
      '    "l" : [ 1e3, -0, false, true, 1.50 ]',
      '  }',
      '}',
    ),
  ],
  [
    'a top-level "__proto__" field and a "__proto__" key in every map',
    lines(
      '{',
      '  "id" : "r",',
      '  "__proto__" : { "polluted" : "yes" },',
      '  "simpleFields" : {',
      '    "__proto__" : "p",',
      '    "segment.download.url" : URL_VALUE',
      '  },',
      '  "mapFields" : { "__proto__" : { "__proto__" : "q" } },',
      '  "listFields" : { "__proto__" : [ "l" ] }',
      '}',
    ),
  ],
  [
    'integer-like keys ("10", "2") in file order',
    lines(
      '{',
      '  "id" : "r",',
      '  "simpleFields" : {',
      '    "10" : "ten",',
      '    "segment.download.url" : URL_VALUE,',
      '    "2" : "two"',
      '  },',
      '  "mapFields" : {',
      '    "10" : { "b" : "1", "a" : "2", "3" : "3" },',
      '    "2" : { }',
      '  },',
      '  "listFields" : { "9" : [ ], "1" : [ "x" ] }',
      '}',
    ),
  ],
  [
    'unknown top-level fields of every JSON type',
    lines(
      '{',
      '  "id" : "r",',
      '  "s" : "string \\u0041 \\" \\\\",',
      '  "n" : -12.5E-7,',
      '  "big" : 123456789012345678901234567890,',
      '  "t" : true,',
      '  "f" : false,',
      '  "nil" : null,',
      '  "o" : { "a" : [ 1, { "b" : null } ], "c" : { } },',
      '  "a" : [ [ ], [ [ "x" ] ], { }, null ],',
      '  "rawPayload" : "AAEC",',
      '  "simpleFields" : {',
      '    "segment.download.url" : URL_VALUE',
      '  },',
      '  "future" : { "deep" : [ { "deeper" : [ 1.0 ] } ] }',
      '}',
    ),
  ],
  [
    'compact JSON, any top-level order',
    '{"mapFields":{"s":{"i":"ONLINE"}},"simpleFields":{"a":"1","segment.download.url":URL_VALUE,"b":"2"},"id":"r","listFields":{}}',
  ],
  ['tabs', '{\n\t"id":\t"r",\n\t"simpleFields":\t{\n\t\t"segment.download.url":\tURL_VALUE\n\t}\n}'],
  [
    'CRLF line ends',
    '{\r\n  "id" : "r",\r\n  "simpleFields" : {\r\n    "segment.download.url" : URL_VALUE,\r\n    "a" : "b"\r\n  }\r\n}\r\n',
  ],
  [
    'extra spaces everywhere',
    '  {   "id"   :   "r"  ,  "simpleFields"  :  {  "segment.download.url"  :  URL_VALUE  ,  "a"  :  "b"  }  }  ',
  ],
  ['a UTF-8 byte-order mark', '\uFEFF{"id":"r","simpleFields":{"segment.download.url":URL_VALUE}}'],
  [
    'unicode, surrogate pairs and control characters in other fields, escaped any way',
    lines(
      '{',
      '  "id" : "r\u00e9\\u00e9",',
      '  "simpleFields" : {',
      '    "raw" : "é € 😀 \u007f",',
      '    "jackson" : "\\uD83D\\uDE00 \\u001F \\b",',
      '    "other" : "\\ud83d\\ude00 \\u001f \\u0008 \\/ \\u00E9",',
      '    "segment.download.url" : URL_VALUE,',
      '    "lone" : "\\udc00"',
      '  },',
      '  "mapFields" : { "😀" : { "k\\tk" : "\\r\\n" } },',
      '  "listFields" : { "l" : [ "\\u0000", "😀" ] }',
      '}',
    ),
  ],
  [
    'escaped sequences in keys, including the URL key itself',
    lines(
      '{',
      '  "id" : "r",',
      '  "simpleFields" : {',
      '    "a\\"b" : "1",',
      '    "segment\\u002edownload\\/url" : "not it",',
      '    "segment\\u002edownload.url" : URL_VALUE,',
      '    "c\\\\d" : "2"',
      '  }',
      '}',
    ),
  ],
  [
    'a record 1,000 levels deep (the most Helix reads)',
    `{"id":"r","simpleFields":{"segment.download.url":URL_VALUE},"deep":${'['.repeat(999)}${']'.repeat(999)}}`,
  ],
];

describe('rewriteSimpleField changes only the bytes of the field it sets (issue 10 item 2)', () => {
  it.each(REWRITES)('%s', (_name, template) => {
    const { before, after } = fixture(template);
    const doc = parseZNRecord(before);
    expect(doc.record.simpleFields[KEY]).toBe('');
    const rewritten = rewriteSimpleField(doc, KEY, URL);
    expect(rewritten.toString('utf8')).toBe(after.toString('utf8'));
    expect(rewritten.equals(after)).toBe(true);
    expect(parseZNRecord(rewritten).record.simpleFields[KEY]).toBe(URL);
  });

  it('keeps a gzip record gzip, with only the URL changed inside', () => {
    const { before, after } = fixture(REWRITES[0]![1]);
    const doc = parseZNRecord(gzipSync(before));
    expect(doc.compressed).toBe(true);
    const rewritten = rewriteSimpleField(doc, KEY, URL);
    expect(rewritten.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(gunzipSync(rewritten).equals(after)).toBe(true);
  });

  it.each([
    ['a control character', 'a\u001fb', '"a\\u001Fb"'],
    ['a quote, a backslash, a newline', 'q"b\\n\n', '"q\\"b\\\\n\\n"'],
    ['a surrogate pair', 's3://b/\u{1F600}', '"s3://b/\\uD83D\\uDE00"'],
    ['non-ASCII and a slash', 's3://b/é/€', '"s3://b/é/€"'],
  ])('writes a new value with %s as Jackson does', (_name, value, json) => {
    const template = '{"id":"r","simpleFields":{"segment.download.url":URL_VALUE}}';
    const rewritten = rewriteSimpleField(parseZNRecord(Buffer.from(template.replace('URL_VALUE', '""'))), KEY, value);
    expect(rewritten.toString('utf8')).toBe(template.replace('URL_VALUE', json));
    expect(parseZNRecord(rewritten).record.simpleFields[KEY]).toBe(value);
  });

  it("gzips a plain record that grows past Helix's 1,024,000-byte limit, as ZNRecordUtil.shouldCompress would", () => {
    const prefix = '{"id":"r","simpleFields":{"pad":"';
    const suffix = `","segment.download.url":URL_VALUE}}`;
    const pad = 'x'.repeat(ZNRECORD_SIZE_LIMIT - prefix.length - suffix.length + 'URL_VALUE'.length - 2);
    const { before, after } = fixture(prefix + pad + suffix);
    expect(before.length).toBe(ZNRECORD_SIZE_LIMIT);
    const doc = parseZNRecord(before);
    expect(doc.compressed).toBe(false);
    const rewritten = rewriteSimpleField(doc, KEY, URL);
    expect(rewritten.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(gunzipSync(rewritten).equals(after)).toBe(true);
  });
});

describe('what the parser reads is what Helix reads (Jackson into Map<String, String>)', () => {
  it('keeps the source text of numbers and booleans', () => {
    const doc = parseZNRecord(Buffer.from(fixture(REWRITES[0]![1]).before));
    expect(doc.record.simpleFields).toMatchObject({
      'segment.crc': '12345678901234567890',
      f: '1.0',
      e: '1e3',
      E: '1E+3',
      z: '-0',
      x: '-0.0e-0',
    });
    const other = parseZNRecord(fixture(REWRITES[1]![1]).before).record;
    expect(other.simpleFields).toMatchObject({ t: 'true', f: 'false' });
    expect(other.mapFields.m).toEqual({ n: '12345678901234567890', f: '1.0', b: 'true' });
    expect(other.listFields.l).toEqual(['1e3', '-0', 'false', 'true', '1.50']);
  });

  it('reads "__proto__" as data and decodes escaped keys', () => {
    const proto = parseZNRecord(fixture(REWRITES[2]![1]).before).record;
    expect(Object.getPrototypeOf(proto.simpleFields)).toBeNull();
    expect(proto.simpleFields['__proto__']).toBe('p');
    expect(proto.mapFields['__proto__']!['__proto__']).toBe('q');
    expect(proto.listFields['__proto__']).toEqual(['l']);
    const escaped = parseZNRecord(fixture(REWRITES[11]![1]).before).record;
    expect(Object.keys(escaped.simpleFields)).toEqual(['a"b', 'segment.download/url', KEY, 'c\\d']);
    const unicode = parseZNRecord(fixture(REWRITES[10]![1]).before).record;
    expect(unicode.id).toBe('réé');
    expect(unicode.simpleFields.jackson).toBe('\u{1F600} \u001f \b');
    expect(unicode.simpleFields.lone).toBe('\udc00');
  });
});

describe('records that cannot be rewritten exactly are refused before anything is written', () => {
  const refusals: Array<[name: string, json: string, reason: string]> = [
    ['the key absent', '{"id":"r","simpleFields":{"a":"1"}}', 'simpleFields has no such key'],
    ['no simpleFields at all', '{"id":"r"}', 'simpleFields has no such key'],
    [
      'the key twice (Jackson keeps the last; a splice would leave the other)',
      '{"id":"r","simpleFields":{"segment.download.url":"","segment.download.url":""}}',
      'holds the key 2 times',
    ],
    [
      'the key twice, once escaped',
      '{"id":"r","simpleFields":{"segment.download.url":"","segment\\u002edownload.url":""}}',
      'holds the key 2 times',
    ],
    [
      'two simpleFields objects',
      '{"id":"r","simpleFields":{"segment.download.url":""},"simpleFields":{"segment.download.url":""}}',
      'the record holds "simpleFields" 2 times',
    ],
  ];
  it.each(refusals)('%s', (_name, json, reason) => {
    const doc = parseZNRecord(Buffer.from(json), '/c/PROPERTYSTORE/SEGMENTS/t/s');
    for (const attempt of [() => checkSimpleFieldRewritable(doc, KEY), () => rewriteSimpleField(doc, KEY, URL)]) {
      let caught: unknown;
      try {
        attempt();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RecordNotRewritableError);
      expect((caught as RecordNotRewritableError).retriable).toBe(false);
      expect((caught as Error).message).toContain(
        '/c/PROPERTYSTORE/SEGMENTS/t/s: simpleFields["segment.download.url"] cannot be rewritten exactly',
      );
      expect((caught as Error).message).toContain(reason);
    }
  });

  it('refuses a rewrite Helix would refuse to write (gzip past the 1,024,000-byte limit)', () => {
    // Base64 of random bytes gzips to ~3/4 of its size: 1.47 MB of it stays past the limit.
    const noise = randomBytes(1_100_000).toString('base64');
    const doc = parseZNRecord(
      gzipSync(Buffer.from(`{"id":"r","simpleFields":{"segment.download.url":"","n":"${noise}"}}`)),
    );
    expect(() => rewriteSimpleField(doc, KEY, URL)).toThrow(/gzipped, past Helix's 1024000-byte write limit/);
  });

  it('refuses a 100,000-deep record at parse with a clear error, not a stack overflow', () => {
    const deep = `{"id":"r","simpleFields":{"segment.download.url":""},"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    let caught: unknown;
    try {
      parseZNRecord(Buffer.from(deep), '/c/PROPERTYSTORE/SEGMENTS/t/s');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ZNRecordParseError);
    expect((caught as Error).message).toBe(
      '/c/PROPERTYSTORE/SEGMENTS/t/s: nests deeper than 1000 levels; Helix cannot read it (Jackson StreamReadConstraints)',
    );
    // One level past what Helix's Jackson reads is refused too.
    expect(() => parseZNRecord(Buffer.from(`{"id":"r","deep":${'['.repeat(1000)}${']'.repeat(1000)}}`))).toThrow(
      /nests deeper than 1000 levels/,
    );
  });
});
