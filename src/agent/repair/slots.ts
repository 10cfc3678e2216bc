// The repair's attempt slots: at most `concurrency` attempts at once, the others wait in line. Two lines: urgent
// (a drain being prepared, POST /drain/prepare) before normal, each first come first served, so a server about to
// be taken down gets its at-risk segments uploaded first without raising --repair-parallelism.

import { SidecarError } from '../../errors.js';

/** A waiting attempt dropped by clearQueue() (shutdown): it never started. */
export class SlotQueueClearedError extends SidecarError {
  constructor() {
    super('repair attempt dropped before it started: the reconciler is stopping');
  }
}

interface Waiter {
  key: string;
  start: () => void;
  drop: (err: Error) => void;
}

export class RepairSlots {
  private running = 0;
  private readonly urgent: Waiter[] = [];
  private readonly normal: Waiter[] = [];

  constructor(private readonly concurrency: number) {}

  get activeCount(): number {
    return this.running;
  }

  get pendingCount(): number {
    return this.urgent.length + this.normal.length;
  }

  /** Run `fn` in a slot; `key` names it for promote(). */
  run<T>(key: string, fn: () => Promise<T>, options: { urgent?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running += 1;
        fn()
          .then(resolve, reject)
          .finally(() => {
            this.running -= 1;
            this.next();
          });
      };
      (options.urgent ? this.urgent : this.normal).push({ key, start, drop: reject });
      this.next();
    });
  }

  /** Move a waiting attempt to the urgent line (at its end). False when `key` is not waiting in the normal line. */
  promote(key: string): boolean {
    const i = this.normal.findIndex((w) => w.key === key);
    if (i < 0) return false;
    this.urgent.push(...this.normal.splice(i, 1));
    return true;
  }

  /** Drop every waiting attempt (each rejects with SlotQueueClearedError); running ones are left to finish. */
  clearQueue(): void {
    for (const waiter of [...this.urgent.splice(0), ...this.normal.splice(0)]) waiter.drop(new SlotQueueClearedError());
  }

  private next(): void {
    while (this.running < this.concurrency) {
      const waiter = this.urgent.shift() ?? this.normal.shift();
      if (!waiter) return;
      waiter.start();
    }
  }
}
