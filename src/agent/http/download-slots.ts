import { BusyError } from './errors.js';

/**
 * Bounds concurrent segment downloads (Pinot's own endpoint, TablesResource.downloadSegment, has none:
 * docs/pinot-interop.md, "Peer download"). A short queue absorbs bursts; beyond it a request is refused
 * at once with 503 + Retry-After instead of waiting behind multi-GB transfers. A client that gives up
 * while queued leaves the queue at once: a dead request must not hold a place a live one could use.
 */
export class DownloadSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxActive: number,
    readonly maxQueued: number,
    private readonly retryAfterSeconds = 2,
  ) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with a release function once a slot is free; BusyError when the queue is full; the signal's reason when
   * aborted while queued.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.running < this.maxActive) {
      this.running += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueued) return Promise.reject(new BusyError(this.retryAfterSeconds));
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.running += 1;
        resolve(this.releaser());
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  /**
   * A slot now or BusyError, never a queue place: for work that is short but must still be bounded (a HEAD plans
   * the segment, walking its tree, and should neither wait behind multi-GB downloads nor run unbounded beside them).
   */
  acquireNow(): () => void {
    if (this.running >= this.maxActive) throw new BusyError(this.retryAfterSeconds);
    this.running += 1;
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      this.waiting.shift()?.();
    };
  }
}
