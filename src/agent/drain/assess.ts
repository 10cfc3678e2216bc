// The drain gate's policy (issue 16): is anything lost if this server, or a whole failure domain, goes away?
// IO-free: check.ts gathers the inputs (the tracker's cache, external views, instance configs) and calls assess().

import { sharesFailureDomain, type FailureDomain, type ReplicaState } from '../../helix/index.js';

/** What is known of a hosted segment's deep-store copy. */
export type DeepStoreCopy =
  /** segment.download.url is a URI: the copy Pinot itself downloads from (BaseTableDataManager.downloadSegment). */
  | { kind: 'uri'; uri: string }
  /**
   * An OFFLINE table's segment: pushed through the controller, which records the download URL of every segment it
   * accepts (ZKOperator); OFFLINE segments have no peer-download commit path, so there is always a copy.
   */
  | { kind: 'offline_push' }
  /** URL "" (peer download only), no URL key, or no metadata znode: no copy outside the servers. */
  | { kind: 'none'; detail: string }
  /** The metadata has not been read yet (or could not be): nothing can be said. */
  | { kind: 'unknown'; detail: string };

export interface HostedCopy {
  table: string;
  segment: string;
  /** CURRENT_STATE of the replica on this server. */
  state: ReplicaState;
  copy: DeepStoreCopy;
}

/** One table's EXTERNALVIEW as the check read it. */
export type ExternalViewRead =
  | { kind: 'read'; assignment: ReadonlyMap<string, ReadonlyMap<string, ReplicaState>> }
  /** No EXTERNALVIEW znode: which replicas are ONLINE is not known. */
  | { kind: 'missing' }
  | { kind: 'unreadable'; detail: string };

export interface AssessInput {
  /** This server's instance id. */
  instance: string;
  /**
   * The failure domain whose loss is assessed: this server's own by default, or the zone an operator names
   * (`?domain=`). A copy survives when it is on a server outside it.
   */
  drainedDomain: string;
  hosted: readonly HostedCopy[];
  /** Per hosted table that needed one; a table absent here was not needed (every copy there is in the store). */
  externalViews: ReadonlyMap<string, ExternalViewRead>;
  /** instance -> its failure domain; null when its instance config is missing or unreadable. */
  domains: ReadonlyMap<string, FailureDomain | null>;
  /** Why the whole question cannot be answered (ZooKeeper away, the tracker not synced, ...): never "safe" then. */
  blockers: readonly string[];
}

/** Why a segment would be lost with the drained domain. */
export type AtRiskReason =
  /** No deep-store copy, and no replica on another server in the external view. */
  | 'no_copy'
  /** No deep-store copy; the other ONLINE replicas are all inside the drained domain. */
  | 'same_domain_only'
  /** No deep-store copy; the only other replicas are in ERROR (not a copy anyone can download). */
  | 'only_error_elsewhere';

export interface ReplicaSeen {
  instance: string;
  state: ReplicaState;
  /** Its failure domain; null when its instance config could not be read. */
  domain: string | null;
}

export interface SegmentAtRisk {
  table: string;
  segment: string;
  state: ReplicaState;
  reason: AtRiskReason;
  detail: string;
  /** The other replicas of the segment in the external view. */
  replicas: ReplicaSeen[];
}

export interface SegmentUnknown {
  table: string;
  segment: string;
  detail: string;
}

export type DrainVerdict = 'safe' | 'unsafe' | 'cannot_tell';

export interface DrainAssessment {
  verdict: DrainVerdict;
  drainedDomain: string;
  /** Why the verdict is cannot_tell (blockers, or segments whose inputs are missing); empty otherwise. */
  reasons: string[];
  atRisk: SegmentAtRisk[];
  /** Segments nothing can be said about: the verdict is never "safe" while one is listed. */
  unknown: SegmentUnknown[];
  /** CONSUMING here: not lost with the server, the stream is consumed again from the last committed offset. */
  consuming: Array<{ table: string; segment: string }>;
  counts: {
    hosted: number;
    withDeepStoreCopy: number;
    /** No deep-store copy, but an ONLINE replica outside the drained domain. */
    replicaOutsideDomain: number;
    atRisk: number;
    unknown: number;
    consuming: number;
  };
}

/**
 * The verdict, per segment this server hosts: a deep-store copy, or an ONLINE replica on a server outside the
 * drained domain (Pinot's PeerServerSegmentFinder downloads only from ONLINE replicas of the external view), keeps
 * it. CONSUMING replicas are listed apart: Pinot re-consumes them from the stream. Any missing input makes the
 * answer cannot_tell, never safe; an established risk makes it unsafe even when other inputs are missing.
 */
export function assess(input: AssessInput): DrainAssessment {
  const result: DrainAssessment = {
    verdict: 'safe',
    drainedDomain: input.drainedDomain,
    reasons: [...input.blockers],
    atRisk: [],
    unknown: [],
    consuming: [],
    counts: { hosted: 0, withDeepStoreCopy: 0, replicaOutsideDomain: 0, atRisk: 0, unknown: 0, consuming: 0 },
  };
  if (input.blockers.length > 0) {
    result.verdict = 'cannot_tell';
    return result;
  }
  for (const hosted of input.hosted) {
    result.counts.hosted += 1;
    if (hosted.state === 'CONSUMING') {
      result.consuming.push({ table: hosted.table, segment: hosted.segment });
      continue;
    }
    const verdict = assessSegment(input, hosted);
    if (verdict.kind === 'copy') result.counts.withDeepStoreCopy += 1;
    else if (verdict.kind === 'replica') result.counts.replicaOutsideDomain += 1;
    else if (verdict.kind === 'unknown')
      result.unknown.push({ table: hosted.table, segment: hosted.segment, detail: verdict.detail });
    else result.atRisk.push(verdict.atRisk);
  }
  result.counts.atRisk = result.atRisk.length;
  result.counts.unknown = result.unknown.length;
  result.counts.consuming = result.consuming.length;
  if (result.atRisk.length > 0) result.verdict = 'unsafe';
  else if (result.unknown.length > 0) {
    result.verdict = 'cannot_tell';
    result.reasons.push(`${result.unknown.length} segment(s) cannot be assessed (see "unknown")`);
  }
  return result;
}

type SegmentVerdict =
  | { kind: 'copy' }
  | { kind: 'replica' }
  | { kind: 'unknown'; detail: string }
  | { kind: 'at_risk'; atRisk: SegmentAtRisk };

function assessSegment(input: AssessInput, hosted: HostedCopy): SegmentVerdict {
  const { copy } = hosted;
  if (copy.kind === 'uri' || copy.kind === 'offline_push') return { kind: 'copy' };
  if (copy.kind === 'unknown') return { kind: 'unknown', detail: copy.detail };
  const view = input.externalViews.get(hosted.table);
  if (!view) return { kind: 'unknown', detail: `external view of ${hosted.table} not read` };
  if (view.kind === 'missing') return { kind: 'unknown', detail: `no external view for ${hosted.table}` };
  if (view.kind === 'unreadable') return { kind: 'unknown', detail: view.detail };

  const domainOf = (instance: string): string | null => input.domains.get(instance)?.id ?? null;
  // This server's own replica survives a domain it is not in (a zone check asked of a server outside the zone).
  const selfDomain = domainOf(input.instance);
  if (hosted.state === 'ONLINE' && selfDomain !== null && !sharesFailureDomain(selfDomain, input.drainedDomain))
    return { kind: 'replica' };

  const replicas: ReplicaSeen[] = [];
  for (const [instance, state] of view.assignment.get(hosted.segment) ?? new Map<string, ReplicaState>()) {
    if (instance === input.instance) continue;
    replicas.push({ instance, state, domain: state === 'ONLINE' ? domainOf(instance) : null });
  }
  const online = replicas.filter((r) => r.state === 'ONLINE');
  if (online.some((r) => r.domain !== null && !sharesFailureDomain(r.domain, input.drainedDomain)))
    return { kind: 'replica' };
  const unknownDomain = online.filter((r) => r.domain === null);
  if (unknownDomain.length > 0)
    return {
      kind: 'unknown',
      detail: `ONLINE on ${unknownDomain.map((r) => r.instance).join(', ')}, whose failure domain cannot be read`,
    };
  const atRisk = (reason: AtRiskReason, detail: string): SegmentVerdict => ({
    kind: 'at_risk',
    atRisk: { table: hosted.table, segment: hosted.segment, state: hosted.state, reason, detail, replicas },
  });
  const noCopy = `no deep-store copy (${copy.detail})`;
  if (online.length > 0)
    return atRisk(
      'same_domain_only',
      `${noCopy}; the other ONLINE replicas (${online.map((r) => r.instance).join(', ')}) are all in domain ` +
        `${input.drainedDomain}`,
    );
  const inError = replicas.filter((r) => r.state === 'ERROR');
  if (inError.length > 0)
    return atRisk(
      'only_error_elsewhere',
      `${noCopy}; the only other replicas are in ERROR (${inError.map((r) => r.instance).join(', ')})`,
    );
  return atRisk('no_copy', `${noCopy}; no other server has an ONLINE replica`);
}
