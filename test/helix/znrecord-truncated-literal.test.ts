import { describe, expect, it } from 'vitest';
import { ZNRecordParseError } from '../../src/helix/errors.js';
import { parseZNRecord } from '../../src/helix/znrecord.js';

/**
 * Review of issue 10: a record cut inside a literal (true / false / null) must be a ZNRecordParseError like
 * every other malformed record. The scanner compares the literal with Buffer.compare(..., i, i + 4), which
 * throws a RangeError ("sourceEnd is out of range") when fewer bytes than the literal remain.
 * Callers that catch only ZNRecordParseError (repair-attempt readFresh, pauseless-debug) then fail the
 * repair as `failed (RangeError)` (permanent) instead of skipping it as no_metadata.
 */
const CUT: Array<[string, string]> = [
  ['true cut in an unknown field', '{"id":"x","a":tr'],
  ['true cut to one byte', '{"id":"x","a":t'],
  ['null cut where simpleFields is', '{"id":"x","simpleFields":n'],
  ['false cut inside a list', '{"id":"x","a":[fal'],
  ['null cut in simpleFields', '{"id":"x","simpleFields":{"segment.download.url":nu'],
];

describe('a record cut inside a literal (review of issue 10)', () => {
  it.each(CUT)('%s is a ZNRecordParseError', (_name, json) => {
    let thrown: unknown;
    try {
      parseZNRecord(Buffer.from(json), '/seg');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ZNRecordParseError);
  });
});
