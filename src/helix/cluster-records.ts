// Typed readers for the Helix records the sidecar needs (docs/pinot-interop.md, "ZooKeeper layout").
// Pure functions of a parsed record; a record missing what a reader needs is a ZNRecordParseError.

import { ZNRecordParseError } from './errors.js';
import { namePreview, pathComponentProblem } from './paths.js';
import type { ZNRecord } from './znrecord.js';

/** Segment replica states of SegmentOnlineOfflineStateModel (CommonConstants.SegmentStateModel). */
export type ReplicaState = 'ONLINE' | 'CONSUMING' | 'OFFLINE' | 'ERROR' | 'DROPPED' | (string & {});

/**
 * LIVEINSTANCES/<id>: the server's ZK session id, which names its CURRENTSTATES folder. One that
 * cannot be a path component (empty, "..", a "/", absurdly long) locates no folder: the record is
 * unusable, like one that does not parse.
 */
export function readLiveInstanceSession(record: ZNRecord, path = record.id): string {
  const session = record.simpleFields.SESSION_ID;
  if (!session) throw new ZNRecordParseError(path, 'live instance has no SESSION_ID');
  const problem = pathComponentProblem(session);
  if (problem)
    throw new ZNRecordParseError(
      path,
      `live instance SESSION_ID ${namePreview(session)} cannot name a CURRENTSTATES folder: ${problem}`,
    );
  return session;
}

/** A current-state entry left out of the view, and why. */
export interface SkippedCurrentStateEntry {
  segment: string;
  reason: string;
}

export interface CurrentStateEntries {
  /** segment -> CURRENT_STATE, for the entries whose segment name can be a ZooKeeper path component. */
  states: Map<string, ReplicaState>;
  skipped: SkippedCurrentStateEntry[];
}

/**
 * CURRENTSTATES/<session>/<table>: segment -> CURRENT_STATE (helix CurrentState.getPartitionStateMap).
 * A segment name that cannot be a ZooKeeper path component names no segment Pinot could have made
 * (its metadata znode could not exist): that entry is skipped with its reason, the rest is read.
 */
export function readCurrentState(record: ZNRecord): CurrentStateEntries {
  const states = new Map<string, ReplicaState>();
  const skipped: SkippedCurrentStateEntry[] = [];
  for (const [segment, fields] of Object.entries(record.mapFields)) {
    const state = fields.CURRENT_STATE;
    if (state === undefined) continue;
    const problem = pathComponentProblem(segment);
    if (problem) skipped.push({ segment, reason: `segment name is not a valid ZooKeeper path component: ${problem}` });
    else states.set(segment, state);
  }
  return { states, skipped };
}

/** EXTERNALVIEW/<table> (or IDEALSTATES): segment -> instance -> state. */
export function readSegmentAssignment(record: ZNRecord): Map<string, Map<string, ReplicaState>> {
  const out = new Map<string, Map<string, ReplicaState>>();
  for (const [segment, instances] of Object.entries(record.mapFields)) {
    out.set(segment, new Map(Object.entries(instances)));
  }
  return out;
}

export interface InstanceEndpoint {
  host: string;
  /** Admin HTTP port; 8097 when the key is missing (Server.DEFAULT_ADMIN_API_PORT, PeerServerSegmentFinder). */
  adminPort: number;
  adminHttpsPort: number | null;
}

export const DEFAULT_ADMIN_PORT = 8097;

/**
 * CONFIGS/PARTICIPANT/<id>. The host comes from HELIX_HOST, never from parsing the instance id:
 * ids may be custom and hosts may contain '_' (InstanceUtils; docs/pinot-interop.md, "ZooKeeper layout").
 */
export function readInstanceEndpoint(record: ZNRecord, path = record.id): InstanceEndpoint {
  const host = record.simpleFields.HELIX_HOST;
  if (!host) throw new ZNRecordParseError(path, 'instance config has no HELIX_HOST');
  return {
    host,
    adminPort: port(record.simpleFields.adminPort) ?? DEFAULT_ADMIN_PORT,
    adminHttpsPort: port(record.simpleFields.adminHttpsPort),
  };
}

export interface ClusterSettings {
  /**
   * How long a pauseless commit may stay COMMITTING
   * (PinotLLCRealtimeSegmentManager.DEFAULT_MAX_SEGMENT_COMPLETION_TIME_MILLIS).
   */
  maxSegmentCompletionTimeMs: number;
  /** controller.segment.disaster.recovery.mode when set as a cluster config. */
  disasterRecoveryMode: 'DEFAULT' | 'ALWAYS';
}

export const DEFAULT_MAX_SEGMENT_COMPLETION_TIME_MS = 300_000;

/** CONFIGS/CLUSTER/<cluster> (the Helix cluster config, not PROPERTYSTORE/CONFIGS/CLUSTER). */
export function readClusterSettings(record: ZNRecord | null): ClusterSettings {
  const f = record?.simpleFields ?? {};
  const max = Number(f['max.segment.completion.time.millis']);
  return {
    maxSegmentCompletionTimeMs: Number.isInteger(max) && max > 0 ? max : DEFAULT_MAX_SEGMENT_COMPLETION_TIME_MS,
    disasterRecoveryMode:
      f['controller.segment.disaster.recovery.mode']?.toUpperCase() === 'ALWAYS' ? 'ALWAYS' : 'DEFAULT',
  };
}

/**
 * PROPERTYSTORE/PAUSELESS_DEBUG_METADATA/<table>: listField committingSegments
 * (PinotLLCRealtimeSegmentManager, since 1.4.0).
 */
export function readCommittingSegments(record: ZNRecord | null): string[] {
  return record?.listFields.committingSegments ?? [];
}

function port(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value)) return null;
  const n = Number(value);
  // InstanceConfig writers drop the key when the port is not > 0 (updatePortIfNeeded).
  return n > 0 && n < 65536 ? n : null;
}

/** Where a server's failure domain was read from (docs/pinot-interop.md, "Failure domains"). */
export type FailureDomainSource = 'tag' | 'environment' | 'pool' | 'instance';

export interface FailureDomain {
  /** The domain's name: what `GET /drain/check?domain=` is compared with. */
  id: string;
  source: FailureDomainSource;
}

/**
 * Whether a server in domain `a` goes down with domain `b`: the same id, or — for pool domains — a pool in common. A
 * server in several pools (`pool:0+1`, readFailureDomain) is in each of them: draining pool 0 takes it down, and a
 * replica on it does not survive the loss of pool 0 (nor of pool 1). Plain string equality said it did.
 */
export function sharesFailureDomain(a: string, b: string): boolean {
  if (a === b) return true;
  const pools = (id: string): string[] | null =>
    id.startsWith(POOL_PREFIX) ? id.slice(POOL_PREFIX.length).split('+') : null;
  const left = pools(a);
  const right = pools(b);
  return left !== null && right !== null && left.some((pool) => right.includes(pool));
}

/** How readFailureDomain names a pool domain: `pool:` and the pool numbers joined by `+`. */
const POOL_PREFIX = 'pool:';

export interface FailureDomainOptions {
  /**
   * Read the domain from the first TAG_LIST entry that starts with this prefix (its remainder is the domain), and
   * only from there: an operator who names a tag has said what a domain is. Unset: environment, then pool.
   */
  tagPrefix?: string;
}

/**
 * Pinot's placeholder when its environment provider knows no domain (CommonConstants.DEFAULT_FAILURE_DOMAIN): not a
 * domain, or every server that reports it would look co-located.
 */
const PINOT_NO_DOMAIN = 'No such domain';

/**
 * The failure domain of a server, from its instance config CONFIGS/PARTICIPANT/<instance>. In order:
 * - `--failure-domain-tag`: a TAG_LIST entry with that prefix, when the operator chose tags;
 * - `mapFields.environment.failureDomain`: the field Pinot itself names the failure domain
 *   (CommonConstants.ENVIRONMENT_IDENTIFIER / INSTANCE_FAILURE_DOMAIN), written by the server's starter from its
 *   PinotEnvironmentProvider (BaseServerStarter: the Azure provider reads the VM's platform fault domain);
 * - `mapFields.pool`: tag -> pool number (InstanceUtils.POOL_KEY), what pool-based instance assignment spreads
 *   replica groups over; the fault-domain-aware selector maps each fault domain 1:1 to a pool
 *   (FDAwareInstancePartitionSelector). A server in several pools is in the domain of all of them (`pool:0+1`);
 * - none of them: the server is its own domain (the instance id), so any other server's replica counts.
 */
export function readFailureDomain(
  record: ZNRecord,
  instance: string,
  options: FailureDomainOptions = {},
): FailureDomain {
  if (options.tagPrefix !== undefined) {
    const prefix = options.tagPrefix;
    const tag = (record.listFields.TAG_LIST ?? []).find((t) => t.startsWith(prefix) && t.length > prefix.length);
    return tag === undefined ? { id: instance, source: 'instance' } : { id: tag.slice(prefix.length), source: 'tag' };
  }
  const environment = record.mapFields.environment?.failureDomain?.trim();
  if (environment && environment !== PINOT_NO_DOMAIN) return { id: environment, source: 'environment' };
  const pools = [...new Set(Object.values(record.mapFields.pool ?? {}).map((p) => p.trim()))]
    .filter((p) => p !== '')
    .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  if (pools.length > 0) return { id: `${POOL_PREFIX}${pools.join('+')}`, source: 'pool' };
  return { id: instance, source: 'instance' };
}
