import { describe, expect, it } from 'vitest';
import {
  combineZoneDrain,
  zoneDrainExitCode,
  zoneToTrust,
  type ZoneDrainAnswer,
  type ZoneDrainVerdict,
} from '../../../src/agent/fleet/zone-drain.js';
import type { DrainVerdict } from '../../../src/agent/drain/assess.js';

const answered = (
  instance: string,
  domain: string | null,
  extra: Partial<Extract<ZoneDrainAnswer, { state: 'answered' }>> = {},
): ZoneDrainAnswer => ({
  instance,
  state: 'answered',
  verdict: 'safe',
  domain,
  atRisk: [],
  reasons: [],
  consuming: 0,
  ...extra,
});
const silent = (instance: string, registeredZone: string | null): ZoneDrainAnswer => ({
  instance,
  state: 'unreachable',
  reason: 'no answer within 5000 ms',
  registeredZone,
});
const risk = { table: 't_REALTIME', segment: 's1', reason: 'same_domain_only' };

/** The verdict and the servers counted in the zone; a cannot-tell says why, an unsafe one names a's risk. */
function expectVerdict(result: ZoneDrainVerdict, verdict: DrainVerdict, servers: string[]): void {
  expect(result.verdict).toBe(verdict);
  expect(result.servers).toEqual(servers);
  if (verdict === 'cannot_tell') expect(result.reasons.length).toBeGreaterThan(0);
  if (verdict === 'unsafe') expect(result.atRisk).toEqual([{ instance: 'a', ...risk }]);
}

describe('combineZoneDrain (fleet drain-check --zone)', () => {
  it.each<[string, ZoneDrainAnswer[], 'safe' | 'unsafe' | 'cannot_tell', string[]]>([
    [
      'every server of the zone is safe',
      [answered('a', 'z1'), answered('b', 'z1'), answered('c', 'z2')],
      'safe',
      ['a', 'b'],
    ],
    [
      'a risk in the zone',
      [answered('a', 'z1', { verdict: 'unsafe', atRisk: [risk] }), answered('c', 'z2')],
      'unsafe',
      ['a'],
    ],
    [
      'a risk outside the zone does not count',
      [answered('a', 'z1'), answered('c', 'z2', { verdict: 'unsafe', atRisk: [risk] })],
      'safe',
      ['a'],
    ],
    [
      'a server of the zone cannot tell',
      [answered('a', 'z1', { verdict: 'cannot_tell', reasons: ['ZooKeeper is not connected'] })],
      'cannot_tell',
      ['a'],
    ],
    ['a silent sidecar registered in the zone', [answered('a', 'z1'), silent('b', 'z1')], 'cannot_tell', ['a', 'b']],
    [
      'a silent sidecar with no registered zone may be in it',
      [answered('a', 'z1'), silent('b', null)],
      'cannot_tell',
      ['a', 'b'],
    ],
    ['a silent sidecar registered elsewhere', [answered('a', 'z1'), silent('c', 'z2')], 'safe', ['a']],
    [
      'a risk wins over a silent sidecar',
      [answered('a', 'z1', { verdict: 'unsafe', atRisk: [risk] }), silent('b', 'z1')],
      'unsafe',
      ['a', 'b'],
    ],
    ['no server in the zone (a typo?)', [answered('c', 'z2')], 'cannot_tell', []],
    ['a sidecar that cannot read its own domain', [answered('a', 'z1'), answered('x', null)], 'cannot_tell', ['a']],
  ])('%s', (_label, answers, verdict, servers) => {
    expectVerdict(combineZoneDrain('z1', answers), verdict, servers);
  });

  it.each<[string, ZoneDrainAnswer[], 'safe' | 'unsafe' | 'cannot_tell', string[]]>([
    [
      'a server in pools 0 and 1 is in pool 0: its risk counts',
      [answered('a', 'pool:0+1', { verdict: 'unsafe', atRisk: [risk] })],
      'unsafe',
      ['a'],
    ],
    ['a silent sidecar registered in pools 0 and 1 may hold pool 0', [silent('a', 'pool:0+1')], 'cannot_tell', ['a']],
    ['pool 1 alone is not pool 0', [answered('a', 'pool:0'), answered('c', 'pool:1')], 'safe', ['a']],
  ])('pools: %s', (_label, answers, verdict, servers) => {
    expectVerdict(combineZoneDrain('pool:0', answers), verdict, servers);
  });

  it.each<[string, Parameters<typeof zoneToTrust>[0], string | null]>([
    ['--zone: the operator said so', { zone: 'z1', zoneFrom: 'flag' }, 'z1'],
    ['an entry older than zoneFrom registered only --zone', { zone: 'z1' }, 'z1'],
    ['learned from the instance config: may be stale, so any zone', { zone: 'z1', zoneFrom: 'instance-config' }, null],
    ['no zone', {}, null],
    ['no readable entry', null, null],
  ])("a silent sidecar's zone to trust: %s", (_label, registration, zone) => {
    expect(zoneToTrust(registration)).toBe(zone);
  });

  it.each([
    ['safe', 0],
    ['unsafe', 1],
    ['cannot_tell', 2],
  ] as const)('%s exits %i', (verdict, code) => {
    expect(zoneDrainExitCode(verdict)).toBe(code);
  });
});
