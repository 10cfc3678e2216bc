import { describe, expect, it } from 'vitest';
import { combineZoneDrain, zoneDrainExitCode, type ZoneDrainAnswer } from '../../../src/agent/fleet/zone-drain.js';

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
    const result = combineZoneDrain('z1', answers);
    expect(result.verdict).toBe(verdict);
    expect(result.servers).toEqual(servers);
    if (verdict === 'cannot_tell') expect(result.reasons.length).toBeGreaterThan(0);
    if (verdict === 'unsafe') expect(result.atRisk).toEqual([{ instance: 'a', ...risk }]);
  });

  it.each([
    ['safe', 0],
    ['unsafe', 1],
    ['cannot_tell', 2],
  ] as const)('%s exits %i', (verdict, code) => {
    expect(zoneDrainExitCode(verdict)).toBe(code);
  });
});
