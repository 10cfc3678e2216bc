// `fleet drain-check --zone Z`: the drain gate for a whole zone, from every registered sidecar's own answer to
// `GET /drain/check?domain=Z` (each assesses its server's segments against the loss of zone Z). Pure: the answers
// in, one verdict out.

import { sharesFailureDomain } from '../../helix/index.js';
import type { DrainVerdict } from '../drain/assess.js';
import type { Registration } from './registry-record.js';

/** What one sidecar answered (the fields of its DrainReport this needs), or why it did not. */
export type ZoneDrainAnswer =
  | {
      instance: string;
      state: 'answered';
      verdict: DrainVerdict;
      /** The sidecar's own failure domain id, null when it could not read it. */
      domain: string | null;
      atRisk: Array<{ table: string; segment: string; reason: string; detail?: string }>;
      reasons: string[];
      consuming: number;
    }
  /** `registeredZone`: what the sidecar registered (--zone), the only hint of its zone when it does not answer. */
  | { instance: string; state: 'unreachable'; reason: string; registeredZone: string | null };

export interface ZoneDrainVerdict {
  zone: string;
  verdict: DrainVerdict;
  /** The servers of the zone (by their own answer, or by their registration when they did not answer). */
  servers: string[];
  atRisk: Array<{ instance: string; table: string; segment: string; reason: string; detail?: string }>;
  /** Why the verdict is cannot_tell. */
  reasons: string[];
}

/**
 * A zone can go when no server in it holds a segment at risk. Never "safe" when unsure: a sidecar that did not answer
 * and may be in the zone (it registered that zone, or none), a server of the zone that cannot tell, or a zone with
 * no server at all (a typo in --zone looks exactly like that) make the answer cannot_tell; an established risk makes
 * it unsafe whatever else is missing.
 */
export function combineZoneDrain(zone: string, answers: readonly ZoneDrainAnswer[]): ZoneDrainVerdict {
  const servers: string[] = [];
  const atRisk: ZoneDrainVerdict['atRisk'] = [];
  const reasons: string[] = [];
  for (const answer of answers) {
    if (answer.state === 'unreachable') {
      if (answer.registeredZone === null || sharesFailureDomain(answer.registeredZone, zone)) {
        servers.push(answer.instance);
        const where =
          answer.registeredZone === null
            ? 'may be in the zone (it registered no --zone; a zone learned from its instance config may be stale)'
            : 'is in the zone';
        reasons.push(`${answer.instance} ${where} and did not answer: ${answer.reason}`);
      }
      continue;
    }
    if (answer.domain === null) {
      reasons.push(`${answer.instance} cannot read its own failure domain`);
      continue;
    }
    if (!sharesFailureDomain(answer.domain, zone)) continue;
    servers.push(answer.instance);
    for (const segment of answer.atRisk) atRisk.push({ instance: answer.instance, ...segment });
    if (answer.verdict === 'cannot_tell') reasons.push(...answer.reasons.map((r) => `${answer.instance}: ${r}`));
  }
  if (servers.length === 0 && reasons.length === 0) reasons.push(`no registered sidecar is in zone ${zone}`);
  const verdict: DrainVerdict = atRisk.length > 0 ? 'unsafe' : reasons.length > 0 ? 'cannot_tell' : 'safe';
  return { zone, verdict, servers, atRisk, reasons };
}

/**
 * The zone a sidecar that does not answer is taken to be in: the one it registered from `--zone`, or null ("may
 * be in any zone"). A zone it learned from its server's instance config may be stale — the server retagged since,
 * or Pinot wrote the domain after the sidecar registered — and only a live answer confirms it; trusting it would
 * let a silent server of the zone be skipped, and the zone called safe.
 */
export function zoneToTrust(registration: Pick<Registration, 'zone' | 'zoneFrom'> | null): string | null {
  if (registration === null || registration.zoneFrom === 'instance-config') return null;
  return registration.zone ?? null;
}

/** 0 safe, 1 unsafe, 2 cannot tell: the exit codes of `drain-check`. */
export function zoneDrainExitCode(verdict: DrainVerdict): number {
  return verdict === 'safe' ? 0 : verdict === 'unsafe' ? 1 : 2;
}
