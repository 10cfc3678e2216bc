import path from 'node:path';
import type { Readable } from 'node:stream';
import { errorMessage } from '../../errors.js';
import { clusterPaths, type ClusterPaths, type SegmentMetadata, type ZkSession } from '../../helix/index.js';
import { InvalidNameError, parseTableName, validateSegmentName } from '../../segments/index.js';
import { readPeerCandidates, readSegmentZkMetadata } from './cluster-view.js';
import type { DeepStoreReader } from './deep-store-reader.js';
import { AllSourcesFailedError, CrcMismatchError, FetchError, SourceError, type SourceFailure } from './errors.js';
import type { ClientTls } from '../client-tls.js';
import { httpGetArchive } from './http-source.js';
import type { ProgressLine } from './progress.js';
import { receiveArchive } from './receive.js';
import { fetchRetryDelayMs, sleep, type RetryPolicy } from './retry.js';
import {
  deepStoreSource,
  planDownload,
  planPeerSources,
  type DownloadPlan,
  type PeerScheme,
  type Source,
} from './sources.js';
import { Staging } from './staging.js';
import { verifyExtractedSegment } from './verify.js';

export interface FetchRequest {
  /** tableNameWithType, e.g. myTable_REALTIME. */
  table: string;
  segment: string;
  outDir: string;
  /** Replace an existing `<outDir>/<segment>`. */
  force: boolean;
}

export interface FetchEnvironment {
  session: ZkSession;
  cluster: string;
  peer: { scheme: PeerScheme; sidecarPort: number; token?: string; tls?: ClientTls };
  deepStore: DeepStoreReader;
  retry: RetryPolicy;
  /** A source sending nothing for this long fails (default 60 s; Pinot's socket timeout is 600 s). */
  idleTimeoutMs?: number;
  /** Randomness of the shuffle and the backoff jitter (tests fix it). */
  random?: () => number;
  progress?: ProgressLine;
  /** Told of each failed source as it happens, and of each wait before the next attempt. */
  onFailure?: (failure: SourceFailure) => void;
  onRetry?: (nextAttempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

export interface FetchResult {
  table: string;
  segment: string;
  /** Where the verified segment now is: `<outDir>/<segment>`. */
  dir: string;
  source: Source;
  /** Archive bytes received from the winning source. */
  bytes: number;
  /** The creation.meta CRC, equal to ZooKeeper's segment.crc (or matched through the data CRC: `crcVia`). */
  crc: string;
  crcVia: 'crc' | 'dataCrc';
  attempts: number;
  /** Sources that failed before the winning one. */
  failures: SourceFailure[];
}

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * `pinot-sidecar fetch`: Pinot's segment download procedure (docs/pinot-interop.md, "Peer download";
 * Uber's peer download design) run by hand. Per attempt: the ZooKeeper download URI if there is one, then
 * the ONLINE peers of a fresh external view, shuffled, each through its sidecar and then its server's admin
 * endpoint; the first source whose archive extracts safely and whose creation.meta CRC matches ZooKeeper
 * wins. Between failed attempts, Pinot's backoff (retry.ts). Every source's failure is kept for the report.
 */
export async function fetchSegment(request: FetchRequest, env: FetchEnvironment): Promise<FetchResult> {
  const { table, segment } = checkNames(request.table, request.segment);
  const staging = await Staging.prepare(request.outDir, segment, { force: request.force });
  try {
    const paths = clusterPaths(env.cluster);
    const zk = await readMetadata(env, paths, table, segment);
    const plan = planDownload(table, segment, zk);
    const failures: SourceFailure[] = [];
    for (let attempt = 1; attempt <= env.retry.attempts; attempt++) {
      const run = new AttemptRun(attempt, { table, segment, zk, plan, paths, staging, env, failures });
      const won = await run.execute();
      if (won) return { table, segment, ...won, attempts: attempt, failures };
      if (attempt < env.retry.attempts) {
        const wait = fetchRetryDelayMs(attempt, env.retry, env.random);
        env.onRetry?.(attempt + 1, wait);
        await sleep(wait, env.signal);
      }
    }
    throw new AllSourcesFailedError(table, segment, env.retry.attempts, failures);
  } finally {
    await staging.discard();
  }
}

function checkNames(table: string, segment: string): { table: string; segment: string } {
  try {
    if (parseTableName(table).type === undefined) {
      throw new FetchError(
        `table ${JSON.stringify(table)} has no type: give the name with its type, e.g. ${table}_REALTIME or ${table}_OFFLINE`,
        { usage: true },
      );
    }
    return { table, segment: validateSegmentName(segment) };
  } catch (err) {
    if (err instanceof InvalidNameError) throw new FetchError(err.message, { usage: true, cause: err });
    throw err;
  }
}

async function readMetadata(
  env: FetchEnvironment,
  paths: ClusterPaths,
  table: string,
  segment: string,
): Promise<SegmentMetadata> {
  const zk = await readSegmentZkMetadata(env.session, paths, table, segment);
  if (zk !== null) return zk;
  if ((await env.session.exists(paths.root)) === null) {
    throw new FetchError(
      `Pinot cluster "${env.cluster}" does not exist in ZooKeeper ${env.session.connectString} (no ${paths.root}; check --cluster and the chroot in --zk)`,
      { usage: true },
    );
  }
  throw new FetchError(
    `no ZooKeeper metadata for segment ${segment} of table ${table} (${paths.segmentMetadata(table, segment)}): check the names`,
  );
}

interface AttemptContext {
  table: string;
  segment: string;
  zk: SegmentMetadata;
  plan: DownloadPlan;
  paths: ClusterPaths;
  staging: Staging;
  env: FetchEnvironment;
  failures: SourceFailure[];
}

type Win = Pick<FetchResult, 'dir' | 'source' | 'bytes' | 'crc' | 'crcVia'>;

interface OpenedSource {
  body: Readable;
  expectedBytes: number | null;
  /** The CRC the source announces before sending (the sidecar's X-Segment-Crc), if any. */
  announcedCrc: string | null;
}

/** One attempt: the deep store, then this attempt's peers, until one source wins. */
class AttemptRun {
  constructor(
    private readonly attempt: number,
    private readonly c: AttemptContext,
  ) {}

  async execute(): Promise<Win | undefined> {
    const { plan, env, table, segment } = this.c;
    if (plan.deepStoreUri !== null) {
      const won = await this.trySources([deepStoreSource(plan.deepStoreUri)]);
      if (won) return won;
    }
    let candidates;
    try {
      candidates = await readPeerCandidates(env.session, this.c.paths, table, segment);
    } catch (err) {
      this.fail('peers', `cannot read the external view: ${errorMessage(err)}`);
      return undefined;
    }
    const peers = planPeerSources(
      candidates,
      { table, segment, scheme: env.peer.scheme, sidecarPort: env.peer.sidecarPort },
      env.random,
    );
    for (const problem of peers.problems) this.fail(problem.source, problem.reason);
    return this.trySources(peers.sources);
  }

  private async trySources(sources: Source[]): Promise<Win | undefined> {
    for (const source of sources) {
      try {
        return await this.trySource(source);
      } catch (err) {
        if (this.c.env.signal?.aborted) throw this.c.env.signal.reason;
        if (err instanceof FetchError) throw err;
        this.fail(source.label, err instanceof SourceError ? err.reason : errorMessage(err));
      }
    }
    return undefined;
  }

  private async trySource(source: Source): Promise<Win> {
    const { env, zk, segment, staging } = this.c;
    const dir = await staging.freshDir();
    const opened = await this.open(source);
    // The sidecar names the CRC of what it is about to send: a replica that disagrees with ZooKeeper is skipped
    // before its bytes are (with the data-CRC alternative the header alone cannot decide).
    if (opened.announcedCrc !== null && !zk.useDataCrc && opened.announcedCrc !== zk.crc) {
      opened.body.destroy();
      throw new CrcMismatchError(opened.announcedCrc, zk.crc ?? '(none)', 'the X-Segment-Crc header');
    }
    // A short label: a progress line longer than the terminal wraps, and `\r` then redraws only its last row.
    env.progress?.start(
      source.kind === 'peer' ? `peer ${source.instance} ${source.endpoint}` : 'deep store',
      opened.expectedBytes,
    );
    let bytes: number;
    try {
      ({ bytes } = await receiveArchive(opened.body, {
        expectedBytes: opened.expectedBytes,
        dir,
        segment,
        ...(env.progress ? { onBytes: (n: number) => env.progress?.update(n) } : {}),
        ...(env.signal ? { signal: env.signal } : {}),
      }));
    } finally {
      env.progress?.clear();
    }
    const verdict = await verifyExtractedSegment(path.join(dir, segment), zk);
    return { dir: await staging.commit(dir), source, bytes, crc: verdict.crc, crcVia: verdict.via };
  }

  private async open(source: Source): Promise<OpenedSource> {
    const { env } = this.c;
    const idleTimeoutMs = env.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const signal = env.signal ? { signal: env.signal } : {};
    const tls = env.peer.tls ? { tls: env.peer.tls } : {};
    if (source.kind === 'peer') {
      // The token is for sidecars only; never hand it to a Pinot server or anyone else.
      const token = source.endpoint === 'sidecar' && env.peer.token !== undefined ? { token: env.peer.token } : {};
      const r = await httpGetArchive(source.url, { idleTimeoutMs, ...token, ...tls, ...signal });
      return { body: r.body, expectedBytes: r.contentLength, announcedCrc: r.segmentCrc };
    }
    switch (source.access) {
      case 'http': {
        const r = await httpGetArchive(source.uri, { idleTimeoutMs, ...tls, ...signal });
        return { body: r.body, expectedBytes: r.contentLength, announcedCrc: r.segmentCrc };
      }
      case 's3':
      case 'gcs':
      case 'adl2':
      case 'file': {
        const r = await env.deepStore.get(source.uri, env.signal);
        return { body: r.body, expectedBytes: r.bytes, announcedCrc: null };
      }
      default:
        throw new SourceError(
          'unsupported scheme: this tool reads s3://, s3a://, gs://, adl2://, file: and http(s):// download URIs',
        );
    }
  }

  private fail(source: string, reason: string): void {
    const failure: SourceFailure = { attempt: this.attempt, source, reason };
    this.c.failures.push(failure);
    this.c.env.onFailure?.(failure);
  }
}
