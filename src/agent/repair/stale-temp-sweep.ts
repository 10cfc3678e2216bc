import type { DeepStore } from '../../deepstore/index.js';
import { errorMessage } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { Metrics } from '../metrics.js';

/** How often the deep store is swept for temp files a dead sidecar left (the age threshold is the store's). */
export const STALE_TEMP_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

export interface StaleTempSweepOptions {
  deepStore: DeepStore;
  metrics?: Metrics;
  logger?: Logger;
  intervalMs?: number;
}

/**
 * Removes what an upload leaves in the deep store when its sidecar dies in the middle (SIGKILL, OOM, a lost
 * node: no `finally` runs), at start and then every hour: a file store keeps `<uuid>.part` files in its temp
 * folder `<base>/.pinot-sidecar.tmp`, as large as the segment, forever otherwise. Only names the sidecar itself
 * creates there, only when stale, never a table folder (DeepStore.sweepStaleTemps); a failed sweep is logged
 * and tried again at the next tick.
 */
export class StaleTempSweep {
  private readonly deepStore: DeepStore;
  private readonly metrics: Metrics | undefined;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly stopController = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: StaleTempSweepOptions) {
    this.deepStore = options.deepStore;
    this.metrics = options.metrics;
    this.log = (options.logger ?? silentLogger).child({ component: 'deep-store-sweep' });
    this.intervalMs = options.intervalMs ?? STALE_TEMP_SWEEP_INTERVAL_MS;
  }

  start(): void {
    if (this.timer !== undefined || this.stopController.signal.aborted) return;
    this.timer = setInterval(() => this.sweepInBackground(), this.intervalMs);
    this.timer.unref();
    this.sweepInBackground();
  }

  /** One sweep now (the one in progress, if any). Resolves when it has finished; never rejects. */
  sweep(): Promise<void> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopController.abort();
    await this.running;
  }

  private sweepInBackground(): void {
    void this.sweep();
  }

  private async sweepOnce(): Promise<void> {
    const signal = this.stopController.signal;
    if (signal.aborted) return;
    try {
      const { removed, bytes } = await this.deepStore.sweepStaleTemps({ signal });
      if (removed === 0) return;
      this.metrics?.staleTempsRemoved.inc(removed);
      this.log.info(
        { event: 'stale_temps_removed', removed, bytes },
        'removed temp files a stopped upload left in the deep store',
      );
    } catch (err) {
      if (signal.aborted) return;
      this.log.warn(
        { event: 'stale_temp_sweep_failed', err: errorMessage(err) },
        'could not sweep the deep store for stale temp files; trying again later',
      );
    }
  }
}
