import type { Logger } from '../log.js';

/** `blocking` fails readiness; `warning` is listed while the sidecar still does what it can (see Conditions). */
export type ConditionWeight = 'blocking' | 'warning';

export interface ConditionState {
  ok: boolean;
  /** Why not (shown as is in logs and in the readiness body); ignored when ok. */
  reason?: string;
}

interface Entry {
  weight: ConditionWeight;
  ok: boolean;
  reason: string;
  lastLoggedAt: number;
}

export interface ConditionsOptions {
  logger: Logger;
  /** How often a condition that stays unmet is logged again (default 5 min). */
  repeatMs?: number;
  now?: () => number;
}

/** Default of ConditionsOptions.repeatMs. */
export const CONDITION_REPEAT_MS = 5 * 60_000;

/**
 * What must be true for the sidecar to do its job, each watched by its owner and reported here, so that a
 * misconfiguration is never "green and idle": a condition that is not met shows within seconds in
 * the log (one line when it changes, then again every `repeatMs` while it lasts), in `/health/ready`'s body, and
 * through the gauge its owner sets.
 *
 * Two weights. `blocking`: the sidecar cannot do its job at all (ZooKeeper unreachable, the cluster or the
 * instance unknown, no data dir): readiness fails with the reason. `warning`: the sidecar still serves what it
 * can (the server is down but its segments are on disk and downloads work; the deep store is out but downloads and
 * metrics work): readiness stays true and the reason is listed. A native sidecar's readiness counts toward its
 * pod's, so failing it for the server's own state would take a pod that can still serve segment downloads out of
 * its Service exactly when a restore job needs them; the server's own probe already says the server is down.
 */
export class Conditions {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly repeatMs: number;
  private readonly now: () => number;

  constructor(options: ConditionsOptions) {
    this.log = options.logger;
    this.repeatMs = options.repeatMs ?? CONDITION_REPEAT_MS;
    this.now = options.now ?? Date.now;
  }

  /** Report `name`'s state. Logged when it changes (met, unmet, or unmet for another reason), and not otherwise. */
  set(name: string, weight: ConditionWeight, state: ConditionState): void {
    const reason = state.ok ? '' : (state.reason ?? 'not met');
    const previous = this.entries.get(name);
    const changed = !previous || previous.ok !== state.ok || previous.reason !== reason;
    const entry: Entry = { weight, ok: state.ok, reason, lastLoggedAt: previous?.lastLoggedAt ?? 0 };
    this.entries.set(name, entry);
    if (!changed) return;
    if (!state.ok) this.logUnmet(name, entry);
    else if (previous && !previous.ok)
      this.log.info({ event: 'condition_met', condition: name, previously: previous.reason }, `${name}: ok again`);
  }

  /** Log again every condition still unmet whose last line is older than repeatMs (call it from a timer). */
  repeat(): void {
    const now = this.now();
    for (const [name, entry] of this.entries)
      if (!entry.ok && now - entry.lastLoggedAt >= this.repeatMs) this.logUnmet(name, entry);
  }

  /** Reasons that fail readiness, and warnings that do not. */
  readiness(): { reasons: string[]; warnings: string[] } {
    const reasons: string[] = [];
    const warnings: string[] = [];
    for (const [name, entry] of this.entries) {
      if (entry.ok) continue;
      (entry.weight === 'blocking' ? reasons : warnings).push(`${name}: ${entry.reason}`);
    }
    return { reasons, warnings };
  }

  private logUnmet(name: string, entry: Entry): void {
    entry.lastLoggedAt = this.now();
    const fields = { event: 'condition_unmet', condition: name, weight: entry.weight, reason: entry.reason };
    if (entry.weight === 'blocking') this.log.error(fields, `${name}: ${entry.reason}`);
    else this.log.warn(fields, `${name}: ${entry.reason}`);
  }
}
