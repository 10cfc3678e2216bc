import { describe, expect, it } from 'vitest';
import {
  pauselessErrorCounts,
  repairAllowed,
  tableCommitState,
} from '../../../src/agent/observability/commit-state.js';
import { readClusterSettings, type ClusterSettings } from '../../../src/helix/cluster-records.js';
import type { HostedSegment } from '../../../src/helix/hosted-segments.js';
import { readSegmentMetadata } from '../../../src/helix/segment-metadata.js';
import type { TableSettings } from '../../../src/helix/table-config.js';
import { segmentRecord } from '../../helpers/pinot-cluster.js';

const cluster: ClusterSettings = readClusterSettings(null); // 300 s completion time
const settings = (over: Partial<TableSettings> = {}): TableSettings => ({
  tableNameWithType: 't_REALTIME',
  tableType: 'REALTIME',
  pauselessEnabled: true,
  retentionMs: null,
  peerDownloadScheme: 'http',
  dedupEnabled: false,
  partialUpsert: false,
  disasterRecoveryMode: 'DEFAULT',
  crypterClassName: null,
  ...over,
});

function hosted(
  segment: string,
  state: string,
  fields: Parameters<typeof segmentRecord>[1] | null,
  mtimeMs = 0,
): HostedSegment {
  return {
    table: 't_REALTIME',
    segment,
    state,
    zk: fields === null ? null : { metadata: readSegmentMetadata(segmentRecord(segment, fields)), version: 1, mtimeMs },
  };
}

describe('tableCommitState', () => {
  const now = 1_000_000_000;
  const segments = [
    hosted('a', 'ONLINE', { status: 'DONE', downloadUrl: '' }),
    hosted('b', 'ONLINE', { status: 'DONE', downloadUrl: 's3://x' }),
    hosted('c', 'ONLINE', { status: 'DONE' }), // no URL key at all: not "missing a deep-store copy" by Pinot's rule
    hosted('d', 'CONSUMING', { status: 'IN_PROGRESS' }),
    hosted('e', 'ONLINE', { status: 'COMMITTING' }, now - 300_001),
    hosted('f', 'ONLINE', { status: 'COMMITTING' }, now - 300_000),
    hosted('g', 'ERROR', { status: 'DONE', downloadUrl: '' }),
    hosted('h', 'ERROR', null),
    hosted('i', 'ONLINE', { status: 'UPLOADED', downloadUrl: 's3://y' }),
  ];
  const state = tableCommitState(segments, settings(), cluster, now);

  it('counts hosted segments by ZK status, skipping unknown metadata', () => {
    expect(state.byStatus).toEqual({ IN_PROGRESS: 1, COMMITTING: 2, DONE: 4, UPLOADED: 1 });
  });
  it('counts DONE segments whose URL is exactly "" as missing a deep-store copy', () => {
    expect(state.missingDeepStore).toBe(2);
  });
  it('counts ERROR replicas, with or without metadata', () => {
    expect(state.inError).toBe(2);
    expect(state.errorSegments).toEqual(['g', 'h']);
  });
  it('calls a commit stuck strictly after mtime + max completion time', () => {
    expect(state.committingStuck).toBe(1);
    expect(
      tableCommitState(segments, settings(), { ...cluster, maxSegmentCompletionTimeMs: 60_000 }, now).committingStuck,
    ).toBe(2);
  });
  it('reports the pauseless flag, false when the table config is unknown', () => {
    expect(state.pauselessEnabled).toBe(true);
    expect(tableCommitState(segments, null, cluster, now).pauselessEnabled).toBe(false);
  });
});

describe('pauselessErrorCounts (controller definitions, one owner per segment)', () => {
  const seg = (n: number) => `t__0__${n}__20240101T0000Z`;
  const ev = new Map<string, Map<string, string>>([
    [
      seg(1),
      new Map([
        ['Server_b', 'ERROR'],
        ['Server_a', 'ERROR'],
      ]),
    ], // owner a
    [
      seg(2),
      new Map([
        ['Server_b', 'ERROR'],
        ['Server_c', 'ERROR'],
      ]),
    ], // owner b
    [
      seg(3),
      new Map([
        ['Server_a', 'ERROR'],
        ['Server_b', 'ONLINE'],
      ]),
    ], // not all replicas
    [seg(4), new Map([['Server_a', 'ERROR']])], // owner a, but not in the ideal state
    ['t_uploaded_segment_0', new Map([['Server_a', 'ERROR']])], // not an LLC name
    [seg(5), new Map()],
  ]);
  const is = new Set([seg(1), seg(2), seg(3), 't_uploaded_segment_0', seg(5)]);
  const count = (instance: string, s = settings(), c = cluster) =>
    pauselessErrorCounts({ instance, settings: s, cluster: c, externalView: ev, idealStateSegments: is });

  it.each([
    ['Server_a', 1],
    ['Server_b', 1],
    ['Server_c', 0],
  ])('%s owns %i segment(s); the sum over all servers is the cluster count', (instance, n) => {
    expect(count(instance).inError).toBe(n);
  });

  it('is 0 for a table that is not pauseless', () => {
    expect(count('Server_a', settings({ pauselessEnabled: false }))).toEqual({ inError: 0, unrecoverable: 0 });
  });

  it.each([
    [{}, 'DEFAULT', 0],
    [{ dedupEnabled: true }, 'DEFAULT', 1],
    [{ partialUpsert: true }, 'DEFAULT', 1],
    [{ partialUpsert: true, disasterRecoveryMode: 'ALWAYS' as const }, 'DEFAULT', 0],
    [{ dedupEnabled: true }, 'ALWAYS', 0],
  ])('unrecoverable with %j and cluster DR mode %s: %i', (over, clusterMode, unrecoverable) => {
    const c = { ...cluster, disasterRecoveryMode: clusterMode as 'DEFAULT' | 'ALWAYS' };
    expect(count('Server_a', settings(over), c)).toEqual({ inError: 1, unrecoverable });
    expect(repairAllowed(settings(over), c)).toBe(unrecoverable === 0);
  });
});
