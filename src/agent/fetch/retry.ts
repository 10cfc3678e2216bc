import { setTimeout as delay } from 'node:timers/promises';

export interface RetryPolicy {
  attempts: number;
  initialDelayMs: number;
  factor: number;
}

/**
 * The retry schedule of Pinot's peer download: PeerServerSegmentFinder uses
 * RetryPolicies.exponentialBackoffRetryPolicy(5, 500, 2.0): at most 5 attempts, and after failed attempt i
 * (1-based) a random wait in [d, 2d) with d = 500 ms * 2^(i-1), i.e. 500–1000, 1000–2000, 2000–4000,
 * 4000–8000 ms (ExponentialBackoffRetryPolicy.getDelayMs). Tests shrink the numbers, not the shape.
 */
export const PINOT_PEER_RETRY: RetryPolicy = { attempts: 5, initialDelayMs: 500, factor: 2 };

/** Wait after failed attempt `failedAttempt` (1-based), before the next one. */
export function fetchRetryDelayMs(
  failedAttempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const base = policy.initialDelayMs * policy.factor ** (failedAttempt - 1);
  return Math.floor(base + base * Math.min(random(), 1 - Number.EPSILON));
}

/** Sleep that an abort ends early, rejecting with the signal's reason. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal === undefined ? {} : { signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}
