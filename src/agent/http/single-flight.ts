export interface SingleFlightOptions {
  /** How long a successful result is served to later callers. */
  reuseMs: number;
  now?: () => number;
}

type Entry<V> =
  | { state: 'done'; value: V; expiresAt: number }
  | { state: 'running'; promise: Promise<V>; controller: AbortController; waiters: number };

/**
 * One computation per key, shared by every caller that asks while it runs, its result reused for
 * `reuseMs`, and cancelled as soon as no caller waits for it any more. An expensive read behind an
 * HTTP endpoint then costs one computation per key and window, whatever the number of concurrent
 * requests, and nothing keeps working for clients that have gone. Failures are not kept: the next
 * caller starts afresh.
 */
export class SingleFlight<K, V> {
  private readonly entries = new Map<K, Entry<V>>();
  private readonly now: () => number;

  constructor(
    private readonly compute: (key: K, signal: AbortSignal) => Promise<V>,
    private readonly options: SingleFlightOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Computations running now. */
  get running(): number {
    let n = 0;
    for (const entry of this.entries.values()) if (entry.state === 'running') n += 1;
    return n;
  }

  /**
   * The result for `key`: a fresh kept one, the running computation's, or a new computation's.
   * Rejects with `signal.reason` when the caller leaves first; the last caller to leave aborts the
   * computation (its `signal`), so it starts no further work.
   */
  get(key: K, signal: AbortSignal): Promise<V> {
    if (signal.aborted) return Promise.reject(signal.reason);
    this.dropExpired();
    const entry = this.entries.get(key) ?? this.start(key);
    if (entry.state === 'done') return Promise.resolve(entry.value);
    entry.waiters += 1;
    const leave = () => {
      entry.waiters -= 1;
      if (entry.waiters === 0 && this.entries.get(key) === entry) {
        this.entries.delete(key);
        entry.controller.abort();
      }
    };
    signal.addEventListener('abort', leave, { once: true });
    const done = () => signal.removeEventListener('abort', leave);
    entry.promise.then(done, done);
    return untilAborted(entry.promise, signal);
  }

  private start(key: K): Entry<V> {
    const controller = new AbortController();
    const work = (async () => this.compute(key, controller.signal))();
    const entry: Entry<V> = {
      state: 'running',
      promise: untilAborted(work, controller.signal),
      controller,
      waiters: 0,
    };
    this.entries.set(key, entry);
    entry.promise.then(
      (value) => {
        if (this.entries.get(key) === entry)
          this.entries.set(key, { state: 'done', value, expiresAt: this.now() + this.options.reuseMs });
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.entries)
      if (entry.state === 'done' && entry.expiresAt <= now) this.entries.delete(key);
  }
}

/**
 * `work`, or `signal.reason` as soon as the signal aborts, whichever comes first. The work itself
 * goes on (a ZooKeeper read in flight cannot be recalled); it only stops being waited for.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
