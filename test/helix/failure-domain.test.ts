import { describe, expect, it } from 'vitest';
import { readFailureDomain, sharesFailureDomain, type FailureDomainOptions } from '../../src/helix/cluster-records.js';
import { newZNRecord } from '../../src/helix/znrecord.js';

const I = 'Server_a_8098';
const config = (fields: { map?: Record<string, Record<string, string>>; tags?: string[] }) =>
  newZNRecord(I, {
    simpleFields: { HELIX_HOST: 'a', HELIX_PORT: '8098' },
    mapFields: fields.map ?? {},
    listFields: { TAG_LIST: fields.tags ?? ['DefaultTenant_OFFLINE'] },
  });

describe('failure domain of an instance config (CONFIGS/PARTICIPANT)', () => {
  it.each<[string, Parameters<typeof config>[0], FailureDomainOptions, { id: string; source: string }]>([
    ['nothing configured: the server itself', {}, {}, { id: I, source: 'instance' }],
    [
      "Pinot's environment map (failureDomain)",
      { map: { environment: { failureDomain: 'us-east-1a' } } },
      {},
      { id: 'us-east-1a', source: 'environment' },
    ],
    [
      "Pinot's placeholder for no domain is not a domain",
      { map: { environment: { failureDomain: 'No such domain' } } },
      {},
      { id: I, source: 'instance' },
    ],
    ['a pool', { map: { pool: { DefaultTenant_OFFLINE: '1' } } }, {}, { id: 'pool:1', source: 'pool' }],
    [
      'pools of several tags: every distinct pool, in number order',
      { map: { pool: { A_OFFLINE: '10', B_OFFLINE: '2', C_REALTIME: '2' } } },
      {},
      { id: 'pool:2+10', source: 'pool' },
    ],
    [
      'environment wins over pool',
      { map: { environment: { failureDomain: 'fd-3' }, pool: { A_OFFLINE: '0' } } },
      {},
      { id: 'fd-3', source: 'environment' },
    ],
    [
      'a tag prefix: the remainder of the first matching tag',
      { tags: ['DefaultTenant_OFFLINE', 'zone_us-east-1b'], map: { environment: { failureDomain: 'fd-3' } } },
      { tagPrefix: 'zone_' },
      { id: 'us-east-1b', source: 'tag' },
    ],
    [
      'a tag prefix no tag has: the server itself, never another source',
      { tags: ['DefaultTenant_OFFLINE', 'zone_'], map: { environment: { failureDomain: 'fd-3' } } },
      { tagPrefix: 'zone_' },
      { id: I, source: 'instance' },
    ],
  ])('%s', (_name, fields, options, expected) => {
    expect(readFailureDomain(config(fields), I, options)).toEqual(expected);
  });
});

describe('sharesFailureDomain: does a server in domain a go down with domain b?', () => {
  it.each<[string, string, boolean]>([
    ['us-east-1a', 'us-east-1a', true],
    ['us-east-1a', 'us-east-1b', false],
    ['pool:0', 'pool:0', true],
    ['pool:0+1', 'pool:0', true], // a server in pools 0 and 1 is in pool 0
    ['pool:0', 'pool:0+1', true],
    ['pool:0+1', 'pool:1+2', true],
    ['pool:0+1', 'pool:2', false],
    ['pool:1', 'pool:10', false],
    ['pool:1', '1', false], // a zone named like a pool number is not that pool
    [I, I, true],
    [I, 'Server_b_8098', false],
  ])('%s with %s: %s', (a, b, expected) => {
    expect(sharesFailureDomain(a, b)).toBe(expected);
  });
});
