// How long a segment waits after a failed repair attempt, pure (docs/architecture.md, "A repair": exponential
// backoff with jitter, capped; Retry-After honoured; permanent errors not retried fast and surfaced with a reason).
//
// The numbers are p-retry's (minTimeout 1 s, factor 2, maxTimeout 5 min) but the waiting is not: p-retry
// sleeps inside the retried call, so a segment waiting for its next try would keep one of the reconciler's
// bounded upload slots busy, and one failing segment would block the others. The reconciler instead records
// the next attempt time in the repair state and frees the slot; this module only computes that time.

import { isRetriable } from '../../errors.js';
import { DeepStoreError } from '../../deepstore/index.js';
import { ZooKeeperError } from '../../helix/index.js';

export interface BackoffPolicy {
  /** First delay (and the floor of every delay). */
  minMs: number;
  factor: number;
  /** Ceiling of every computed delay, and the wait after a permanent error. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { minMs: 1_000, factor: 2, maxMs: 5 * 60_000 };

export interface FailureClass {
  /** Needs a person (403, NoSuchBucket, bad credentials, a bug): wait the cap, show state `failed`. */
  permanent: boolean;
  /** Short machine-readable reason for operators: an S3/errno code, a ZooKeeper code, an error name. */
  reason: string;
  /** What the server asked for (Retry-After); never retry sooner. */
  retryAfterMs?: number;
}

/**
 * Permanent is what the error itself says is not retriable (errors.ts: unknown errors are not retriable), so a
 * misconfiguration or a bug is reported and retried at the slowest pace rather than hammered.
 */
export function classifyFailure(err: unknown): FailureClass {
  const permanent = !isRetriable(err);
  if (err instanceof DeepStoreError) {
    return err.retryAfterMs === undefined
      ? { permanent, reason: err.code }
      : { permanent, reason: err.code, retryAfterMs: err.retryAfterMs };
  }
  if (err instanceof ZooKeeperError) return { permanent, reason: `ZooKeeper${pascal(err.code)}` };
  if (err instanceof Error) return { permanent, reason: err.name };
  return { permanent, reason: 'Unknown' };
}

/**
 * Delay before attempt `failures + 1`, after `failures` (>= 1) consecutive failures.
 *
 * Retriable: base = min(maxMs, minMs * factor^(failures-1)), then "equal jitter" (uniform in [base/2, base]),
 * floored at minMs: replicas that failed together (an S3 outage) spread out instead of returning in lockstep,
 * and no delay is shorter than the minimum. A Retry-After longer than that wins, whatever the cap.
 * Permanent: maxMs, or Retry-After if longer.
 */
export function retryDelayMs(
  failures: number,
  failure: FailureClass,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  let delay: number;
  if (failure.permanent) {
    delay = policy.maxMs;
  } else {
    const base = Math.min(policy.maxMs, policy.minMs * policy.factor ** Math.max(0, failures - 1));
    delay = Math.min(policy.maxMs, Math.max(policy.minMs, base / 2 + (random() * base) / 2));
  }
  return Math.round(Math.max(delay, failure.retryAfterMs ?? 0));
}

function pascal(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}
