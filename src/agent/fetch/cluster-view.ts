// The ZooKeeper reads of a fetch: the segment's metadata once, and on every attempt a fresh external view and
// the instance configs of its ONLINE replicas (PeerServerSegmentFinder reads the external view anew on each
// try; a replica that just turned ONLINE is found by the next attempt). Records are gzip-sniffed by
// parseZNRecord: big tables' external views are compressed (docs/pinot-interop.md, "ZNRecord bytes").

import {
  readInstanceEndpoint,
  readRecord,
  readSegmentAssignment,
  readSegmentMetadata,
  type ClusterPaths,
  type InstanceEndpoint,
  type SegmentMetadata,
  type ZkSession,
} from '../../helix/index.js';
import { errorMessage } from '../../errors.js';
import { replicaStates, type PeerCandidates } from './sources.js';

export async function readSegmentZkMetadata(
  session: ZkSession,
  paths: ClusterPaths,
  table: string,
  segment: string,
): Promise<SegmentMetadata | null> {
  const read = await readRecord(session, paths.segmentMetadata(table, segment));
  return read === null ? null : readSegmentMetadata(read.doc.record);
}

export async function readPeerCandidates(
  session: ZkSession,
  paths: ClusterPaths,
  table: string,
  segment: string,
): Promise<PeerCandidates> {
  const view = await readRecord(session, paths.externalView(table));
  if (view === null) return { states: null, endpoints: new Map() };
  const states = replicaStates(readSegmentAssignment(view.doc.record).get(segment));
  const endpoints = new Map<string, InstanceEndpoint | string>();
  for (const instance of states.online) {
    const path = paths.instanceConfig(instance);
    try {
      const config = await readRecord(session, path);
      endpoints.set(
        instance,
        config === null ? `no instance config at ${path}` : readInstanceEndpoint(config.doc.record, path),
      );
    } catch (err) {
      endpoints.set(instance, errorMessage(err));
    }
  }
  return { states, endpoints };
}
