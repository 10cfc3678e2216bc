/** The longest one plan holds a running stream back, counted from the plan's start (PlansFirst). */
export const PLAN_HOLD_MS = 50;

export interface PlansFirstOptions {
  /** Default PLAN_HOLD_MS. */
  holdMs?: number;
  /** Milliseconds on a monotonic clock; default performance.now. */
  now?: () => number;
}

interface Plan {
  id: number;
  startedAt: number;
  /** Streams waiting for this plan among others. */
  waiters: Set<Waiter>;
}

interface Waiter {
  /** Plans of its snapshot still in flight. */
  remaining: number;
  timer: ReturnType<typeof setTimeout>;
  resolve: () => void;
}

/**
 * Downloads being planned come before the archive streams already running. A new download's first byte waits for its
 * plan (resolve the segment, walk its tree: ~18 file-system calls and ~1 ms of the event loop), and on a small
 * machine the running streams' blocks (reads, copies, results to the sockets, the garbage collection they cause) take
 * the same event loop: in a burst of 8 downloads on 2 cores the last plans waited behind the first streams' blocks.
 * While a plan is in flight a running stream holds its next read (streamSegmentArchive's `beforeRead`, from
 * streamGate()); the blocks it already read keep flowing. Measured with 20 bursts of 8 downloads started at once,
 * 3 runs each way: the median worst first byte was 18–23 ms with this and 34–36 ms without.
 *
 * What bounds the cost to running streams: a stream waits for the plans in flight when it asks, not for plans that
 * start while it waits, and for each plan at most once; and no longer than `holdMs` after the youngest of them
 * started. So a plan stuck on a slow disk holds each stream once, for `holdMs`, and plans that overlap without end
 * (a client sending plans back to back) slow a stream by their own length per read, never stop it. Only downloads
 * plan here (not HEAD): each holds a download slot for its whole transfer, so their plans come no faster than
 * downloads end.
 */
export class PlansFirst {
  readonly #holdMs: number;
  readonly #now: () => number;
  readonly #plans = new Set<Plan>();
  #nextId = 0;

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
    const plan: Plan = { id: this.#nextId++, startedAt: this.#now(), waiters: new Set() };
    this.#plans.add(plan);
    return () => {
      if (!this.#plans.delete(plan)) return;
      for (const waiter of plan.waiters) {
        waiter.remaining -= 1;
        if (waiter.remaining === 0) this.#wake(waiter);
      }
    };
  }

  /**
   * One running stream's `beforeRead`: undefined (go on at once, no promise, no timer) unless a plan younger than
   * `holdMs` that this stream has not waited for yet is in flight; then a promise that resolves once those plans
   * (the ones in flight now) have ended, at the latest `holdMs` after the youngest of them started.
   */
  streamGate(): () => Promise<void> | undefined {
    let waitedFor = -1; // the highest plan id this stream has waited for
    return () => {
      if (this.#plans.size === 0) return undefined; // the common case, asked before every chunk of every stream
      const oldestCounted = this.#now() - this.#holdMs;
      const snapshot = [...this.#plans].filter((plan) => plan.id > waitedFor && plan.startedAt > oldestCounted);
      if (snapshot.length === 0) return undefined;
      waitedFor = Math.max(...snapshot.map((plan) => plan.id));
      const youngest = Math.max(...snapshot.map((plan) => plan.startedAt));
      return new Promise<void>((resolve) => {
        const waiter: Waiter = {
          remaining: snapshot.length,
          timer: setTimeout(() => this.#wake(waiter), Math.max(0, youngest + this.#holdMs - this.#now())),
          resolve: () => {
            for (const plan of snapshot) plan.waiters.delete(waiter);
            resolve();
          },
        };
        for (const plan of snapshot) plan.waiters.add(waiter);
      });
    };
  }

  #wake(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    waiter.resolve();
  }
}
