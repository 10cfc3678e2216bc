/** The longest one plan holds the running streams back, counted from its start (PlansFirst). */
export const PLAN_HOLD_MS = 50;

export interface PlansFirstOptions {
  /** Default PLAN_HOLD_MS. */
  holdMs?: number;
  /** Milliseconds on a monotonic clock; default performance.now. */
  now?: () => number;
}

interface Waiter {
  timer: ReturnType<typeof setTimeout>;
  resolve: () => void;
}

/**
 * Downloads being planned come before the archive streams already running. A new download's first byte waits for its
 * plan (resolve the segment, walk its tree: ~18 file-system calls and ~1 ms of the event loop), and on a small
 * machine the running streams' blocks (reads, copies, results to the sockets, the garbage collection they cause) take
 * the same event loop: in a burst of 8 downloads on 2 cores the last plans waited behind the first streams' blocks.
 * While a plan is in flight a running stream holds its next read (streamSegmentArchive's `beforeRead`); the blocks it
 * already has keep flowing. Measured with 20 bursts of 8 downloads started at once, 3 runs each way: the median worst
 * first byte was 20–26 ms with this and 32–38 ms without.
 *
 * A plan holds the streams back for at most `holdMs` from its start, so a plan stuck on a slow disk (a tier volume
 * that hangs) delays the others by that much once, not for as long as it hangs. Plans come only with downloads
 * admitted to a slot (and HEADs, which need a free one), so they cannot arrive faster than downloads end.
 */
export class PlansFirst {
  readonly #holdMs: number;
  readonly #now: () => number;
  /** Start times of the plans in flight. */
  readonly #plans = new Set<{ startedAt: number }>();
  readonly #waiters = new Set<Waiter>();

  constructor(options: PlansFirstOptions = {}) {
    this.#holdMs = options.holdMs ?? PLAN_HOLD_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Plans in flight, young or not. */
  get planning(): number {
    return this.#plans.size;
  }

  /** A plan starts; call the returned function when it ends, however it ends (calling it again does nothing). */
  startPlan(): () => void {
    const plan = { startedAt: this.#now() };
    this.#plans.add(plan);
    return () => {
      if (this.#plans.delete(plan) && this.#youngestStart() === undefined) this.#wakeAll();
    };
  }

  /**
   * Undefined when no plan younger than `holdMs` is in flight: go on at once (no promise, no timer). Else a promise
   * that resolves once none is, at the latest `holdMs` after the youngest one started.
   */
  wait(): Promise<void> | undefined {
    const youngest = this.#youngestStart();
    if (youngest === undefined) return undefined;
    return new Promise<void>((resolve) => {
      const waiter: Waiter = {
        timer: setTimeout(() => this.#wake(waiter), Math.max(0, youngest + this.#holdMs - this.#now())),
        resolve,
      };
      this.#waiters.add(waiter);
    });
  }

  /** The start of the youngest plan that still holds streams back, if any. */
  #youngestStart(): number | undefined {
    const oldestCounted = this.#now() - this.#holdMs;
    let youngest: number | undefined;
    for (const { startedAt } of this.#plans) {
      if (startedAt > oldestCounted && (youngest === undefined || startedAt > youngest)) youngest = startedAt;
    }
    return youngest;
  }

  #wake(waiter: Waiter): void {
    if (!this.#waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve();
  }

  #wakeAll(): void {
    for (const waiter of [...this.#waiters]) this.#wake(waiter);
  }
}
