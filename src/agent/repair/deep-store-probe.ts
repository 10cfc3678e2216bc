import type { DeepStore, ProbeMode, ProbeResult, ProbeStep } from '../../deepstore/index.js';
import { errorMessage } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { Metrics } from '../metrics.js';

export const DEEP_STORE_PROBE_DEFAULTS = {
  /**
   * How often the deep store is probed. A minute: a store that breaks is seen long before most repairs would
   * need it, and a write probe costs three small requests a minute (S3: about 130,000 a month, cents).
   */
  intervalMs: 60 * 1000,
  /**
   * A probe not finished by then is `down` (ProbeTimeout): a store that accepts connections and never answers
   * would otherwise look healthy for the S3 client's whole socket timeout (120 s), per attempt.
   */
  timeoutMs: 30 * 1000,
} as const;

/** What went wrong, for status, readiness and logs (JSON as it is). */
export interface DeepStoreProblem {
  /** The probe's step that failed; null for a probe that did not finish (ProbeTimeout) or failed outside a step. */
  step: ProbeStep | null;
  /**
   * The classified error code: `NoSuchBucket`, `AccessDenied`, `ECONNREFUSED`, `EROFS`, `ProbeMismatch`,
   * `ProbeTimeout`, ...
   */
  code: string;
  /** What happened and what to check, in the store's words. */
  message: string;
  /** Whether it may clear without an operator (a network blip) or needs one (a permission, a missing bucket). */
  retriable: boolean;
}

export type DeepStoreState = 'unknown' | 'up' | 'down';

/** The last probe's answer (GET /repair/status, `status`, readiness). */
export interface DeepStoreProbeStatus {
  mode: ProbeMode;
  /** `unknown` until the first probe has answered. */
  state: DeepStoreState;
  /** Why it is down; null otherwise. */
  cause: DeepStoreProblem | null;
  /** Up, with something worth knowing: today only the probe object could not be deleted. */
  warning: DeepStoreProblem | null;
  /** The probe object (write), or the folder or prefix looked at (read). */
  uri: string | null;
  /** When the last probe answered (ISO 8601). */
  checkedAt: string | null;
  /** When the current state and cause began (ISO 8601): a cause that changes starts a new period. */
  since: string | null;
}

/** One probe's outcome, before it is compared with the last one. Pure. */
export interface ProbeVerdict {
  state: 'up' | 'down';
  cause: DeepStoreProblem | null;
  warning: DeepStoreProblem | null;
  uri: string | null;
}

/** What the store's answer means. */
export function verdictOf(result: ProbeResult): ProbeVerdict {
  if (!result.ok) return { state: 'down', cause: problemOf(result.step, result.error), warning: null, uri: result.uri };
  return {
    state: 'up',
    cause: null,
    warning: result.warning === undefined ? null : problemOf(result.warning.step, result.warning.error),
    uri: result.uri,
  };
}

/** A probe that did not answer within `timeoutMs`. */
export function timeoutVerdict(mode: ProbeMode, timeoutMs: number): ProbeVerdict {
  const message = `deep-store ${mode} probe did not finish within ${timeoutMs / 1000} s: the store, or the way to it, takes requests and does not answer (a black-holed endpoint, a hung NFS mount)`;
  return {
    state: 'down',
    cause: { step: null, code: 'ProbeTimeout', message, retriable: true },
    warning: null,
    uri: null,
  };
}

/** A probe that failed outside the store's own answer (a bug): down all the same, saying what was thrown. */
export function failureVerdict(mode: ProbeMode, err: unknown): ProbeVerdict {
  return {
    state: 'down',
    cause: {
      step: null,
      code: 'ProbeFailed',
      message: `deep-store ${mode} probe failed: ${errorMessage(err)}`,
      retriable: false,
    },
    warning: null,
    uri: null,
  };
}

function problemOf(step: ProbeStep, error: { code: string; message: string; retriable: boolean }): DeepStoreProblem {
  return { step, code: error.code, message: error.message, retriable: error.retriable };
}

/**
 * Whether `next` is news after `previous` (logged, and a new `since`): another state, or the same state for
 * another reason (step and code, or the warning's). Messages are not compared: they carry temp-file names and
 * socket addresses that differ from one probe to the next with the cause unchanged.
 */
export function isChange(previous: ProbeVerdict | undefined, next: ProbeVerdict): boolean {
  return previous === undefined || problemKey(previous) !== problemKey(next);
}

function problemKey(verdict: ProbeVerdict): string {
  const key = (p: DeepStoreProblem | null): string => (p === null ? '-' : `${p.step ?? '-'}:${p.code}`);
  return `${verdict.state} ${key(verdict.cause)} ${key(verdict.warning)}`;
}

export interface DeepStoreProbeOptions {
  deepStore: DeepStore;
  mode: ProbeMode;
  /** Names the probe object (DeepStore ProbeOptions.name): the instance id, so it is one stable key per sidecar. */
  probeName?: string;
  metrics?: Metrics;
  logger?: Logger;
  intervalMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

/**
 * Probes the deep store at start and then every minute (DeepStore.probe), so that a bad bucket, missing
 * credentials, a read-only mount or a wrong endpoint are known within seconds of starting, not when a segment
 * needs a repair. Keeps the last answer for status and readiness, sets `pinot_sidecar_deep_store_up` (absent
 * until the first answer: a scrape during start must not read as an outage), and logs each change once:
 * `deep_store_down` (error) with the exact cause, `deep_store_up` (info; warn when up with a warning).
 *
 * One probe at a time. A probe past `timeoutMs` is down (ProbeTimeout) and aborted; if the store never settles
 * it (a hung NFS mount ignores aborts), no other probe starts until it does, so hung calls do not pile up.
 */
export class DeepStoreProbe {
  private readonly deepStore: DeepStore;
  private readonly mode: ProbeMode;
  private readonly probeName: string | undefined;
  private readonly metrics: Metrics | undefined;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly stopController = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<DeepStoreProbeStatus> | undefined;
  /** The store's probe call, until it settles (it may outlive its timeout). */
  private storeCall: Promise<unknown> | undefined;
  private last: ProbeVerdict | undefined;
  private checkedAt: number | undefined;
  private since: number | undefined;

  constructor(options: DeepStoreProbeOptions) {
    this.deepStore = options.deepStore;
    this.mode = options.mode;
    this.probeName = options.probeName;
    this.metrics = options.metrics;
    this.log = (options.logger ?? silentLogger).child({ component: 'deep-store-probe' });
    this.intervalMs = options.intervalMs ?? DEEP_STORE_PROBE_DEFAULTS.intervalMs;
    this.timeoutMs = options.timeoutMs ?? DEEP_STORE_PROBE_DEFAULTS.timeoutMs;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.timer !== undefined || this.stopController.signal.aborted) return;
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
    void this.check();
  }

  /** Probe now (or join the probe in progress); resolves with the status after it. Never rejects. */
  check(): Promise<DeepStoreProbeStatus> {
    this.running ??= this.probeOnce()
      .then(() => this.status())
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  status(): DeepStoreProbeStatus {
    const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
    const last = this.last;
    return {
      mode: this.mode,
      state: last?.state ?? 'unknown',
      cause: last?.cause ?? null,
      warning: last?.warning ?? null,
      uri: last?.uri ?? null,
      checkedAt: iso(this.checkedAt),
      since: iso(this.since),
    };
  }

  /** For readiness reasons: why the deep store is not usable, or null (up, or not probed yet). */
  readinessNote(): string | null {
    const cause = this.last?.state === 'down' ? this.last.cause : null;
    return cause === null ? null : `deep store down: ${cause.message}`;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopController.abort();
    await this.running;
  }

  private async probeOnce(): Promise<void> {
    const stopSignal = this.stopController.signal;
    if (stopSignal.aborted) return;
    // The last call outlived its timeout and the store still has not settled it: report that, add no other.
    if (this.storeCall !== undefined) {
      this.record(timeoutVerdict(this.mode, this.timeoutMs));
      return;
    }
    const deadline = new AbortController();
    const call = this.deepStore.probe(this.mode, {
      signal: AbortSignal.any([stopSignal, deadline.signal]),
      ...(this.probeName === undefined ? {} : { name: this.probeName }),
    });
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    this.storeCall = settled;
    void settled.then(() => {
      if (this.storeCall === settled) this.storeCall = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.timeoutMs);
    });
    try {
      const outcome = await Promise.race([call, timedOut]);
      if (stopSignal.aborted) return;
      if (outcome === 'timeout') {
        deadline.abort(new Error(`deep-store probe timed out after ${this.timeoutMs} ms`));
        this.record(timeoutVerdict(this.mode, this.timeoutMs));
      } else {
        this.record(verdictOf(outcome));
      }
    } catch (err) {
      if (stopSignal.aborted) return;
      this.record(failureVerdict(this.mode, err));
    } finally {
      clearTimeout(timer);
    }
  }

  private record(verdict: ProbeVerdict): void {
    const now = this.now();
    const changed = isChange(this.last, verdict);
    this.last = verdict;
    this.checkedAt = now;
    this.metrics?.deepStoreUp.set(verdict.state === 'up' ? 1 : 0);
    if (!changed) return;
    this.since = now;
    const fields = { mode: this.mode, uri: verdict.uri };
    if (verdict.state === 'down' && verdict.cause !== null) {
      const { step, code, retriable, message } = verdict.cause;
      this.log.error(
        { event: 'deep_store_down', ...fields, step, code, retriable, cause: message },
        `the deep store is unusable: ${message}`,
      );
    } else if (verdict.warning !== null) {
      const { step, code, message } = verdict.warning;
      this.log.warn(
        { event: 'deep_store_up', ...fields, warning: { step, code, message } },
        `the deep store is usable, but: ${message}`,
      );
    } else {
      this.log.info({ event: 'deep_store_up', ...fields }, 'the deep store is usable');
    }
  }
}
