import type { HostedSegments } from '../../src/helix/hosted-segments.js';

/** The tracker's view as plain data, tables sorted: table -> segment -> replica state. */
export function hostedStates(tracker: HostedSegments): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const table of tracker.tables().sort())
    out[table] = Object.fromEntries([...tracker.segments(table)].map(([s, e]) => [s, e.state]));
  return out;
}
