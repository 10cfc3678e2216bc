// The drain gate's reads (issue 16): everything assess() needs, at a bounded cost per check. Segment metadata
// comes from the tracker's cache only; EXTERNALVIEW is read once per check, and only for the hosted tables that
// have a segment without a deep-store copy; instance configs only of the servers ONLINE for such segments.

import pLimit from 'p-limit';
import { errorMessage } from '../../errors.js';
import {
  clusterPaths,
  readFailureDomain,
  readRecord,
  readSegmentAssignment,
  ZooKeeperError,
  type FailureDomain,
  type HostedSegment,
  type ServerLiveness,
  type ZkSession,
} from '../../helix/index.js';
import { isRealtimeTable } from '../../pinot-format/index.js';
import { assess, type DeepStoreCopy, type DrainAssessment, type ExternalViewRead, type HostedCopy } from './assess.js';

/** What the check uses of the hosted-segment tracker (helix HostedSegments). */
export interface DrainHostedView {
  readonly synced: boolean;
  readonly server: ServerLiveness;
  all(): Iterable<HostedSegment>;
}

export interface DrainCheckDeps {
  session: ZkSession;
  hosted: DrainHostedView;
  cluster: string;
  instance: string;
  /** `--failure-domain-tag`: read domains from TAG_LIST entries with this prefix (readFailureDomain). */
  failureDomainTagPrefix?: string;
  /** ZooKeeper reads in flight at once (default 16). */
  readConcurrency?: number;
}

export interface DrainCheckOptions {
  /** Assess the loss of this failure domain instead of this server's own. */
  domain?: string;
}

/** The answer of `GET /drain/check`: the assessment, with whose domain it is and how much it read. */
export interface DrainReport extends DrainAssessment {
  instance: string;
  /** What was assessed: this server (in its own domain), or a whole domain named with `?domain=`. */
  scope: 'server' | 'domain';
  /** This server's failure domain; null when it cannot be read. */
  domain: FailureDomain | null;
  checkedAt: string;
  /** ZooKeeper reads this check made. */
  reads: { externalViews: number; instanceConfigs: number };
  /** Mixed domain sources and the like: the answer stands, but an operator should look. */
  warnings: string[];
}

/** Gather the inputs and assess. Never throws: a failure to read is a cannot_tell answer with its reason. */
export async function checkDrain(deps: DrainCheckDeps, options: DrainCheckOptions = {}): Promise<DrainReport> {
  const reads = { externalViews: 0, instanceConfigs: 0 };
  const base = {
    instance: deps.instance,
    scope: options.domain === undefined ? ('server' as const) : ('domain' as const),
    checkedAt: new Date().toISOString(),
    reads,
    warnings: [] as string[],
  };
  const blocked = (reasons: string[], domain: FailureDomain | null = null): DrainReport => ({
    ...base,
    domain,
    ...assess({
      instance: deps.instance,
      drainedDomain: options.domain ?? domain?.id ?? deps.instance,
      hosted: [],
      externalViews: new Map(),
      domains: new Map(),
      blockers: reasons,
    }),
  });
  const blockers = preconditions(deps);
  if (blockers.length > 0) return blocked(blockers);

  const hosted = [...deps.hosted.all()].map(hostedCopy);
  const paths = clusterPaths(deps.cluster);
  const limit = pLimit(deps.readConcurrency ?? 16);
  const needsView = new Set(
    hosted.filter((h) => h.state !== 'CONSUMING' && h.copy.kind === 'none').map((h) => h.table),
  );
  try {
    const externalViews = new Map<string, ExternalViewRead>();
    await Promise.all(
      [...needsView].map((table) =>
        limit(async () => {
          reads.externalViews += 1;
          externalViews.set(table, await readExternalView(deps.session, paths.externalView(table)));
        }),
      ),
    );
    const instances = new Set([deps.instance]);
    for (const h of hosted) {
      const view = externalViews.get(h.table);
      if (h.copy.kind !== 'none' || h.state === 'CONSUMING' || view?.kind !== 'read') continue;
      for (const [instance, state] of view.assignment.get(h.segment) ?? [])
        if (state === 'ONLINE') instances.add(instance);
    }
    const domains = new Map<string, FailureDomain | null>();
    await Promise.all(
      [...instances].map((instance) =>
        limit(async () => {
          reads.instanceConfigs += 1;
          domains.set(instance, await readDomain(deps, paths.instanceConfig(instance), instance));
        }),
      ),
    );
    const own = domains.get(deps.instance) ?? null;
    if (!own) return blocked([`the instance config of ${deps.instance} cannot be read: its failure domain is unknown`]);
    const report: DrainReport = {
      ...base,
      domain: own,
      ...assess({
        instance: deps.instance,
        drainedDomain: options.domain ?? own.id,
        hosted,
        externalViews,
        domains,
        blockers: [],
      }),
    };
    const sources = new Set([...domains.values()].flatMap((d) => (d && d.source !== 'instance' ? [d.source] : [])));
    if (sources.size > 1)
      report.warnings.push(
        `failure domains come from more than one source (${[...sources].sort().join(', ')}): ` +
          'servers of one zone may look apart; configure one source on every server',
      );
    return report;
  } catch (err) {
    return blocked([`ZooKeeper read failed: ${errorMessage(err)}`]);
  }
}

/** What makes any answer a guess: ZooKeeper away, the tracker behind, or the server's hosted segments unknown. */
function preconditions(deps: DrainCheckDeps): string[] {
  const blockers: string[] = [];
  if (deps.session.state !== 'connected') blockers.push(`ZooKeeper is not connected (${deps.session.state})`);
  if (!deps.hosted.synced) blockers.push('the hosted segments are not in sync with ZooKeeper yet');
  const server = deps.hosted.server;
  // A server that is not live reports no current states: what it holds on disk is not known from ZooKeeper.
  if (server.state !== 'live') blockers.push(`the server's hosted segments are unknown: ${server.reason}`);
  return blockers;
}

/** The tracker's cached metadata only: no per-segment read here (docs/architecture.md, the cost model). */
function hostedCopy(h: HostedSegment): HostedCopy {
  return { table: h.table, segment: h.segment, state: h.state, copy: deepStoreCopy(h) };
}

function deepStoreCopy(h: HostedSegment): DeepStoreCopy {
  if (!isRealtimeTable(h.table)) return { kind: 'offline_push' };
  if (h.zk === undefined) return { kind: 'unknown', detail: 'segment metadata not read yet' };
  if (h.zk === null)
    return h.metadataError
      ? { kind: 'unknown', detail: `segment metadata unreadable: ${h.metadataError}` }
      : { kind: 'none', detail: 'no segment metadata znode' };
  const url = h.zk.metadata.downloadUrl;
  if (url.kind === 'uri') return { kind: 'uri', uri: url.uri };
  return { kind: 'none', detail: url.kind === 'empty' ? 'download URL ""' : 'no download URL' };
}

/** A connection or session failure is the check's failure; a record that does not parse is this table's. */
async function readExternalView(session: ZkSession, path: string): Promise<ExternalViewRead> {
  try {
    const record = await readRecord(session, path);
    return record ? { kind: 'read', assignment: readSegmentAssignment(record.doc.record) } : { kind: 'missing' };
  } catch (err) {
    if (err instanceof ZooKeeperError && err.retriable) throw err;
    return { kind: 'unreadable', detail: `${path} unreadable: ${errorMessage(err)}` };
  }
}

async function readDomain(deps: DrainCheckDeps, path: string, instance: string): Promise<FailureDomain | null> {
  try {
    const record = await readRecord(deps.session, path);
    if (!record) return null;
    return readFailureDomain(record.doc.record, instance, {
      ...(deps.failureDomainTagPrefix === undefined ? {} : { tagPrefix: deps.failureDomainTagPrefix }),
    });
  } catch (err) {
    if (err instanceof ZooKeeperError && err.retriable) throw err;
    return null;
  }
}
