import { describe, expect, it } from 'vitest';
import {
  fleetExitCode,
  fleetTotals,
  renderFleetFooter,
  renderFleetTable,
  type SidecarResult,
} from '../../../src/agent/fleet/fleet-report.js';
import type { FleetSummary } from '../../../src/agent/fleet/summary.js';

function up(instance: string, zone: string | null, fields: Partial<FleetSummary> = {}): SidecarResult {
  const summary: FleetSummary = {
    instance,
    zone,
    version: '0.1.0',
    startedAt: '2026-01-01T00:00:00.000Z',
    ready: true,
    reasons: [],
    hostedSegments: 10,
    missingDeepStore: 0,
    repairs: { pending: 0, failed: 0 },
    downloads: { inFlight: 0, queued: 0 },
    ...fields,
  };
  return { instance, url: `http://${instance}:9700`, zone, version: summary.version, state: 'up', summary };
}

function unreachable(instance: string, zone: string | null, reason = 'no answer within 2000 ms'): SidecarResult {
  return { instance, url: `http://${instance}:9700`, zone, version: '0.1.0', state: 'unreachable', reason };
}

describe('fleetTotals and fleetExitCode', () => {
  it.each<[string, SidecarResult[], Partial<ReturnType<typeof fleetTotals>>, 0 | 1]>([
    ['all up and clean', [up('a', 'z1'), up('b', 'z2')], { sidecars: 2, up: 2, hostedSegments: 20 }, 0],
    ['one unreachable', [up('a', 'z1'), unreachable('b', 'z2')], { up: 1, unreachable: 1, hostedSegments: 10 }, 1],
    [
      'a failed repair',
      [up('a', 'z1', { repairs: { pending: 2, failed: 1 }, missingDeepStore: 3 }), up('b', 'z1')],
      { repairsPending: 2, repairsFailed: 1, missingDeepStore: 3 },
      1,
    ],
    ['pending repairs only', [up('a', 'z1', { repairs: { pending: 4, failed: 0 } })], { repairsPending: 4 }, 0],
    [
      'not ready is shown, not failed',
      [up('a', null, { ready: false, reasons: ['zookeeper: disconnected'] })],
      { up: 1, notReady: 1 },
      0,
    ],
    ['repair off counts as none', [up('a', 'z1', { repairs: null })], { repairsPending: 0, repairsFailed: 0 }, 0],
    [
      'downloads add up',
      [
        up('a', 'z1', { downloads: { inFlight: 3, queued: 1 } }),
        up('b', 'z1', { downloads: { inFlight: 2, queued: 0 } }),
      ],
      { downloadsInFlight: 5 },
      0,
    ],
  ])('%s', (_name, results, expected, code) => {
    const totals = fleetTotals(results);
    expect(totals).toMatchObject(expected);
    expect(fleetExitCode(totals)).toBe(code);
  });
});

describe('renderFleetTable', () => {
  it('one row per sidecar, sorted by zone then instance, unreachable ones listed with their reason', () => {
    const table = renderFleetTable([
      up('Server_c_8098', 'z2', { hostedSegments: 7, missingDeepStore: 2, repairs: { pending: 1, failed: 1 } }),
      unreachable('Server_b_8098', 'z1'),
      up('Server_a_8098', 'z1', { ready: false, reasons: ['first sync of hosted segments not done'] }),
      up('Server_d_8098', null, { repairs: null, downloads: { inFlight: 2, queued: 0 } }),
    ]);
    const lines = table.split('\n').map((l) => l.split(/\s{2,}/));
    expect(lines).toEqual([
      [
        'INSTANCE',
        'ZONE',
        'STATE',
        'HOSTED',
        'MISSING COPIES',
        'REPAIRS PENDING',
        'REPAIRS FAILED',
        'DOWNLOADS',
        'VERSION',
        'NOTE',
      ],
      ['Server_d_8098', '-', 'up', '10', '0', 'off', 'off', '2', '0.1.0'],
      [
        'Server_a_8098',
        'z1',
        'up, not ready',
        '10',
        '0',
        '0',
        '0',
        '0',
        '0.1.0',
        'first sync of hosted segments not done',
      ],
      ['Server_b_8098', 'z1', 'unreachable', '-', '-', '-', '-', '-', '0.1.0', 'no answer within 2000 ms'],
      ['Server_c_8098', 'z2', 'up', '7', '2', '1', '1', '0', '0.1.0'],
    ]);
  });

  it('an unreadable registry entry is a row too', () => {
    const table = renderFleetTable([
      { instance: 'x', url: null, zone: null, version: null, state: 'unreachable', reason: 'registry entry is bad' },
    ]);
    expect(table.split('\n')[1]!.split(/\s{2,}/)).toEqual([
      'x',
      '-',
      'unreachable',
      '-',
      '-',
      '-',
      '-',
      '-',
      '-',
      'registry entry is bad',
    ]);
  });
});

describe('renderFleetFooter', () => {
  it.each([
    [false, /^done in 1234 ms$/m],
    [true, /^done in 1234 ms \(overall timeout: .*unreachable\)$/m],
  ])('timedOut %s', (timedOut, last) => {
    const text = renderFleetFooter(fleetTotals([up('a', 'z1'), unreachable('b', 'z1')]), {
      elapsedMs: 1234,
      timedOut,
      registry: '/pinot-sidecar/c/sidecars',
    });
    expect(text).toContain('2 sidecars registered under /pinot-sidecar/c/sidecars: 1 up, 1 unreachable');
    expect(text).toContain('10 hosted segments, 0 missing a deep-store copy, repairs 0 pending / 0 failed');
    expect(text).toMatch(last);
  });
});
