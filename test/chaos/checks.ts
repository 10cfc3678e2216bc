import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { readArchiveCrc } from '../../src/deepstore/archive-crc.js';
import { CRC_METADATA_KEY, parseStoreUri, segmentUri } from '../../src/deepstore/index.js';
import { isZkCode } from '../../src/helix/errors.js';
import { rawTableName } from '../../src/pinot-format/index.js';
import { assertRepairInvariants, objectOpener, type RecordSnapshot } from '../helpers/repair-invariants.js';
import type { Driver } from './driver.js';
import { judgeHistory, type HistoryViolationKind } from './history.js';
import { lastWrite, mustBeRepaired, type SegmentEntry } from './ledger.js';
import type { ChaosPlan } from './options.js';
import type { SidecarFleet, SidecarProcess } from './sidecars.js';
import { concurrentUploads, uploadWindows } from './upload-windows.js';
import { waitUntil, WaitTimeoutError } from './wait.js';
import { CLUSTER, DEEP_STORE_URI, type ChaosWorld } from './world.js';

/**
 * The end of a run: after the faults stopped and the sidecars settled, what must hold.
 *
 * - every segment that must be repaired has a URL, and the object there verifies: the canonical key, and the
 *   CRC in its HEAD metadata (when it has one) and in its archive's creation.meta equal ZK segment.crc;
 * - no URL was overwritten, and COMMITTING, CRC-mismatched, near-retention and URL-less records were never
 *   written (history.ts, from znode versions);
 * - nothing but the URL changed in any record, and no deleted znode exists again (test/helpers/repair-invariants.ts);
 * - no key was uploaded by two processes at once (upload-windows.ts);
 * - no sidecar crashed, no upload lock is left, each sidecar's fd count and RSS are back near its baseline.
 */

export type ViolationKind =
  | HistoryViolationKind
  | 'unrepaired'
  | 'bad_object'
  | 'record_changed'
  | 'deleted_recreated'
  | 'concurrent_upload'
  | 'fd_growth'
  | 'rss_growth'
  | 'sidecar_crash'
  | 'sidecar_shutdown'
  | 'lock_left'
  | 'harness';

export interface Violation {
  kind: ViolationKind;
  subject: string;
  detail: string;
}

/** "Near baseline", explicitly: fds ≤ baseline + 16; RSS ≤ baseline × 1.5 + 32 MiB. */
export const RESOURCE_LIMITS = { extraFds: 16, rssFactor: 1.5, extraRssKiB: 32 * 1024 } as const;

export interface SegmentOutcome {
  entry: SegmentEntry;
  repairedBySidecar: boolean;
  /** From the znode mtime when the sidecar's write is the last one; else from the sidecars' logs. */
  repairedAt: number | null;
  foreignWrites: number;
}

export interface CheckResult {
  violations: Violation[];
  outcomes: SegmentOutcome[];
  uncertain: number;
  uploadWindows: number;
  resources: Array<{
    label: string;
    baseline: { fds: number; rssKiB: number };
    end: { fds: number; rssKiB: number } | null;
    peak: { fds: number; rssKiB: number };
  }>;
}

export interface CheckContext {
  world: ChaosWorld;
  driver: Driver;
  fleet: SidecarFleet;
  plan: ChaosPlan;
}

export async function finalChecks(ctx: CheckContext): Promise<CheckResult> {
  const violations: Violation[] = [
    ...ctx.driver.liveViolations.map((v) => ({
      kind: v.kind as ViolationKind,
      subject: `${v.table}/${v.segment}`,
      detail: v.detail,
    })),
  ];
  const outcomes = await checkSegments(ctx, violations);
  const windows = uploadWindows(ctx.world.proxy.log);
  for (const [a, b] of concurrentUploads(windows)) {
    violations.push({
      kind: 'concurrent_upload',
      subject: a.key,
      detail: `${a.kind} by ${a.client} [${fmtT(a.start)}, ${fmtT(a.end)}] overlaps ${b.kind} by ${b.client} [${fmtT(b.start)}, ${fmtT(b.end)}]`,
    });
  }
  for (const proc of ctx.fleet.all) {
    if (!proc.alive && !proc.expectedExit)
      violations.push({
        kind: 'sidecar_crash',
        subject: proc.label,
        detail: `exited on its own: code ${proc.exitCode}, signal ${proc.exitSignal}; log ${proc.logFile}`,
      });
  }
  await checkLocks(ctx, violations);
  const resources = await checkResources(ctx, violations);
  return {
    violations,
    outcomes,
    uncertain: ctx.driver.ledger.all().filter((e) => e.uncertain).length,
    uploadWindows: windows.length,
    resources,
  };
}

async function checkSegments(ctx: CheckContext, violations: Violation[]): Promise<SegmentOutcome[]> {
  const { world, driver, fleet } = ctx;
  const openObject = objectOpener(world.s3.client);
  const firstSuccess = firstUploadSuccess(fleet.all);
  const outcomes: SegmentOutcome[] = [];
  for (const entry of driver.ledger.all()) {
    const subject = `${entry.table}/${entry.segment}`;
    const path = world.seeder.paths.segmentMetadata(entry.table, entry.segment);
    const add = (kind: ViolationKind, detail: string): void => {
      violations.push({ kind, subject, detail });
    };
    if (entry.deletedAt === null) entry.inspection = await driver.inspect(entry);
    const inspection = entry.inspection;
    const outcome: SegmentOutcome = { entry, repairedBySidecar: false, repairedAt: null, foreignWrites: 0 };
    if (inspection && entry.writes.length > 0 && entry.uncertain === null) {
      const verdict = judgeHistory(entry, inspection);
      for (const v of verdict.violations) add(v.kind, v.detail);
      outcome.repairedBySidecar = verdict.repairedBySidecar;
      outcome.foreignWrites = verdict.foreignWrites;
      const logged = firstSuccess.get(subject);
      outcome.repairedAt = verdict.repairedAt ?? (verdict.repairedBySidecar ? (logged ?? null) : null);
    }
    outcomes.push(outcome);

    // The shared invariants: a deleted znode stays deleted; nothing but the URL changes; a new URL verifies.
    const before: RecordSnapshot =
      entry.deletedAt !== null || entry.writes.length === 0
        ? { path, exists: false, simpleFields: {}, mapFields: {}, listFields: {} }
        : snapshotOf(path, lastWrite(entry).record);
    if (entry.deletedAt !== null || entry.uncertain === null) {
      try {
        await assertRepairInvariants({ session: world.session, before: [before], openObject });
      } catch (err) {
        const message = firstLine(err);
        // repair-invariants.ts names what failed: a recreated znode, a changed field, or the object behind a new URL.
        const kind: ViolationKind =
          entry.deletedAt !== null
            ? 'deleted_recreated'
            : /points at no object|holds another segment CRC/.test(message)
              ? 'bad_object'
              : 'record_changed';
        add(kind, message);
      }
    }
    if (entry.deletedAt !== null || !inspection?.exists) continue;

    const url = inspection.url;
    if (mustBeRepaired(entry) && entry.uncertain === null && (url === undefined || url === '')) {
      add(
        'unrepaired',
        `still ${url === undefined ? 'without the URL key' : 'URL ""'} after settling (kind ${entry.kind}, replicas ${entry.replicas.join(',')}, matching ${entry.matching.join(',')})`,
      );
    }
    if (url !== undefined && url !== '') {
      // A URL someone else set was checked down to the archive above (repair-invariants); one the driver wrote
      // itself was not: read its archive here.
      const readArchive = entry.uncertain !== null || url === before.simpleFields['segment.download.url'];
      const problem = await verifyObject(
        world,
        entry,
        url,
        inspection.record?.simpleFields['segment.crc'] ?? null,
        readArchive,
      );
      if (problem) add('bad_object', problem);
    }
  }
  return outcomes;
}

function snapshotOf(
  path: string,
  record: {
    simpleFields: Record<string, string>;
    mapFields: Record<string, Record<string, string>>;
    listFields: Record<string, string[]>;
  },
): RecordSnapshot {
  return {
    path,
    exists: true,
    simpleFields: { ...record.simpleFields },
    mapFields: structuredClone(record.mapFields),
    listFields: structuredClone(record.listFields),
  };
}

/**
 * The canonical key; HEAD metadata CRC (if any) and, when asked, the archive's creation.meta CRC equal to ZK's. Null
 * when fine.
 */
async function verifyObject(
  world: ChaosWorld,
  entry: SegmentEntry,
  url: string,
  zkCrc: string | null,
  readArchive: boolean,
): Promise<string | null> {
  const canonical = segmentUri(DEEP_STORE_URI, rawTableName(entry.table), entry.segment);
  if (url !== canonical) return `URL ${url} is not the canonical key ${canonical}`;
  const location = parseStoreUri(url);
  if (location.kind !== 's3') return `URL ${url} is not an s3:// URL`;
  let metaCrc: string | undefined;
  try {
    const head = await world.s3.client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }));
    metaCrc = head.Metadata?.[CRC_METADATA_KEY];
  } catch (err) {
    return `HEAD ${url}: ${(err as Error).name} (no object behind the URL)`;
  }
  if (metaCrc !== undefined && metaCrc !== zkCrc)
    return `HEAD ${url}: stored CRC metadata ${metaCrc}, ZK segment.crc ${zkCrc}`;
  if (!readArchive) return null;
  const got = await world.s3.client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
  const archiveCrc = await readArchiveCrc(got.Body as Readable);
  if (archiveCrc !== zkCrc) return `archive at ${url}: creation.meta CRC ${archiveCrc}, ZK segment.crc ${zkCrc}`;
  return null;
}

/** Earliest upload_success log line per table/segment, over every process that ever ran. */
function firstUploadSuccess(processes: readonly SidecarProcess[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const proc of processes) {
    for (const event of proc.events) {
      if (event.event !== 'upload_success' || !event.table || !event.segment) continue;
      const k = `${event.table}/${event.segment}`;
      out.set(k, Math.min(out.get(k) ?? Infinity, event.time));
    }
  }
  return out;
}

/** Upload locks are ephemeral and released after each attempt: once settled, none may be left (bounded wait). */
async function checkLocks(ctx: CheckContext, violations: Violation[]): Promise<void> {
  const root = `/pinot-sidecar/${CLUSTER}/locks`;
  const list = async (): Promise<string[]> => {
    const held: string[] = [];
    const tables = await ctx.world.session.getChildren(root).then(
      (r) => r.children,
      (err: unknown) => (isZkCode(err, 'NO_NODE') ? [] : Promise.reject(err)),
    );
    for (const table of tables) {
      const segments = await ctx.world.session.getChildren(`${root}/${table}`).then(
        (r) => r.children,
        (err: unknown) => (isZkCode(err, 'NO_NODE') ? [] : Promise.reject(err)),
      );
      held.push(...segments.map((s) => `${table}/${s}`));
    }
    return held;
  };
  let held: string[] = [];
  try {
    // A lock of a killed sidecar lives until its session times out.
    await waitUntil('upload locks released', async () => (held = await list()).length === 0, {
      timeoutMs: ctx.plan.sessionTimeoutMs + 10_000,
      intervalMs: 500,
    });
  } catch (err) {
    if (!(err instanceof WaitTimeoutError)) throw err;
    for (const lock of held)
      violations.push({
        kind: 'lock_left',
        subject: lock,
        detail: `upload lock ${root}/${lock} still held after settling`,
      });
  }
}

/** fd count and RSS of each current process back near its baseline (bounded wait: a GC may be due). */
async function checkResources(ctx: CheckContext, violations: Violation[]): Promise<CheckResult['resources']> {
  const out: CheckResult['resources'] = [];
  for (const proc of ctx.fleet.current.values()) {
    const baseline = proc.baseline;
    if (!baseline || !proc.alive) continue;
    const limitFds = baseline.fds + RESOURCE_LIMITS.extraFds;
    const limitRss = Math.round(baseline.rssKiB * RESOURCE_LIMITS.rssFactor + RESOURCE_LIMITS.extraRssKiB);
    let end: { fds: number; rssKiB: number } | null = null;
    try {
      await waitUntil(
        `${proc.label} resources near baseline`,
        async () => {
          await ctx.fleet.sample();
          end = proc.samples[proc.samples.length - 1] ?? null;
          return end !== null && end.fds <= limitFds && end.rssKiB <= limitRss;
        },
        { timeoutMs: 20_000, intervalMs: 1_000 },
      );
    } catch (err) {
      if (!(err instanceof WaitTimeoutError)) throw err;
    }
    const last = end as { fds: number; rssKiB: number } | null;
    if (last && last.fds > limitFds)
      violations.push({
        kind: 'fd_growth',
        subject: proc.label,
        detail: `${last.fds} fds, baseline ${baseline.fds} (limit ${limitFds})`,
      });
    if (last && last.rssKiB > limitRss)
      violations.push({
        kind: 'rss_growth',
        subject: proc.label,
        detail: `RSS ${mib(last.rssKiB)}, baseline ${mib(baseline.rssKiB)} (limit ${mib(limitRss)})`,
      });
    const peak = proc.samples.reduce(
      (p, s) => ({ fds: Math.max(p.fds, s.fds), rssKiB: Math.max(p.rssKiB, s.rssKiB) }),
      { ...baseline },
    );
    out.push({ label: proc.label, baseline, end: last, peak });
  }
  return out;
}

export function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

function fmtT(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
