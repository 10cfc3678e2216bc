import { describe, expect, it } from 'vitest';
import {
  assess,
  type AssessInput,
  type DeepStoreCopy,
  type DrainAssessment,
  type ExternalViewRead,
} from '../../../src/agent/drain/assess.js';
import type { FailureDomain } from '../../../src/helix/index.js';

const T = 'events_REALTIME';
const ME = 'Server_me';
const SAME = 'Server_same_zone';
const OTHER = 'Server_other_zone';
const dom = (id: string): FailureDomain => ({ id, source: 'environment' });
const DOMAINS = new Map<string, FailureDomain | null>([
  [ME, dom('z1')],
  [SAME, dom('z1')],
  [OTHER, dom('z2')],
]);
/** This server and OTHER in the pool domains given (readFailureDomain's `pool:` ids). */
const inPools = (me: string, other: string) =>
  new Map<string, FailureDomain | null>([
    [ME, { id: me, source: 'pool' }],
    [OTHER, { id: other, source: 'pool' }],
  ]);
const NONE: DeepStoreCopy = { kind: 'none', detail: 'download URL ""' };
const URI: DeepStoreCopy = { kind: 'uri', uri: 's3://b/events/s' };

function input(
  copy: DeepStoreCopy,
  replicas: Record<string, string> | null,
  overrides: Partial<AssessInput> = {},
): AssessInput {
  const views = new Map<string, ExternalViewRead>();
  if (replicas) views.set(T, { kind: 'read', assignment: new Map([['s', new Map(Object.entries(replicas))]]) });
  return {
    instance: ME,
    drainedDomain: 'z1',
    hosted: [{ table: T, segment: 's', state: 'ONLINE', copy }],
    externalViews: views,
    domains: DOMAINS,
    blockers: [],
    ...overrides,
  };
}

const summary = (a: DrainAssessment) => ({
  verdict: a.verdict,
  reasons: a.atRisk.map((r) => r.reason),
  unknown: a.unknown.length,
});

describe('assess: is anything lost with the drained domain?', () => {
  it.each<[string, AssessInput, ReturnType<typeof summary>]>([
    ['a deep-store copy', input(URI, null), { verdict: 'safe', reasons: [], unknown: 0 }],
    [
      'an OFFLINE segment (pushed through the controller)',
      input({ kind: 'offline_push' }, null),
      { verdict: 'safe', reasons: [], unknown: 0 },
    ],
    [
      'no copy, ONLINE in another domain',
      input(NONE, { [ME]: 'ONLINE', [OTHER]: 'ONLINE' }),
      { verdict: 'safe', reasons: [], unknown: 0 },
    ],
    [
      'no copy, no other replica',
      input(NONE, { [ME]: 'ONLINE' }),
      { verdict: 'unsafe', reasons: ['no_copy'], unknown: 0 },
    ],
    [
      'no copy, the other replica in the same domain',
      input(NONE, { [ME]: 'ONLINE', [SAME]: 'ONLINE' }),
      { verdict: 'unsafe', reasons: ['same_domain_only'], unknown: 0 },
    ],
    [
      'no copy, the other replica in ERROR',
      input(NONE, { [ME]: 'ONLINE', [OTHER]: 'ERROR' }),
      { verdict: 'unsafe', reasons: ['only_error_elsewhere'], unknown: 0 },
    ],
    [
      'no copy, the other replica OFFLINE: no copy',
      input(NONE, { [ME]: 'ONLINE', [OTHER]: 'OFFLINE' }),
      { verdict: 'unsafe', reasons: ['no_copy'], unknown: 0 },
    ],
    [
      'the server is its own domain: a replica on any other server counts',
      input(NONE, { [ME]: 'ONLINE', [SAME]: 'ONLINE' }, { drainedDomain: ME, domains: new Map() }),
      { verdict: 'cannot_tell', reasons: [], unknown: 1 },
    ],
    [
      'no domains configured anywhere: each server is its own',
      input(
        NONE,
        { [ME]: 'ONLINE', [SAME]: 'ONLINE' },
        {
          drainedDomain: ME,
          domains: new Map([
            [ME, { id: ME, source: 'instance' }],
            [SAME, { id: SAME, source: 'instance' }],
          ]),
        },
      ),
      { verdict: 'safe', reasons: [], unknown: 0 },
    ],
    [
      'the other ONLINE replica has no readable instance config: cannot tell',
      input(NONE, { [ME]: 'ONLINE', Server_unknown: 'ONLINE' }),
      { verdict: 'cannot_tell', reasons: [], unknown: 1 },
    ],
    [
      'metadata not read yet: cannot tell',
      input({ kind: 'unknown', detail: 'segment metadata not read yet' }, null),
      { verdict: 'cannot_tell', reasons: [], unknown: 1 },
    ],
    [
      'no external view: cannot tell',
      input(NONE, null, { externalViews: new Map([[T, { kind: 'missing' }]]) }),
      { verdict: 'cannot_tell', reasons: [], unknown: 1 },
    ],
    [
      'an unreadable external view: cannot tell',
      input(NONE, null, { externalViews: new Map([[T, { kind: 'unreadable', detail: 'bad json' }]]) }),
      { verdict: 'cannot_tell', reasons: [], unknown: 1 },
    ],
    [
      'ZooKeeper away: cannot tell, whatever else is known',
      input(URI, null, { blockers: ['ZooKeeper is not connected'] }),
      { verdict: 'cannot_tell', reasons: [], unknown: 0 },
    ],
    [
      'a zone check from a server outside the zone: its own replica survives',
      input(NONE, { [ME]: 'ONLINE' }, { drainedDomain: 'z2' }),
      { verdict: 'safe', reasons: [], unknown: 0 },
    ],
    [
      'a zone check of the other zone: the same-zone replica survives it too',
      input(
        NONE,
        { [ME]: 'ERROR', [SAME]: 'ONLINE' },
        {
          drainedDomain: 'z2',
          hosted: [{ table: T, segment: 's', state: 'ERROR', copy: NONE }],
        },
      ),
      { verdict: 'safe', reasons: [], unknown: 0 },
    ],
    [
      'pools: the only other replica is on a server in pools 0 and 1, and pool 0 goes: at risk',
      input(
        NONE,
        { [ME]: 'ONLINE', [OTHER]: 'ONLINE' },
        { drainedDomain: 'pool:0', domains: inPools('pool:0', 'pool:0+1') },
      ),
      { verdict: 'unsafe', reasons: ['same_domain_only'], unknown: 0 },
    ],
    [
      'pools: a replica on a server in pool 1 only survives pool 0',
      input(
        NONE,
        { [ME]: 'ONLINE', [OTHER]: 'ONLINE' },
        { drainedDomain: 'pool:0', domains: inPools('pool:0+1', 'pool:1') },
      ),
      { verdict: 'safe', reasons: [], unknown: 0 },
    ],
  ])('%s', (_name, given, expected) => {
    expect(summary(assess(given))).toEqual(expected);
  });

  it('lists CONSUMING segments apart: they are consumed again, never at risk', () => {
    const a = assess(
      input(NONE, null, {
        hosted: [
          { table: T, segment: 'c', state: 'CONSUMING', copy: { kind: 'none', detail: 'no download URL' } },
          { table: T, segment: 's', state: 'ONLINE', copy: URI },
        ],
      }),
    );
    expect(a.verdict).toBe('safe');
    expect(a.consuming).toEqual([{ table: T, segment: 'c' }]);
    expect(a.counts).toEqual({
      hosted: 2,
      withDeepStoreCopy: 1,
      replicaOutsideDomain: 0,
      atRisk: 0,
      unknown: 0,
      consuming: 1,
    });
  });

  it('unsafe wins over unknown, and each at-risk segment says why with the replicas it saw', () => {
    const a = assess(
      input(NONE, null, {
        hosted: [
          { table: T, segment: 's', state: 'ONLINE', copy: NONE },
          { table: T, segment: 'u', state: 'ONLINE', copy: { kind: 'unknown', detail: 'not read yet' } },
        ],
        externalViews: new Map([
          [
            T,
            {
              kind: 'read',
              assignment: new Map([
                [
                  's',
                  new Map([
                    [ME, 'ONLINE'],
                    [SAME, 'ONLINE'],
                  ]),
                ],
              ]),
            },
          ],
        ]),
      }),
    );
    expect(a.verdict).toBe('unsafe');
    expect(a.atRisk).toEqual([
      {
        table: T,
        segment: 's',
        state: 'ONLINE',
        reason: 'same_domain_only',
        detail: `no deep-store copy (download URL ""); the other ONLINE replicas (${SAME}) are all in domain z1`,
        replicas: [{ instance: SAME, state: 'ONLINE', domain: 'z1' }],
      },
    ]);
    expect(a.unknown).toEqual([{ table: T, segment: 'u', detail: 'not read yet' }]);
  });
});
