import type { Hono } from 'hono';
import type { HostedSegments } from '../../helix/hosted-segments.js';
import { readCommittingSegments } from '../../helix/cluster-records.js';
import { clusterPaths } from '../../helix/paths.js';
import { readSegmentMetadata } from '../../helix/segment-metadata.js';
import { readRecord } from '../../helix/znode-io.js';
import { jacksonPrettyJson } from '../../helix/znrecord.js';
import type { ZkSession } from '../../helix/zk-session.js';
import { parseTableName } from '../../segments/index.js';
import { BadRequestError } from '../http/errors.js';

export interface PauselessDebugDeps {
  hosted: HostedSegments;
  session: ZkSession;
  cluster: string;
  instance: string;
}

/**
 * `GET /tables/{table}/pauselessDebugInfo` in the controller's shape (PinotRealtimeTableResource,
 * pinot-protocol.md §5.4), from this server's point of view: `committingSegments` is the table's
 * PAUSELESS_DEBUG_METADATA list filtered to segments whose ZK status is still COMMITTING, and
 * `instanceToErrorSegmentsMap` lists this server's replicas in ERROR (no external-view read).
 * The body is Jackson-pretty like the controller's; HashMap order puts committingSegments first.
 */
export function registerPauselessDebugInfo(app: Hono, deps: PauselessDebugDeps): void {
  const paths = clusterPaths(deps.cluster);
  app.get('/tables/:table/pauselessDebugInfo', async (c) => {
    // Hono has decoded the parameter once already; parseTableName refuses anything but [A-Za-z0-9_.-].
    const parsed = parseTableName(c.req.param('table') ?? '');
    if (parsed.type === 'OFFLINE') throw new BadRequestError(`pauselessDebugInfo is for REALTIME tables; ${parsed.nameWithType} is OFFLINE`);
    const table = `${parsed.raw}_REALTIME`;
    const debug = await readRecord(deps.session, paths.pauselessDebugMetadata(table));
    const listed = readCommittingSegments(debug?.doc.record ?? null);
    const committing: string[] = [];
    await Promise.all(
      listed.map(async (segment) => {
        const cached = deps.hosted.get(table, segment)?.zk;
        const status = cached ? cached.metadata.status : await statusInZk(deps.session, paths.segmentMetadata(table, segment));
        if (status === 'COMMITTING') committing.push(segment);
      }),
    );
    const errors = [...deps.hosted.segments(table).values()].filter((s) => s.state === 'ERROR').map((s) => s.segment).sort();
    const body = {
      committingSegments: listed.filter((s) => committing.includes(s)),
      instanceToErrorSegmentsMap: errors.length > 0 ? { [deps.instance]: errors } : {},
    };
    return c.body(jacksonPrettyJson(body), 200, { 'Content-Type': 'application/json' });
  });
}

async function statusInZk(session: ZkSession, path: string): Promise<string | null> {
  const record = await readRecord(session, path).catch(() => null);
  return record ? readSegmentMetadata(record.doc.record).status : null;
}
