import { parseArgs } from 'node:util';

/**
 * Options of a chaos run and the schedule they scale to. A 60-second run (the vitest case) and a 10-minute
 * run (`npm run chaos -- --duration 10m`) use the same plan with different numbers: the short run is
 * squeezed so that every fault kind still happens at least once.
 */
export interface ChaosOptions {
  /** How long the driver commits and the faults run (settling comes after). */
  durationMs: number;
  seed: number;
  /** Write the JSON report here too. */
  reportFile?: string;
  /** Keep the run directory (logs, data dirs) even when the run passed. It is always kept on a violation. */
  keepDir?: boolean;
  /** How long settling may take before the unrepaired segments are violations (default from the duration). */
  settleTimeoutMs?: number;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
}

export interface ChaosPlan {
  /** Mean time between the driver's commits. */
  commitIntervalMs: number;
  /** Retention: once more segments are alive, the oldest go. */
  maxLiveSegments: number;
  /** The sidecars' --zk-session-timeout-ms. */
  sessionTimeoutMs: number;
  /** How long a ZooKeeper pause lasts (past the sidecars' session timeout, so their sessions expire). */
  zkPauseMs: number;
  /** A deep-store outage: min(60 s, duration / 4). */
  outageMs: number;
  /** How many outages (one per started 10 minutes). */
  outages: number;
  /** Mean wait between two major faults (ZooKeeper restart or pause, kill, outage, server restart). */
  meanFaultGapMs: number;
  /** How long an armed kill waits for an upload to hit. */
  killWaitMs: number;
  /** Per-request S3 fault probabilities while the faults run. */
  s3: { slowDown: number; reset: number; writeThenFail: number };
  /** Chance that a driver tick also fixes a pending segment itself (blind write). */
  driverFixChance: number;
  settleTimeoutMs: number;
}

export function chaosPlan(options: Pick<ChaosOptions, 'durationMs' | 'settleTimeoutMs'>): ChaosPlan {
  const d = options.durationMs;
  const sessionTimeoutMs = 4_000;
  return {
    commitIntervalMs: 1_000,
    maxLiveSegments: d <= 120_000 ? 20 : 80,
    sessionTimeoutMs,
    zkPauseMs: Math.round(sessionTimeoutMs * 1.5) + 1_000,
    outageMs: Math.min(60_000, Math.round(d / 4)),
    outages: Math.max(1, Math.ceil(d / 600_000)),
    meanFaultGapMs: clamp(d / 40, 1_500, 12_000),
    killWaitMs: 10_000,
    s3: { slowDown: 0.2, reset: 0.04, writeThenFail: 0.15 },
    driverFixChance: 0.1,
    // The longest honest wait after the faults stop: a segment whose backoff grew through a 60 s outage waits
    // up to ~64 s, one behind a dead sidecar's lock up to 30 s; twice that, plus room for a loaded machine.
    settleTimeoutMs: options.settleTimeoutMs ?? (d <= 120_000 ? 100_000 : 240_000),
  };
}

/** `60s`, `10m`, `1h`, `1500ms` or plain seconds (`90`). */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`invalid duration ${JSON.stringify(text)}: expected e.g. 60s, 10m, 1h or plain seconds`);
  const value = Number(match[1]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] ?? 1_000;
  const ms = Math.round(value * unit);
  if (ms < 10_000) throw new Error(`duration ${text} is too short: at least 10s`);
  return ms;
}

export const CHAOS_USAGE = `Usage: npm run chaos -- [--duration 10m] [--seed N] [--report FILE] [--keep] [--settle-timeout 4m]

  --duration        how long commits and faults run: 60s, 10m, 1h or plain seconds (default 60s)
  --seed            seed of every random choice (default: random; printed, so a run can be repeated)
  --report FILE     also write the report as JSON to FILE
  --keep            keep the run directory (sidecar logs, data dirs) even when the run passed
  --settle-timeout  how long the sidecars may take to repair everything after the faults stop
  --quiet           no progress lines, only the report`;

export function parseChaosArgs(argv: string[]): ChaosOptions & { help: boolean; quiet: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '60s' },
      seed: { type: 'string' },
      report: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'settle-timeout': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`invalid --seed ${values.seed}: expected a non-negative integer`);
  return {
    durationMs: parseDuration(values.duration),
    seed,
    ...(values.report === undefined ? {} : { reportFile: values.report }),
    keepDir: values.keep,
    ...(values['settle-timeout'] === undefined ? {} : { settleTimeoutMs: parseDuration(values['settle-timeout']) }),
    help: values.help,
    quiet: values.quiet,
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
