import { pipeline, Transform } from 'node:stream';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Hono } from 'hono';
import type { Logger } from '../../log.js';
import {
  decodePathParam,
  parseTableName,
  planSegmentArchive,
  SegmentChangedError,
  streamSegmentArchive,
  type CompressionPool,
  type SegmentArchivePlan,
  type SegmentStore,
  validateSegmentName,
} from '../../segments/index.js';
import type { DownloadResult, Metrics } from '../metrics.js';
import type { DownloadSlots } from './download-slots.js';
import { BadRequestError, NotFoundError, toHttpError, UnavailableError } from './errors.js';
import { PlansFirst } from './plans-first.js';
import { DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS, watchForStalledReader } from './stalled-reader.js';

export interface SegmentDownloadDeps {
  store: SegmentStore;
  slots: DownloadSlots;
  metrics: Metrics;
  logger: Logger;
  gzipLevel: number;
  /** Threads that compress the archive (default: the process-wide pool). */
  compressionPool?: CompressionPool;
  /** A download whose reader takes no bytes for this long is ended (default DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS). */
  downloadIdleTimeoutMs?: number;
  /** False once shutdown starts: new downloads are refused, in-flight ones drain. */
  accepting: () => boolean;
  /**
   * Why this server's replica must not be served (it is in ERROR or OFFLINE), or undefined to serve it. Asked after
   * the segment is found on disk, before its tree is walked. Absent: every sealed local copy is served.
   */
  refuseReplica?: (tableNameWithType: string, segment: string) => string | undefined;
  /** Where downloads' plans come before running streams' reads; default one per registerSegmentDownloads call. */
  plansFirst?: PlansFirst;
}

/**
 * The two download paths (README.md, "HTTP API (one port)"): ours, `/tables/{table}/segments/{segment}`
 * with a raw or typed table, and Pinot's own, `/segments/{tableNameWithType}/{segment}`, which is what
 * PeerServerSegmentFinder builds, so a peer pointed at the sidecar's port needs nothing else.
 */
const ROUTES = [
  { pattern: '/tables/:table/segments/:segment', shape: ['tables', 'table', 'segments', 'segment'] },
  { pattern: '/segments/:table/:segment', shape: ['segments', 'table', 'segment'] },
] as const;

/** True for a path one of the download routes answers (what the download counter counts). */
export function isDownloadPath(path: string): boolean {
  const parts = path.split('/').slice(1);
  return ROUTES.some(
    ({ shape }) =>
      parts.length === shape.length &&
      shape.every((name, i) => (name === 'table' || name === 'segment' ? parts[i] !== '' : parts[i] === name)),
  );
}

export function registerSegmentDownloads(app: Hono, deps: SegmentDownloadDeps): void {
  // One per app: the downloads of this server wait for the plans of this server's new downloads.
  const routeDeps: RouteDeps = { ...deps, plansFirst: deps.plansFirst ?? new PlansFirst() };
  for (const route of ROUTES) {
    app.get(route.pattern, async (c) => {
      // Hono serves HEAD by running the GET handler and dropping the body: answer HEAD here, before a stream
      // (and a file descriptor) exists only to be discarded.
      if (c.req.raw.method === 'HEAD') return head(c, route.shape, routeDeps);
      return download(c, route.shape, routeDeps);
    });
  }
}

interface RouteDeps extends SegmentDownloadDeps {
  plansFirst: PlansFirst;
}

/**
 * HEAD plans the segment (resolves it, walks its tree) to answer with the archive's headers: disk work, so it is
 * admitted like a download, but only to a free slot, held just while planning; with none free it is refused
 * at once (503 + Retry-After) rather than queued behind multi-GB transfers.
 */
async function head(c: Context, shape: readonly string[], deps: SegmentDownloadDeps): Promise<Response> {
  if (!deps.accepting()) throw new UnavailableError('shutting down: not accepting new downloads');
  const names = namesFromRequest(c, shape);
  const release = deps.slots.acquireNow();
  try {
    return c.body(null, 200, archiveHeaders(await planSegment(names, deps)));
  } finally {
    release();
  }
}

/**
 * Admission comes before any disk work: the names are checked (pure), then a slot or a queue place
 * is taken, and only then is the segment resolved and its tree walked. A request refused with 503
 * costs no file-system call, so a flood of them cannot grow memory with tree walks (2,000 refused
 * requests took RSS from 103 to 202 MiB when planning came first); a queued one plans once its slot
 * is free, against the segment as it is then.
 */
async function download(c: Context, shape: readonly string[], deps: RouteDeps): Promise<Response> {
  const started = performance.now();
  const { metrics } = deps;
  const signal = c.req.raw.signal;
  let plan: SegmentArchivePlan;
  let release: (() => void) | undefined;
  try {
    if (!deps.accepting()) throw new UnavailableError('shutting down: not accepting new downloads');
    const names = namesFromRequest(c, shape);
    release = await deps.slots.acquire(signal);
    // Ahead of the running streams' reads: this download's first byte waits for its plan (PlansFirst).
    const endPlan = deps.plansFirst.startPlan();
    try {
      plan = await planSegment(names, deps);
    } finally {
      endPlan();
    }
    // Counted as aborted below; the error only ends the handler (nobody reads the answer).
    if (signal.aborted) throw new UnavailableError('the client left before the download started');
  } catch (err) {
    release?.();
    metrics.downloads.labels(signal.aborted ? 'aborted' : resultOf(err)).inc();
    throw err;
  }
  const releaseSlot = release;
  const log = deps.logger.child({ table: plan.segment.tableNameWithType, segment: plan.segment.segmentName });
  metrics.downloadsInFlight.inc();
  let bytes = 0;
  let archiveError: unknown;
  const archive = streamSegmentArchive(plan, {
    gzipLevel: deps.gzipLevel,
    compressionPool: deps.compressionPool,
    beforeRead: deps.plansFirst.streamGate(),
  });
  archive.once('error', (err) => {
    archiveError = err;
  });
  // Written straight to Node's response: no web-stream conversion per chunk, and the one pipeline
  // owns every failure. A client that goes away destroys the archive stream (and its file
  // descriptor); an archive that fails destroys the socket, so the client sees a broken transfer —
  // the chunked encoding never gets its final chunk — never a clean end of a truncated archive.
  const outgoing = (c.env as HttpBindings).outgoing;
  const idleMs = deps.downloadIdleTimeoutMs ?? DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS;
  const stall = watchForStalledReader(outgoing, idleMs, () => {
    log.warn({ bytes, idleMs }, 'reader stopped reading: ending the download');
    outgoing.destroy(new Error(`download idle for ${idleMs} ms`));
  });
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      stall.progress();
      done(null, chunk);
    },
  });
  outgoing.writeHead(200, archiveHeaders(plan));
  pipeline(archive, counted, outgoing, (err) => {
    stall.stop();
    releaseSlot();
    const outcome: DownloadResult =
      err === undefined ? 'success' : archiveError !== undefined && !isAbort(archiveError) ? 'error' : 'aborted';
    metrics.downloadsInFlight.dec();
    metrics.downloads.labels(outcome).inc();
    metrics.downloadBytes.inc(bytes);
    metrics.downloadDuration.observe((performance.now() - started) / 1000);
    if (outcome === 'error') log.warn({ err: archiveError, bytes }, 'segment download failed mid-stream');
    else log.info({ bytes, outcome, ms: Math.round(performance.now() - started) }, 'segment download');
  });
  return RESPONSE_ALREADY_SENT;
}

function isAbort(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE')
  );
}

interface SegmentNames {
  table: string;
  segment: string;
}

/** The decoded, syntactically valid names of the request: no I/O, so it may run before admission. */
function namesFromRequest(c: Context, shape: readonly string[]): SegmentNames {
  const { table, segment } = rawParams(c, shape);
  const names = { table: decodePathParam(table, 'table'), segment: decodePathParam(segment, 'segment') };
  parseTableName(names.table);
  validateSegmentName(names.segment);
  return names;
}

/** The disk work: resolve the sealed segment and walk its tree. */
async function planSegment(names: SegmentNames, deps: SegmentDownloadDeps): Promise<SegmentArchivePlan> {
  const resolved = await deps.store.resolve(names.table, names.segment);
  const refused = deps.refuseReplica?.(resolved.tableNameWithType, resolved.segmentName);
  if (refused !== undefined)
    throw new NotFoundError(`${resolved.tableNameWithType}/${resolved.segmentName} is not served: ${refused}`);
  return planSegmentArchive(resolved, { justResolved: true });
}

/**
 * Path parameters taken from the request target exactly as sent, so that they are decoded exactly
 * once (Hono would decode them itself), and a target the URL parser had to normalise (dot segments,
 * `%2e%2e`, backslashes) is refused instead of being served under another path.
 */
function rawParams(c: Context, shape: readonly string[]): { table: string; segment: string } {
  const target: string = (c.env as { incoming?: { url?: string } } | undefined)?.incoming?.url ?? c.req.path;
  const raw = target.split(/[?#]/, 1)[0]!;
  const parts = raw.split('/').slice(1);
  const canonical = raw === new URL(c.req.url).pathname && parts.length === shape.length;
  if (!canonical || shape.some((name, i) => name !== 'table' && name !== 'segment' && parts[i] !== name)) {
    throw new BadRequestError(`request path is not in canonical form: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  return { table: parts[shape.indexOf('table')]!, segment: parts[shape.indexOf('segment')]! };
}

function archiveHeaders(plan: SegmentArchivePlan): Record<string, string> {
  return {
    'Content-Type': 'application/gzip',
    'Content-Disposition': `attachment; filename="${plan.segment.segmentName}.tar.gz"`,
    'X-Segment-Crc': plan.segment.creationMeta.crcString,
    'X-Segment-Table': plan.segment.tableNameWithType,
    'Cache-Control': 'no-store',
  };
}

function resultOf(err: unknown): DownloadResult {
  if (err instanceof SegmentChangedError) return 'error';
  const status = toHttpError(err).status;
  if (status === 400) return 'bad_request';
  if (status === 404) return 'not_found';
  if (status === 401) return 'unauthorized';
  if (status === 503) return 'busy';
  return 'error';
}
