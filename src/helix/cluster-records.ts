import { ZNRecordParseError } from './errors.js';
import type { ZNRecord } from './znrecord.js';

/**
 * Typed readers for the Helix records the sidecar needs (pinot-protocol.md §1.3, §1.4, §7.2).
 * Pure functions of a parsed record; a record missing what a reader needs is a ZNRecordParseError.
 */

/** Segment replica states of SegmentOnlineOfflineStateModel (CommonConstants.SegmentStateModel). */
export type ReplicaState = 'ONLINE' | 'CONSUMING' | 'OFFLINE' | 'ERROR' | 'DROPPED' | string;

/** LIVEINSTANCES/<id>: the server's ZK session id, which names its CURRENTSTATES folder. */
export function readLiveInstanceSession(record: ZNRecord, path = record.id): string {
  const session = record.simpleFields.SESSION_ID;
  if (!session) throw new ZNRecordParseError(path, 'live instance has no SESSION_ID');
  return session;
}

/** CURRENTSTATES/<session>/<table>: segment -> CURRENT_STATE (helix CurrentState.getPartitionStateMap). */
export function readCurrentState(record: ZNRecord): Map<string, ReplicaState> {
  const out = new Map<string, ReplicaState>();
  for (const [segment, fields] of Object.entries(record.mapFields)) {
    const state = fields.CURRENT_STATE;
    if (state !== undefined) out.set(segment, state);
  }
  return out;
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
 * ids may be custom and hosts may contain '_' (pinot-protocol.md §9, §12.19).
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
  /** How long a pauseless commit may stay COMMITTING (LLCM DEFAULT_MAX_SEGMENT_COMPLETION_TIME_MILLIS). */
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
    disasterRecoveryMode: f['controller.segment.disaster.recovery.mode']?.toUpperCase() === 'ALWAYS' ? 'ALWAYS' : 'DEFAULT',
  };
}

/** PROPERTYSTORE/PAUSELESS_DEBUG_METADATA/<table>: listField committingSegments (LLCM, since 1.4.0). */
export function readCommittingSegments(record: ZNRecord | null): string[] {
  return record?.listFields.committingSegments ?? [];
}

function port(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value)) return null;
  const n = Number(value);
  // InstanceConfig writers drop the key when the port is not > 0 (updatePortIfNeeded).
  return n > 0 && n < 65536 ? n : null;
}
