// What `pinot-sidecar fleet status` prints and returns, as pure functions of the answers gathered (fleet-query.ts):
// the table, the totals, the exit code. No IO, so each rule has a table-driven test.

import type { FleetSummary } from './summary.js';

/** One registered sidecar and what came of asking it. */
export type SidecarResult =
  | { instance: string; url: string; zone: string | null; version: string; state: 'up'; summary: FleetSummary }
  | {
      instance: string;
      /** Null when the registry entry itself was unreadable (no URL to ask). */
      url: string | null;
      zone: string | null;
      version: string | null;
      state: 'unreachable';
      /** Why, in one line: `no answer within 2000 ms`, `connection refused by ...`, `answered 401`. */
      reason: string;
    };

export interface FleetTotals {
  sidecars: number;
  up: number;
  notReady: number;
  unreachable: number;
  hostedSegments: number;
  missingDeepStore: number;
  repairsPending: number;
  repairsFailed: number;
  downloadsInFlight: number;
}

export function fleetTotals(results: readonly SidecarResult[]): FleetTotals {
  const totals: FleetTotals = {
    sidecars: results.length,
    up: 0,
    notReady: 0,
    unreachable: 0,
    hostedSegments: 0,
    missingDeepStore: 0,
    repairsPending: 0,
    repairsFailed: 0,
    downloadsInFlight: 0,
  };
  for (const r of results) {
    if (r.state === 'unreachable') {
      totals.unreachable += 1;
      continue;
    }
    totals.up += 1;
    const s = r.summary;
    if (!s.ready) totals.notReady += 1;
    totals.hostedSegments += s.hostedSegments;
    totals.missingDeepStore += s.missingDeepStore;
    totals.repairsPending += s.repairs?.pending ?? 0;
    totals.repairsFailed += s.repairs?.failed ?? 0;
    totals.downloadsInFlight += s.downloads.inFlight;
  }
  return totals;
}

/**
 * 1 when an operator is needed: a repair failed (a permanent error on some server), or a sidecar did not answer
 * (its server's state is unknown, so the fleet cannot be called healthy); 0 otherwise. A sidecar that answers but
 * is not ready is shown, not failed: its own `status` and alerts say why.
 */
export function fleetExitCode(totals: FleetTotals): 0 | 1 {
  return totals.unreachable > 0 || totals.repairsFailed > 0 ? 1 : 0;
}

const HEADER = [
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
];

/** The table, sorted by zone then instance, one row per registered sidecar (those that did not answer included). */
export function renderFleetTable(results: readonly SidecarResult[]): string {
  const sorted = [...results].sort((a, b) => compare(a.zone ?? '', b.zone ?? '') || compare(a.instance, b.instance));
  const rows = sorted.map((r) => {
    if (r.state === 'unreachable')
      return [r.instance, r.zone ?? '-', 'unreachable', '-', '-', '-', '-', '-', r.version ?? '-', oneLine(r.reason)];
    const s = r.summary;
    return [
      r.instance,
      r.zone ?? '-',
      s.ready ? 'up' : 'up, not ready',
      String(s.hostedSegments),
      String(s.missingDeepStore),
      s.repairs ? String(s.repairs.pending) : 'off',
      s.repairs ? String(s.repairs.failed) : 'off',
      String(s.downloads.inFlight),
      r.version,
      s.ready ? '' : oneLine(s.reasons.join('; ')),
    ];
  });
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(HEADER), ...rows.map(line)].join('\n');
}

/** The lines under the table: the sums, what did not answer, and how long it took. */
export function renderFleetFooter(
  totals: FleetTotals,
  options: { elapsedMs: number; timedOut: boolean; registry: string },
): string {
  const s = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const lines = [
    `${s(totals.sidecars, 'sidecar')} registered under ${options.registry}: ${totals.up} up` +
      `${totals.notReady > 0 ? ` (${totals.notReady} not ready)` : ''}, ${totals.unreachable} unreachable`,
    `${s(totals.hostedSegments, 'hosted segment')}, ${totals.missingDeepStore} missing a deep-store copy, ` +
      `repairs ${totals.repairsPending} pending / ${totals.repairsFailed} failed, ` +
      `${totals.downloadsInFlight} downloads in flight`,
    `done in ${options.elapsedMs} ms${options.timedOut ? ` (${OVERALL_TIMEOUT_NOTE})` : ''}`,
  ];
  return lines.join('\n');
}

const OVERALL_TIMEOUT_NOTE = 'overall timeout: sidecars not asked in time are listed as unreachable';

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 100 ? `${flat.slice(0, 97)}...` : flat;
}
