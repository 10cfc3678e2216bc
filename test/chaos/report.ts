import type { RepairStatus } from '../../src/agent/repair/repair-state.js';
import { mib, type CheckResult, type Violation } from './checks.js';
import type { DriverStats } from './driver.js';
import type { FaultEvent, FaultKind } from './faults.js';
import { SEGMENT_KINDS, wasRepairable, type SegmentKind } from './ledger.js';
import type { SidecarProcess } from './sidecars.js';

/** What a chaos run prints and writes (`--report FILE`): numbers first, then every violation. */
export interface ChaosReport {
  seed: number;
  startedAt: string;
  durationMs: number;
  settleMs: number;
  settled: boolean;
  segments: {
    committed: Record<SegmentKind, number>;
    committedTotal: number;
    committingCompleted: number;
    /**
     * Segments that were at some point DONE "" with a replica to upload from (must be repaired unless deleted first).
     */
    repairable: number;
    repairedBySidecars: number;
    /** The driver's own controller-style fixes (blind writes), and how many raced a sidecar's write. */
    fixedByController: number;
    controllerFixesRacing: number;
    controllerTooLate: number;
    /** Segments a sidecar reported fixed_by_other (its write lost to the controller's, or it saw the URL first). */
    seenFixedByOther: number;
    deleted: number;
    deletedBeforeRepair: number;
    liveAtEnd: number;
  };
  /** From every process's log: repair outcomes and failure reasons. */
  uploads: Record<string, Record<string, number>>;
  failuresByReason: Record<string, number>;
  /** The first error message logged for each failure reason. */
  failureExamples: Record<string, string>;
  /** Final /repair/status of the sidecars: skipped entries by reason (replica entries, distinct segments). */
  skippedByReason: Record<string, { replicas: number; segments: number }>;
  faults: Record<FaultKind, number>;
  faultTimeline: FaultEvent[];
  kills: Array<{ label: string; op: string; key: string; variant: string; at: number }>;
  repairTimeMs: { n: number; p50: number | null; p99: number | null; max: number | null };
  resources: CheckResult['resources'];
  uploadWindows: number;
  proxyRequests: number;
  uncertainSegments: number;
  driverErrors: string[];
  violations: Violation[];
}

export interface ReportInput {
  seed: number;
  startedAt: number;
  durationMs: number;
  settleMs: number;
  settled: boolean;
  stats: DriverStats;
  checks: CheckResult;
  statuses: RepairStatus[];
  processes: readonly SidecarProcess[];
  faults: Record<FaultKind, number>;
  timeline: FaultEvent[];
  kills: ChaosReport['kills'];
  proxyRequests: number;
  violations: Violation[];
}

export function buildReport(input: ReportInput): ChaosReport {
  const { checks, stats } = input;
  const outcomes = checks.outcomes;
  const times = outcomes
    .filter((o) => o.repairedBySidecar && o.repairedAt !== null && o.entry.eligibleSince !== null)
    .map((o) => Math.max(0, o.repairedAt! - o.entry.eligibleSince!))
    .sort((a, b) => a - b);
  const uploads: Record<string, Record<string, number>> = {};
  const failuresByReason: Record<string, number> = {};
  const failureExamples: Record<string, string> = {};
  const fixedByOther = new Set<string>();
  for (const proc of input.processes) {
    const counts: Record<string, number> = {};
    for (const event of proc.events) {
      if (event.event === 'upload_success') bump(counts, String(event.result));
      else if (event.event === 'fixed_by_other') {
        bump(counts, 'fixed_by_other');
        fixedByOther.add(`${event.table}/${event.segment}`);
      } else if (event.event === 'gone') bump(counts, 'gone');
      else if (event.event === 'upload_failure') {
        bump(counts, 'failure');
        bump(failuresByReason, String(event.reason));
        failureExamples[String(event.reason)] ??= String(event.err ?? event.msg);
      }
    }
    uploads[proc.label] = counts;
  }
  const skipped: Record<string, { replicas: number; segments: Set<string> }> = {};
  for (const status of input.statuses) {
    for (const s of status.segments) {
      if (s.state !== 'skipped') continue;
      const slot = (skipped[s.reason ?? 'unknown'] ??= { replicas: 0, segments: new Set() });
      slot.replicas += 1;
      slot.segments.add(`${s.table}/${s.segment}`);
    }
  }
  const entries = outcomes.map((o) => o.entry);
  return {
    seed: input.seed,
    startedAt: new Date(input.startedAt).toISOString(),
    durationMs: input.durationMs,
    settleMs: input.settleMs,
    settled: input.settled,
    segments: {
      committed: stats.committed,
      committedTotal: Object.values(stats.committed).reduce((a, b) => a + b, 0),
      committingCompleted: stats.committingCompleted,
      repairable: entries.filter(wasRepairable).length,
      repairedBySidecars: outcomes.filter((o) => o.repairedBySidecar).length,
      fixedByController: stats.controllerFixes,
      controllerFixesRacing: stats.controllerFixesRacing,
      controllerTooLate: stats.controllerTooLate,
      seenFixedByOther: fixedByOther.size,
      deleted: stats.deleted,
      deletedBeforeRepair: stats.deletedBeforeRepair,
      liveAtEnd: entries.filter((e) => e.deletedAt === null).length,
    },
    uploads,
    failuresByReason,
    failureExamples,
    skippedByReason: Object.fromEntries(
      Object.entries(skipped)
        .sort()
        .map(([reason, v]) => [reason, { replicas: v.replicas, segments: v.segments.size }]),
    ),
    faults: input.faults,
    faultTimeline: input.timeline,
    kills: input.kills,
    repairTimeMs: {
      n: times.length,
      p50: quantile(times, 0.5),
      p99: quantile(times, 0.99),
      max: times.length ? times[times.length - 1]! : null,
    },
    resources: checks.resources,
    uploadWindows: checks.uploadWindows,
    proxyRequests: input.proxyRequests,
    uncertainSegments: checks.uncertain,
    driverErrors: stats.errors,
    violations: input.violations,
  };
}

export function formatReport(r: ChaosReport): string {
  const s = r.segments;
  const lines: string[] = [];
  lines.push(
    `pinot-sidecar chaos soak: seed ${r.seed}, ${fmtDuration(r.durationMs)} of commits and faults, settled in ${fmtDuration(r.settleMs)}${r.settled ? '' : ' (NOT settled: timed out)'}`,
  );
  lines.push('');
  lines.push(
    `segments committed   ${s.committedTotal}  (${SEGMENT_KINDS.map((k) => `${k} ${s.committed[k]}`).join(', ')}; COMMITTING later committed: ${s.committingCompleted})`,
  );
  lines.push(`repairable           ${s.repairable}  (DONE "" with a replica holding the ZK CRC, not near retention)`);
  lines.push(`repaired by sidecars ${s.repairedBySidecars}`);
  lines.push(
    `fixed by others      ${s.fixedByController} by the controller's blind write (${s.controllerFixesRacing} written over a sidecar's fresh repair; ${s.controllerTooLate} more found already repaired); fixed_by_other recorded by a sidecar on ${s.seenFixedByOther} (the URL came from another replica's sidecar or the controller)`,
  );
  lines.push(
    `deleted (retention)  ${s.deleted}  (${s.deletedBeforeRepair} before any repair); live at the end ${s.liveAtEnd}`,
  );
  lines.push(
    `time to repair       ${r.repairTimeMs.n === 0 ? 'n/a' : `p50 ${fmtDuration(r.repairTimeMs.p50!)}, p99 ${fmtDuration(r.repairTimeMs.p99!)}, max ${fmtDuration(r.repairTimeMs.max!)} (commit → URL in ZK, n=${r.repairTimeMs.n})`}`,
  );
  lines.push('');
  lines.push(
    `skipped by reason    ${
      Object.entries(r.skippedByReason)
        .map(([k, v]) => `${k} ${v.segments} (${v.replicas} replicas)`)
        .join(', ') || 'none'
    }  (final /repair/status)`,
  );
  lines.push(
    `faults injected      ${Object.entries(r.faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  lines.push(`sidecar outcomes     ${perServer(r.uploads)}  (from their logs; per process in the JSON report)`);
  lines.push(
    `failed attempts      ${
      Object.entries(r.failuresByReason)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }  (retried; first message of each in the JSON report)`,
  );
  lines.push(`proxy                ${r.proxyRequests} S3 requests, ${r.uploadWindows} upload windows`);
  for (const res of r.resources) {
    lines.push(
      `resources ${res.label.padEnd(12)} fds ${res.baseline.fds} → ${res.end?.fds ?? '?'} (peak ${res.peak.fds}), RSS ${mib(res.baseline.rssKiB)} → ${res.end ? mib(res.end.rssKiB) : '?'} (peak ${mib(res.peak.rssKiB)})`,
    );
  }
  if (r.uncertainSegments > 0)
    lines.push(
      `note: ${r.uncertainSegments} segment(s) had a driver write with an unknown outcome; their version history was not judged`,
    );
  if (r.driverErrors.length > 0)
    lines.push(
      `note: ${r.driverErrors.length} driver error(s): ${r.driverErrors.map((e) => e.split('\n')[0]).join(' | ')}`,
    );
  lines.push('');
  if (r.violations.length === 0) {
    lines.push('violations           none');
  } else {
    lines.push(`violations           ${r.violations.length}`);
    for (const v of r.violations) lines.push(`  - ${v.kind}: ${v.subject}: ${v.detail}`);
  }
  return lines.join('\n');
}

const OUTCOME_ORDER = ['success', 'already_uploaded', 'fixed_by_other', 'gone', 'failure'];

/** `server-1 (3 processes): success 80, ...` from per-process counts labelled `server-<n>#<generation>`. */
function perServer(uploads: ChaosReport['uploads']): string {
  const servers = new Map<string, { processes: number; counts: Record<string, number> }>();
  for (const [label, counts] of Object.entries(uploads)) {
    const server = label.split('#')[0]!;
    const slot = servers.get(server) ?? { processes: 0, counts: {} };
    slot.processes += 1;
    for (const [k, v] of Object.entries(counts)) slot.counts[k] = (slot.counts[k] ?? 0) + v;
    servers.set(server, slot);
  }
  return [...servers]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([server, { processes, counts }]) => {
      const keys = Object.keys(counts).sort((a, b) => rank(a) - rank(b));
      return `${server} (${processes} process${processes === 1 ? '' : 'es'}): ${keys.map((k) => `${k} ${counts[k]}`).join(', ') || '-'}`;
    })
    .join('; ');
}

function rank(outcome: string): number {
  const i = OUTCOME_ORDER.indexOf(outcome);
  return i === -1 ? OUTCOME_ORDER.length : i;
}

export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

export function fmtDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const sec = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(sec).padStart(2, '0')}s`;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
