/**
 * Keeps the driver's own ZooKeeper writes out of the ZooKeeper faults. The driver plays the controller and
 * Helix; the chaos is aimed at the sidecars, and a driver write lost to a restart would only blur the
 * bookkeeping the final checks rely on (which version of a znode the driver wrote). The fault injector closes
 * the gate (waiting for the driver's writes in flight), restarts or pauses ZooKeeper, and opens it again once
 * the driver's session is back; meanwhile the driver's next writes wait. The sidecars get no such courtesy.
 */
export class ZkGate {
  private active = 0;
  private closed: Promise<void> | null = null;
  private drained: (() => void) | null = null;

  /** Run one driver operation while the gate is open. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    this.active += 1;
    try {
      return await operation();
    } finally {
      this.active -= 1;
      if (this.active === 0) this.drained?.();
    }
  }

  /** Close the gate once the operations in flight are done; resolves with the function that opens it. */
  async close(): Promise<() => void> {
    while (this.closed) await this.closed;
    let open!: () => void;
    this.closed = new Promise((resolve) => (open = resolve));
    if (this.active > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.drained = null;
    return () => {
      this.closed = null;
      open();
    };
  }
}
