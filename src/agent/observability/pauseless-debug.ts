import type { Hono } from 'hono';
import {
  clusterPaths,
  jacksonPrettyJson,
  readCommittingSegments,
  readRecord,
  readSegmentMetadata,
  ZooKeeperError,
  type ClusterPaths,
  type HostedSegments,
  type SegmentStatus,
  type ZkSession,
} from '../../helix/index.js';
import { silentLogger, type Logger } from '../../log.js';
import { tableNameWithType } from '../../pinot-format/index.js';
import { parseTableName, validateSegmentName } from '../../segments/index.js';
import { BadRequestError, NotFoundError, UnavailableError } from '../http/errors.js';
import { SingleFlight, untilAborted } from '../http/single-flight.js';

/** How long one computation's ZooKeeper reads answer later requests for the same table. */
export const PAUSELESS_DEBUG_REUSE_MS = 5_000;
/** How long a computation may wait on ZooKeeper before the request is answered 503. */
export const PAUSELESS_DEBUG_TIMEOUT_MS = 10_000;
/** Segment reads in flight at once for one computation. */
export const PAUSELESS_DEBUG_READ_CONCURRENCY = 16;

export interface PauselessDebugDeps {
  hosted: HostedSegments;
  session: ZkSession;
  cluster: string;
  instance: string;
  logger?: Logger;
  /** Default PAUSELESS_DEBUG_REUSE_MS. */
  reuseMs?: number;
  /** Default PAUSELESS_DEBUG_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Default PAUSELESS_DEBUG_READ_CONCURRENCY. */
  readConcurrency?: number;
  now?: () => number;
}

/** What one computation learned from ZooKeeper for a table. */
interface ListedStatuses {
  /** The PAUSELESS_DEBUG_METADATA list as written, in its order. */
  listed: readonly string[];
  /** Status of each listed segment that was read (null: no znode, or unreadable). */
  read: ReadonlyMap<string, SegmentStatus | null>;
}

/** Statuses a segment never leaves (see `settled` below). */
const FINAL_STATUSES: ReadonlySet<SegmentStatus> = new Set(['DONE', 'UPLOADED']);

/**
 * `GET /tables/{table}/pauselessDebugInfo` in the controller's shape (PinotRealtimeTableResource
 * .getPauselessTableDebugInfo; docs/pinot-interop.md, "Pauseless"), from this server's point of view:
 *
 * - `committingSegments`: the table's PAUSELESS_DEBUG_METADATA list filtered to segments whose ZK
 *   status is COMMITTING, in list order, as the controller answers it
 *   (PinotLLCRealtimeSegmentManager.getCommittingSegments). Unlike `instanceToErrorSegmentsMap`
 *   it is table-wide, not limited to this server's replicas: a commit stuck because every replica's
 *   server is gone is exactly what an operator looks for, and no sidecar hosts it.
 * - `instanceToErrorSegmentsMap`: this server's replicas in ERROR, from the tracker (no external
 *   view read); every sidecar reports its own server, so the union is the controller's map.
 * - 404 for a table this server hosts no segment of, 400 for an OFFLINE table or a bad name, 503 +
 *   Retry-After when ZooKeeper is not connected or does not answer within the timeout.
 *
 * The controller reads one znode per listed segment per request; a stale list of 20,000 names made
 * that 100,005 reads for 5 requests. Here a segment is read only when nothing else can tell:
 * - hosted segments come from the tracker's watched cache (HostedSegments.get(...).zk): no read;
 * - a segment once seen DONE or UPLOADED is never read again: it cannot become COMMITTING, since
 *   PinotLLCRealtimeSegmentManager.updateSegmentZKMetadataToCommitting requires IN_PROGRESS, and IN_PROGRESS
 *   is written only when a new segment's metadata is created (createNewSegmentZKMetadata);
 * - a name that is not a valid segment name (nor a ZooKeeper path component) is not read, and a
 *   name listed twice is read once.
 * The remaining reads (and the list itself) are one computation per table shared by concurrent
 * requests (SingleFlight), reused for PAUSELESS_DEBUG_REUSE_MS, at most PAUSELESS_DEBUG_READ_CONCURRENCY
 * in flight, abandoned when every waiting client has disconnected (no read is sent after that),
 * and bounded by PAUSELESS_DEBUG_TIMEOUT_MS so a frozen ZooKeeper gives a 503, not a hung request.
 * The body is Jackson-pretty like the controller's; HashMap order puts committingSegments first.
 */
export function registerPauselessDebugInfo(app: Hono, deps: PauselessDebugDeps): PauselessDebugInfo {
  const debugInfo = new PauselessDebugInfo(deps);
  app.get('/tables/:table/pauselessDebugInfo', async (c) => {
    const body = await debugInfo.answer(c.req.param('table') ?? '', c.req.raw.signal);
    return c.body(jacksonPrettyJson(body), 200, { 'Content-Type': 'application/json' });
  });
  return debugInfo;
}

export class PauselessDebugInfo {
  private readonly paths: ClusterPaths;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly readConcurrency: number;
  private readonly flights: SingleFlight<string, ListedStatuses>;
  /** Per table: listed segments seen DONE or UPLOADED, kept to the current list. */
  private readonly settled = new Map<string, Set<string>>();

  constructor(private readonly deps: PauselessDebugDeps) {
    this.paths = clusterPaths(deps.cluster);
    this.log = (deps.logger ?? silentLogger).child({ component: 'pauseless-debug' });
    this.timeoutMs = deps.timeoutMs ?? PAUSELESS_DEBUG_TIMEOUT_MS;
    this.readConcurrency = deps.readConcurrency ?? PAUSELESS_DEBUG_READ_CONCURRENCY;
    this.flights = new SingleFlight((table, signal) => this.readWithDeadline(table, signal), {
      reuseMs: deps.reuseMs ?? PAUSELESS_DEBUG_REUSE_MS,
      now: deps.now,
    });
  }

  /** Computations waiting on ZooKeeper now. */
  get running(): number {
    return this.flights.running;
  }

  /** `tableParam` as Hono decoded it (once); `signal` aborts when the client disconnects. */
  async answer(
    tableParam: string,
    signal: AbortSignal,
  ): Promise<{ committingSegments: string[]; instanceToErrorSegmentsMap: Record<string, string[]> }> {
    // parseTableName refuses anything but [A-Za-z0-9_.-].
    const parsed = parseTableName(tableParam);
    if (parsed.type === 'OFFLINE')
      throw new BadRequestError(`pauselessDebugInfo is for REALTIME tables; ${parsed.nameWithType} is OFFLINE`);
    const table = tableNameWithType(parsed.raw, 'REALTIME');
    const { hosted, session } = this.deps;
    if (hosted.segments(table).size === 0)
      throw new NotFoundError(`this server (${this.deps.instance}) hosts no segment of ${table}`);
    if (session.state !== 'connected')
      throw new UnavailableError(`ZooKeeper is ${session.state}; pauselessDebugInfo needs it`);
    const { listed, read } = await this.flights.get(table, signal);
    // The tracker's view as it is now, after the wait: hosted statuses and ERROR replicas are never stale.
    const committing = listed.filter((segment) => {
      const cached = this.cachedStatus(table, segment);
      return (cached === undefined ? read.get(segment) : cached) === 'COMMITTING';
    });
    const errors = [...hosted.segments(table).values()]
      .filter((s) => s.state === 'ERROR')
      .map((s) => s.segment)
      .sort();
    return {
      committingSegments: committing,
      instanceToErrorSegmentsMap: errors.length > 0 ? { [this.deps.instance]: errors } : {},
    };
  }

  /**
   * The tracker's status of a hosted segment: null when its znode is missing or unreadable, undefined when not hosted
   * or not read yet.
   */
  private cachedStatus(table: string, segment: string): SegmentStatus | null | undefined {
    const zk = this.deps.hosted.get(table, segment)?.zk;
    return zk === undefined ? undefined : (zk?.metadata.status ?? null);
  }

  private async readWithDeadline(table: string, leave: AbortSignal): Promise<ListedStatuses> {
    const controller = new AbortController();
    const timer = setTimeout(
      () =>
        controller.abort(
          new UnavailableError(
            `ZooKeeper did not answer within ${this.timeoutMs} ms; pauselessDebugInfo for ${table} gave up`,
          ),
        ),
      this.timeoutMs,
    );
    const onLeave = () => controller.abort(leave.reason);
    leave.addEventListener('abort', onLeave, { once: true });
    try {
      return await untilAborted(this.readListed(table, controller.signal), controller.signal);
    } finally {
      clearTimeout(timer);
      leave.removeEventListener('abort', onLeave);
    }
  }

  private async readListed(table: string, signal: AbortSignal): Promise<ListedStatuses> {
    const debug = await readRecord(this.deps.session, this.paths.pauselessDebugMetadata(table));
    const listed = readCommittingSegments(debug?.doc.record ?? null);
    const settled = this.settledOf(table, listed);
    const toRead = new Set<string>();
    for (const segment of listed) {
      const cached = this.cachedStatus(table, segment);
      if (cached !== undefined) {
        if (cached !== null && FINAL_STATUSES.has(cached)) settled.add(segment);
      } else if (!settled.has(segment) && isSegmentName(segment)) {
        toRead.add(segment);
      }
    }
    const read = new Map<string, SegmentStatus | null>();
    await forEachBounded([...toRead], this.readConcurrency, signal, async (segment) => {
      const status = await this.statusInZk(table, segment);
      read.set(segment, status);
      if (status !== null && FINAL_STATUSES.has(status)) settled.add(segment);
    });
    return { listed, read };
  }

  /** The table's settled set, kept to the names still listed; tables no longer hosted are forgotten. */
  private settledOf(table: string, listed: readonly string[]): Set<string> {
    for (const known of this.settled.keys())
      if (this.deps.hosted.segments(known).size === 0) this.settled.delete(known);
    const previous = this.settled.get(table) ?? new Set<string>();
    const current = new Set(listed.filter((s) => previous.has(s)));
    this.settled.set(table, current);
    return current;
  }

  private async statusInZk(table: string, segment: string): Promise<SegmentStatus | null> {
    const path = this.paths.segmentMetadata(table, segment);
    try {
      const record = await readRecord(this.deps.session, path);
      return record ? readSegmentMetadata(record.doc.record).status : null;
    } catch (err) {
      // ZooKeeper away or slow: the whole answer is a 503. One unreadable record only drops itself.
      if (err instanceof ZooKeeperError) throw err;
      this.log.warn({ err, path, table, segment }, 'unreadable segment metadata: left out of committingSegments');
      return null;
    }
  }
}

function isSegmentName(name: string): boolean {
  try {
    validateSegmentName(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * `fn` over `items`, at most `limit` at once, in order. Nothing new starts once `signal` aborts or
 * one call fails; calls already started run to their end.
 */
async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      signal.throwIfAborted();
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
