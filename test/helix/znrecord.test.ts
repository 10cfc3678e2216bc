import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ZNRecordParseError } from '../../src/helix/errors.js';
import { readSegmentAssignment } from '../../src/helix/cluster-records.js';
import {
  jacksonPrettyJson,
  newZNRecord,
  parseZNRecord,
  rewriteSimpleField,
  serializeZNRecord,
  ZNRECORD_SIZE_LIMIT,
} from '../../src/helix/znrecord.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../helpers/fixtures.js';
import { segmentRecord } from '../helpers/pinot-cluster.js';

describe('ZNRecord serializer layout (Helix ZNRecordSerializer)', () => {
  it('writes the canonical byte layout of a segment record', () => {
    const record = newZNRecord('myTable__0__5__20240101T0000Z', {
      simpleFields: { 'segment.creation.time': '1704067200000', 'segment.realtime.status': 'IN_PROGRESS' },
    });
    expect(serializeZNRecord(record).toString('utf8')).toBe(
      [
        '{',
        '  "id" : "myTable__0__5__20240101T0000Z",',
        '  "simpleFields" : {',
        '    "segment.creation.time" : "1704067200000",',
        '    "segment.realtime.status" : "IN_PROGRESS"',
        '  },',
        '  "mapFields" : { },',
        '  "listFields" : { }',
        '}',
      ].join('\n'),
    );
  });

  it('nests map fields and keeps lists on one line, empties as [ ] and { }', () => {
    const record = newZNRecord('t_REALTIME', {
      mapFields: { seg1: { Server_a_8098: 'ONLINE' }, seg2: {} },
      listFields: { l: ['a', 'b'], empty: [] },
    });
    expect(serializeZNRecord(record).toString('utf8')).toBe(
      [
        '{',
        '  "id" : "t_REALTIME",',
        '  "simpleFields" : { },',
        '  "mapFields" : {',
        '    "seg1" : {',
        '      "Server_a_8098" : "ONLINE"',
        '    },',
        '    "seg2" : { }',
        '  },',
        '  "listFields" : {',
        '    "l" : [ "a", "b" ],',
        '    "empty" : [ ]',
        '  }',
        '}',
      ].join('\n'),
    );
  });

  // Helix writes through Jackson 2's UTF8JsonGenerator (ZNRecordSerializer: mapper.writeValue(ByteArrayOutputStream)).
  it.each([
    ['quote and backslash', 'a"b\\c', '"a\\"b\\\\c"'],
    ['the short escapes \\b \\t \\n \\f \\r', '\b\t\n\f\r', '"\\b\\t\\n\\f\\r"'],
    [
      'other control characters as \\u00XX, upper-case hex',
      '\u0000\u0001\u001f\u000b',
      '"\\u0000\\u0001\\u001F\\u000B"',
    ],
    ['slash, DEL and non-ASCII raw', '/\u007fé€', '"/\u007fé€"'],
    ['each half of a surrogate pair escaped', 'x\u{1F600}y', '"x\\uD83D\\uDE00y"'],
    ['a lone surrogate escaped', '\ud800', '"\\uD800"'],
  ])('writes %s as Jackson does', (_name, value, written) => {
    const bytes = serializeZNRecord(newZNRecord('x', { simpleFields: { [value]: value } }));
    expect(bytes.toString('utf8')).toContain(`${written} : ${written}`);
    expect(parseZNRecord(bytes).record.simpleFields[value]).toBe(value);
  });

  it('prints a value of any depth without recursion (100,000 levels)', () => {
    // Arrays stay on one line, so 100,000 of them print small; objects indent, so 1,000 of those.
    let deep: unknown = 'x';
    for (let i = 0; i < 1_000; i += 1) deep = { k: deep };
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    const json = jacksonPrettyJson(deep);
    expect(json.startsWith(`${'[ '.repeat(100_000)}{\n  "k" : {\n    "k" : {`)).toBe(true);
    expect(json).toContain(`\n${'  '.repeat(1000)}"k" : "x"\n${'  '.repeat(999)}}`);
    expect(json.endsWith(`\n}${' ]'.repeat(100_000)}`)).toBe(true);
  });

  it('gzips when enableCompression is "true" (any case) and when the JSON exceeds the 1,024,000-byte limit', () => {
    expect(serializeZNRecord(newZNRecord('a', { simpleFields: { enableCompression: 'TRUE' } }))[0]).toBe(0x1f);
    expect(serializeZNRecord(newZNRecord('a', { simpleFields: { enableCompression: 'false' } }))[0]).toBe(0x7b);
    const big = newZNRecord('big', { simpleFields: { v: 'x'.repeat(ZNRECORD_SIZE_LIMIT) } });
    const bytes = serializeZNRecord(big);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(JSON.parse(gunzipSync(bytes).toString()).simpleFields.v).toHaveLength(ZNRECORD_SIZE_LIMIT);
  });
});

describe('ZNRecord parser', () => {
  it('reads any key order and tolerates unknown fields, keeping them on rewrite', () => {
    const text = '{"mapFields":{"s":{"i":"ONLINE"}},"future":{"x":1},"simpleFields":{"a":"1"},"id":"r"}';
    const doc = parseZNRecord(Buffer.from(text));
    expect(doc.record).toEqual({
      id: 'r',
      simpleFields: { a: '1' },
      mapFields: { s: { i: 'ONLINE' } },
      listFields: {},
    });
    expect(doc.compressed).toBe(false);
    expect(rewriteSimpleField(doc, 'a', '2').toString()).toBe(text.replace('"a":"1"', '"a":"2"'));
  });

  it('sniffs gzip (1f 8b) without any flag and keeps compression on rewrite', () => {
    const plain = serializeZNRecord(segmentRecord('s1', { downloadUrl: '' }));
    const doc = parseZNRecord(gzipSync(plain));
    expect(doc.compressed).toBe(true);
    expect(doc.record.simpleFields['segment.download.url']).toBe('');
    const again = rewriteSimpleField(doc, 'segment.download.url', '');
    expect(again.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(gunzipSync(again).equals(plain)).toBe(true);
  });

  it('rewrites a Helix-written record byte for byte, preserving its existing key order', () => {
    // Helix appends new keys to a LinkedHashMap: the order on disk is not sorted.
    const text = [
      '{',
      '  "id" : "t",',
      '  "simpleFields" : {',
      '    "z" : "1",',
      '    "a" : "2"',
      '  },',
      '  "mapFields" : { },',
      '  "listFields" : { }',
      '}',
    ].join('\n');
    expect(rewriteSimpleField(parseZNRecord(Buffer.from(text)), 'z', '1').toString()).toBe(text);
  });

  it('coerces scalar values to strings like Jackson does for Map<String, String>', () => {
    const doc = parseZNRecord(Buffer.from('{"id":"x","simpleFields":{"n":5,"b":true}}'));
    expect(doc.record.simpleFields).toEqual({ n: '5', b: 'true' });
  });

  it('treats a "__proto__" key as data', () => {
    const doc = parseZNRecord(Buffer.from('{"id":"x","simpleFields":{"__proto__":"v"}}'));
    expect(Object.keys(doc.record.simpleFields)).toEqual(['__proto__']);
    expect(doc.record.simpleFields['__proto__']).toBe('v');
  });

  it.each([
    ['empty bytes', Buffer.alloc(0), 'empty znode'],
    ['malformed JSON', Buffer.from('{"id": "x",'), 'malformed JSON'],
    ['corrupt gzip', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef]), 'corrupt gzip'],
    ['a JSON array', Buffer.from('[1,2]'), 'not a JSON object'],
    ['no id', Buffer.from('{"simpleFields":{}}'), 'missing "id"'],
    ['simpleFields not an object', Buffer.from('{"id":"x","simpleFields":[]}'), 'simpleFields is not an object'],
    [
      'a nested object as a simple value',
      Buffer.from('{"id":"x","simpleFields":{"a":{}}}'),
      'simpleFields.a holds an object, not a string',
    ],
    [
      'a null simple value (Helix would hold a null String)',
      Buffer.from('{"id":"x","simpleFields":{"a":null}}'),
      'simpleFields.a holds null, not a string',
    ],
    [
      'a null list element',
      Buffer.from('{"id":"x","listFields":{"l":["a",null]}}'),
      'listFields.l[1] holds null, not a string',
    ],
    ['an id that is an object', Buffer.from('{"id":{},"simpleFields":{}}'), '"id" is not a string'],
    [
      'a raw control character in a string',
      Buffer.from('{"id":"a\tb"}'),
      'malformed JSON (expected an escaped control character at byte 8',
    ],
    ['trailing content', Buffer.from('{"id":"x"} {}'), 'malformed JSON (expected the end of the record at byte 11'],
    ['a leading zero (Jackson refuses it by default)', Buffer.from('{"id":"x","n":01}'), 'malformed JSON'],
    [
      'bytes that are not UTF-8',
      Buffer.from([...Buffer.from('{"id":"'), 0xc3, 0x28, ...Buffer.from('"}')]),
      'not UTF-8 text',
    ],
    ['a list field that is not a list', Buffer.from('{"id":"x","listFields":{"l":"a"}}'), 'listFields.l is not a list'],
  ])('rejects %s with an error naming the path', (_name, bytes, message) => {
    let caught: unknown;
    try {
      parseZNRecord(bytes, '/c/PROPERTYSTORE/SEGMENTS/t/s');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ZNRecordParseError);
    expect((caught as ZNRecordParseError).path).toBe('/c/PROPERTYSTORE/SEGMENTS/t/s');
    expect((caught as Error).message).toContain(message);
  });
});

describe.skipIf(!hasPinotFixtures)(`SampleExternalView.json from apache/pinot${fixturesSkipNote}`, () => {
  it('parses the hand-written order and round-trips through Helix layout, plain and gzipped', () => {
    const bytes = readFileSync(pinotFixture('SampleExternalView.json'));
    const doc = parseZNRecord(bytes);
    expect(doc.record.id).toBe('testTable_OFFLINE');
    expect(doc.record.simpleFields).toEqual({ BUCKET_SIZE: '0' });
    const assignment = readSegmentAssignment(doc.record);
    const states = [...assignment.values()].flatMap((m) => [...m.values()]);
    expect(states.filter((s) => s === 'ONLINE')).toHaveLength(792);
    expect(
      assignment.get('testTable_testTable_testData_2015-02-27_2015-02-27_0')?.get('Server_server11111.abc.com_8001'),
    ).toBe('ONLINE');

    // Rewritten in canonical layout, then read back: same record. Gzipped: same again.
    const canonical = serializeZNRecord(doc.record);
    expect(canonical.toString()).toMatch(/^\{\n {2}"id" : "testTable_OFFLINE",\n {2}"simpleFields" : \{\n/);
    expect(parseZNRecord(canonical).record).toEqual(doc.record);
    const gz = parseZNRecord(gzipSync(canonical));
    expect(gz.compressed).toBe(true);
    expect(gz.record).toEqual(doc.record);
    // Setting a field to the value it has gives the same bytes.
    expect(rewriteSimpleField(parseZNRecord(canonical), 'BUCKET_SIZE', '0').equals(canonical)).toBe(true);
  });
});
