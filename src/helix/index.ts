// The Helix/ZooKeeper library: one ZooKeeper session, Helix's records (ZNRecord) read and rewritten byte for byte,
// Pinot's cluster records typed, and the watched view of what one server hosts. Independent of src/segments,
// src/deepstore and src/agent; the agent composes it, through this file only.

export {
  DEFAULT_ADMIN_PORT,
  readCommittingSegments,
  readFailureDomain,
  sharesFailureDomain,
  readInstanceEndpoint,
  readSegmentAssignment,
  type ClusterSettings,
  type FailureDomain,
  type FailureDomainOptions,
  type FailureDomainSource,
  type InstanceEndpoint,
  type ReplicaState,
} from './cluster-records.js';
export {
  ClusterNotFoundError,
  isUnanswered,
  isZkCode,
  RecordNotRewritableError,
  ZNRecordParseError,
  ZooKeeperError,
  type ZooKeeperErrorCode,
} from './errors.js';
export {
  HostedSegments,
  type HostedSegment,
  type HostedSegmentChange,
  type HostedSegmentsOptions,
  type ServerLiveness,
  type ZkSegmentMetadata,
} from './hosted-segments.js';
export { clusterPaths, parentPath, type ClusterPaths } from './paths.js';
export {
  readSegmentMetadata,
  SEGMENT_STATUSES,
  SegmentKeys,
  type DownloadUrl,
  type SegmentMetadata,
  type SegmentStatus,
} from './segment-metadata.js';
export { readTableSettings, type TableSettings } from './table-config.js';
export { ZK_OPS, ZkSession, type ZkSessionOptions, type ZkStat } from './zk-session.js';
export { compareAndSetSimpleField, readRecord, type CasOutcome, type VersionedRecord } from './znode-io.js';
export {
  DEFAULT_MAX_RECORD_BYTES,
  jacksonPrettyJson,
  newZNRecord,
  rewriteSimpleField,
  serializeZNRecord,
  type ZNRecord,
} from './znrecord.js';
