import { describe, expect, it } from 'vitest';
import { settleUnconfirmed, type UnconfirmedWrite } from '../../../src/agent/repair/errors.js';

const write: UnconfirmedWrite = { uri: 's3://b/t/seg', result: 'success', baseVersion: 4 };

describe('settleUnconfirmed: what a read says of a URL write sent without an answer', () => {
  it.each([
    { name: 'the next version holds our URL: applied', version: 5, url: 's3://b/t/seg', expected: 'applied' },
    {
      name: 'a later version still holds our URL (other fields changed since): applied',
      version: 9,
      url: 's3://b/t/seg',
      expected: 'applied',
    },
    { name: 'a later version without a URL: ours was not applied', version: 5, url: null, expected: 'not_applied' },
    {
      name: 'a later version with another URL: someone else fixed it (or overwrote ours)',
      version: 6,
      url: 's3://b/t/other',
      expected: 'not_applied',
    },
    {
      name: 'the version the write named: maybe a read from a server behind the write',
      version: 4,
      url: null,
      expected: 'unknown',
    },
    { name: 'an older version (a stale cache): not known', version: 3, url: 's3://b/t/seg', expected: 'unknown' },
  ] as const)('$name', ({ version, url, expected }) => {
    expect(settleUnconfirmed(write, version, url)).toBe(expected);
  });
});
