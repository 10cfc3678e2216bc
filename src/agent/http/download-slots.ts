import pLimit from 'p-limit';
import { BusyError } from './errors.js';

/**
 * Bounds concurrent segment downloads (Pinot's own endpoint has a TODO about unbounded concurrent
 * downloads, pinot-protocol.md §5.1). A short queue absorbs bursts; beyond it a request is refused
 * at once with 503 + Retry-After instead of waiting behind multi-GB transfers.
 */
export class DownloadSlots {
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(
    readonly maxActive: number,
    readonly maxQueued: number,
    private readonly retryAfterSeconds = 2,
  ) {
    this.limit = pLimit(maxActive);
  }

  get active(): number {
    return this.limit.activeCount;
  }

  get queued(): number {
    return this.limit.pendingCount;
  }

  /** Resolves with a release function once a slot is free; throws BusyError when the queue is full. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.limit.activeCount >= this.maxActive && this.limit.pendingCount >= this.maxQueued) {
      return Promise.reject(new BusyError(this.retryAfterSeconds));
    }
    return new Promise((resolve, reject) => {
      void this.limit(
        () =>
          new Promise<void>((release) => {
            // A client that gave up while queued must not take a slot.
            if (signal?.aborted) {
              release();
              reject(signal.reason);
              return;
            }
            let released = false;
            resolve(() => {
              if (!released) {
                released = true;
                release();
              }
            });
          }),
      );
    });
  }
}
