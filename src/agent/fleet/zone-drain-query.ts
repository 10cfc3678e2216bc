// `fleet drain-check`'s IO: every registered sidecar's `GET /drain/check?domain=<zone>`, with bounded parallelism,
// a timeout per sidecar and the overall deadline (as fleet status asks for /fleet/summary).

import pLimit from 'p-limit';
import { z } from 'zod';
import { getFromSidecar, type AskOptions, type RegistryEntry } from './fleet-query.js';
import { zoneToTrust, type ZoneDrainAnswer } from './zone-drain.js';

/** The fields of a DrainReport (src/agent/drain/check.ts) the zone verdict needs; the rest is ignored. */
const drainReportSchema = z.object({
  verdict: z.enum(['safe', 'unsafe', 'cannot_tell']),
  domain: z.object({ id: z.string() }).nullable(),
  atRisk: z.array(
    z.object({ table: z.string(), segment: z.string(), reason: z.string(), detail: z.string().optional() }),
  ),
  reasons: z.array(z.string()),
  consuming: z.array(z.unknown()),
});

/** One answer per entry, in the entries' order; a sidecar that does not answer is an answer too. */
export async function askZoneDrain(
  entries: readonly RegistryEntry[],
  zone: string,
  options: AskOptions,
): Promise<ZoneDrainAnswer[]> {
  const limit = pLimit(options.concurrency);
  return Promise.all(entries.map((entry) => limit(() => askOne(entry, zone, options))));
}

async function askOne(entry: RegistryEntry, zone: string, options: AskOptions): Promise<ZoneDrainAnswer> {
  const unreachable = (reason: string): ZoneDrainAnswer => ({
    instance: entry.instance,
    state: 'unreachable',
    reason,
    registeredZone: zoneToTrust(entry.registration),
  });
  if (entry.registration === null) return unreachable(entry.problem);
  const registration = entry.registration;
  const path = `/drain/check?domain=${encodeURIComponent(zone)}`;
  const answer = await getFromSidecar(registration.url, path, drainReportSchema, 'a drain check', options);
  if (!answer.ok) return unreachable(answer.reason);
  const report = answer.data;
  return {
    instance: entry.instance,
    state: 'answered',
    verdict: report.verdict,
    domain: report.domain?.id ?? null,
    atRisk: report.atRisk,
    reasons: report.reasons,
    consuming: report.consuming.length,
  };
}
