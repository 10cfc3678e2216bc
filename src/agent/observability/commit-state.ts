import type { ClusterSettings, HostedSegment, ReplicaState, SegmentStatus, TableSettings } from '../../helix/index.js';
import { isLlcSegmentName } from '../../pinot-format/index.js';

/**
 * Commit-state figures of one hosted table, computed from what the tracker already holds: no
 * ZooKeeper read. Pure, so every rule has a table-driven test.
 */
export interface TableCommitState {
  pauselessEnabled: boolean;
  /** Hosted REALTIME segments by ZK status (segments whose metadata is unknown are not counted). */
  byStatus: Record<SegmentStatus, number>;
  /** DONE with download URL exactly "": the only copies are on servers. */
  missingDeepStore: number;
  /** This server's replicas in ERROR. */
  inError: number;
  /**
   * COMMITTING for longer than max.segment.completion.time.millis, on the controller's clock: the znode's
   * mtime (any write restarts it), PinotLLCRealtimeSegmentManager.isExceededMaxSegmentCompletionTime.
   */
  committingStuck: number;
  /** Segments of this table whose replica here is in ERROR: the EV needs reading only then. */
  errorSegments: string[];
}

export function tableCommitState(
  segments: Iterable<HostedSegment>,
  settings: TableSettings | null | undefined,
  cluster: ClusterSettings,
  nowMs: number,
): TableCommitState {
  const byStatus: Record<SegmentStatus, number> = { IN_PROGRESS: 0, COMMITTING: 0, DONE: 0, UPLOADED: 0 };
  let missingDeepStore = 0;
  let committingStuck = 0;
  const errorSegments: string[] = [];
  for (const s of segments) {
    if (s.state === 'ERROR') errorSegments.push(s.segment);
    const zk = s.zk;
    if (!zk) continue;
    const { status, downloadUrl } = zk.metadata;
    byStatus[status] += 1;
    if (status === 'DONE' && downloadUrl.kind === 'empty') missingDeepStore += 1;
    if (status === 'COMMITTING' && nowMs > zk.mtimeMs + cluster.maxSegmentCompletionTimeMs) committingStuck += 1;
  }
  return {
    pauselessEnabled: settings?.pauselessEnabled ?? false,
    byStatus,
    missingDeepStore,
    inError: errorSegments.length,
    committingStuck,
    errorSegments,
  };
}

export interface PauselessErrorCounts {
  inError: number;
  unrecoverable: number;
}

/**
 * The controller's pauseless error gauges (RealtimeSegmentValidationManager →
 * PinotLLCRealtimeSegmentManager.repairSegmentsInErrorState; docs/pinot-interop.md, "Pauseless"), from this
 * server's point of view: a segment counts when it is an LLC segment present in the ideal state and every
 * one of its external-view replicas is in ERROR. Each such segment is counted by exactly one sidecar — the
 * one whose instance id sorts first among the segment's replicas — so that `sum by (table)` across sidecars
 * equals the controller's value without double counting.
 *
 * Where the controller, when repair is not allowed, updates only the unrecoverable gauge and leaves
 * the in-error gauge at its previous value, here both are always current: in_error counts all such
 * segments; unrecoverable counts them too when repair is not allowed, else 0.
 */
export function pauselessErrorCounts(input: {
  instance: string;
  settings: TableSettings | null | undefined;
  cluster: ClusterSettings;
  externalView: ReadonlyMap<string, ReadonlyMap<string, ReplicaState>>;
  idealStateSegments: ReadonlySet<string>;
}): PauselessErrorCounts {
  const { instance, settings, externalView, idealStateSegments } = input;
  if (!settings?.pauselessEnabled) return { inError: 0, unrecoverable: 0 };
  let inError = 0;
  for (const [segment, replicas] of externalView) {
    if (replicas.size === 0 || !isLlcSegmentName(segment) || !idealStateSegments.has(segment)) continue;
    let all = true;
    let owner: string | undefined;
    for (const [replica, state] of replicas) {
      if (state !== 'ERROR') all = false;
      if (owner === undefined || replica < owner) owner = replica;
    }
    if (all && owner === instance) inError += 1;
  }
  return { inError, unrecoverable: repairAllowed(input.settings, input.cluster) ? 0 : inError };
}

/**
 * PinotLLCRealtimeSegmentManager.allowRepairOfCommittingSegments: disaster-recovery mode ALWAYS (table or
 * cluster) allows it; otherwise dedup and partial upsert tables may not be repaired by re-ingestion.
 */
export function repairAllowed(settings: TableSettings | null | undefined, cluster: ClusterSettings): boolean {
  if (settings?.disasterRecoveryMode === 'ALWAYS' || cluster.disasterRecoveryMode === 'ALWAYS') return true;
  return !(settings?.dedupEnabled || settings?.partialUpsert);
}
