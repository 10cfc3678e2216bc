// `GET /fleet/summary` (issue 16): one small JSON per sidecar for `pinot-sidecar fleet status`, built from what the
// sidecar already holds (the tracker's view, the repair totals, the download slots, readiness): no ZooKeeper request.

import { z } from 'zod';
import type { RepairStateName } from '../repair/repair-state.js';

/** The body of `GET /fleet/summary`; `fleet status` parses it with fleetSummarySchema (unknown fields are kept). */
export const fleetSummarySchema = z.looseObject({
  instance: z.string(),
  zone: z.string().nullable(),
  version: z.string(),
  startedAt: z.string(),
  ready: z.boolean(),
  /** Why not ready (empty when ready). */
  reasons: z.array(z.string()),
  /** Segments this server hosts as the tracker last saw them (0 before the first sync). */
  hostedSegments: z.number().int(),
  /** Hosted segments committed DONE with download URL "": this server's copy may be the only one. */
  missingDeepStore: z.number().int(),
  /** Null when repair is off (no --deep-store). */
  repairs: z.object({ pending: z.number().int(), failed: z.number().int() }).nullable(),
  downloads: z.object({ inFlight: z.number().int(), queued: z.number().int() }),
});

export type FleetSummary = z.infer<typeof fleetSummarySchema>;

/**
 * The repair totals folded into the two figures an operator acts on: `failed` needs an operator (a permanent
 * error); `pending` is everything still on its way (waiting, uploading, verifying, committing, retrying).
 */
export function repairCounts(totals: Record<RepairStateName, number>): { pending: number; failed: number } {
  return {
    pending: totals.pending + totals.uploading + totals.verifying + totals.committing + totals.retrying,
    failed: totals.failed,
  };
}
