import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waiting in the chaos harness: conditions are polled with a deadline (never a fixed sleep standing in for a
 * condition); sleeps are only the schedule's own intervals (a pause that lasts 7 s, the gap between faults),
 * and they end early when the run is stopping.
 */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/**
 * Poll `check` until it returns true; rejects with WaitTimeoutError after `timeoutMs` (errors from check propagate).
 */
export async function waitUntil(
  label: string,
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline)
      throw new WaitTimeoutError(`${label}: not true after ${Math.round(options.timeoutMs / 1000)} s`);
    options.signal?.throwIfAborted();
    await delay(options.intervalMs ?? 250);
  }
}

/** A scheduled interval; resolves early (without throwing) when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await delay(Math.max(0, ms), undefined, signal ? { signal } : {}).catch((err: unknown) => {
    if ((err as { name?: string }).name !== 'AbortError') throw err;
  });
}
