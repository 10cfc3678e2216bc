import { faults, type FaultHandle, type LoggedRequest, type S3Operation } from '../helpers/fault-proxy.js';
import type { ChaosPlan } from './options.js';
import type { Rng } from '../helpers/rng.js';
import type { SidecarFleet, SidecarProcess } from './sidecars.js';
import { sleep } from './wait.js';
import type { ChaosWorld } from './world.js';

/**
 * The faults, at random from the run's seed:
 *
 * - S3 noise through the proxy, all along: ~20% of requests 503 SlowDown with Retry-After, a few connection
 *   resets (before the store sees the request, or after it answered), and write-then-fail on writes (the store
 *   stores, the client hears 500);
 * - one at a time, at exponentially distributed gaps: ZooKeeper restarts (same port and data), ZooKeeper
 *   paused (SIGSTOP) past the sidecars' session timeout, SIGKILL of a sidecar in the middle of an upload (when
 *   its upload request reaches the proxy, or once the store has answered it but before the sidecar hears so)
 *   and a restart of it, a Pinot server restart (new Helix session, replicas OFFLINE then ONLINE), and
 *   deep-store outages (every request fails: 503 or reset) of min(60 s, duration/4).
 *
 * The first faults of a run are one of each kind in a shuffled order, so even a short run sees every kind; a
 * kind that could not happen (no upload came by to kill) goes back in the queue.
 */

export const FAULT_KINDS = [
  'zk_restart',
  'zk_pause_expiry',
  's3_slowdown',
  's3_reset',
  's3_write_then_fail',
  'sidecar_kill_mid_upload',
  'deep_store_outage',
  'server_restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Kinds every run must have injected at least once. */
export const REQUIRED_FAULTS: readonly FaultKind[] = FAULT_KINDS.filter((k) => k !== 'server_restart');

/** How long after the run the required major faults that did not fit in it may still be injected. */
const LATE_FAULTS_MS = 60_000;

type MajorFault = 'zk_restart' | 'zk_pause_expiry' | 'sidecar_kill_mid_upload' | 'server_restart';
const REQUIRED_MAJOR: readonly MajorFault[] = (
  ['zk_restart', 'zk_pause_expiry', 'sidecar_kill_mid_upload'] as const
).filter((k) => REQUIRED_FAULTS.includes(k));
const MAJOR_WEIGHTS: ReadonlyArray<[MajorFault, number]> = [
  ['sidecar_kill_mid_upload', 35],
  ['zk_restart', 22],
  ['zk_pause_expiry', 22],
  ['server_restart', 21],
];

const UPLOAD_OPS: ReadonlySet<S3Operation> = new Set([
  'PutObject',
  'CreateMultipartUpload',
  'UploadPart',
  'CompleteMultipartUpload',
]);
const WRITE_OPS: ReadonlySet<S3Operation> = new Set(['PutObject', 'UploadPart', 'CompleteMultipartUpload']);

export interface FaultEvent {
  /** ms since the start of the run. */
  at: number;
  kind: FaultKind | 'skipped';
  durationMs: number;
  detail: string;
}

export interface FaultInjectorOptions {
  world: ChaosWorld;
  fleet: SidecarFleet;
  plan: ChaosPlan;
  rng: Rng;
  startedAt: number;
  durationMs: number;
  progress: (line: string) => void;
}

export class FaultInjector {
  readonly counts: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
    FaultKind,
    number
  >;
  readonly timeline: FaultEvent[] = [];
  /** Processes killed by the harness, with the request they were making. */
  readonly kills: Array<{ label: string; op: string; key: string; variant: string; at: number }> = [];
  private noise: Array<{ kind: FaultKind; handle: FaultHandle }> = [];
  /** One-shot rules that outlive outages; removed by finish(). */
  private guarantees: Array<{ kind: FaultKind; handle: FaultHandle }> | null = null;
  private readonly outageStarts: number[];

  constructor(private readonly o: FaultInjectorOptions) {
    // Outages at random times, one per slice of the run, each fitting inside its slice.
    const { durationMs, plan, rng } = o;
    const slice = durationMs / plan.outages;
    this.outageStarts = Array.from({ length: plan.outages }, (_, i) => {
      const earliest = i * slice + Math.min(5_000, slice / 10);
      const latest = Math.max(earliest, (i + 1) * slice - plan.outageMs - Math.min(10_000, slice / 6));
      return rng.between(earliest, latest);
    });
  }

  /** The S3 noise rules, on until stopNoise(). */
  startNoise(): void {
    const { proxy } = this.o.world;
    const s3 = this.o.plan.s3;
    const isWrite = (r: { op: S3Operation }): boolean => WRITE_OPS.has(r.op);
    // One of each S3 kind at a seeded request early on, whatever the dice say later: a short run sees them all.
    this.guarantees ??= [
      {
        kind: 's3_reset',
        handle: proxy.inject(() => true, faults.resetBeforeForward(), { after: this.o.rng.int(5, 40) }),
      },
      {
        kind: 's3_reset',
        handle: proxy.inject(() => true, faults.resetAfterForward(), { after: this.o.rng.int(5, 40) }),
      },
      {
        kind: 's3_write_then_fail',
        handle: proxy.inject(isWrite, faults.forwardThenFail(), { after: this.o.rng.int(1, 5) }),
      },
    ];
    this.noise = [];
    this.noise.push(
      {
        kind: 's3_slowdown',
        handle: proxy.inject(() => true, faults.slowDown(1), { times: Infinity, probability: s3.slowDown }),
      },
      {
        kind: 's3_reset',
        handle: proxy.inject(() => true, faults.resetBeforeForward(), { times: Infinity, probability: s3.reset / 2 }),
      },
      {
        kind: 's3_reset',
        handle: proxy.inject(() => true, faults.resetAfterForward(), { times: Infinity, probability: s3.reset / 2 }),
      },
      {
        kind: 's3_write_then_fail',
        handle: proxy.inject(isWrite, faults.forwardThenFail(), { times: Infinity, probability: s3.writeThenFail }),
      },
    );
  }

  stopNoise(): void {
    for (const { kind, handle } of this.noise) {
      this.counts[kind] += handle.applied;
      handle.remove();
    }
    this.noise = [];
  }

  /** Every S3 rule off (the faults have stopped), counted. */
  finish(): void {
    this.stopNoise();
    for (const { kind, handle } of this.guarantees ?? []) {
      this.counts[kind] += handle.applied;
      handle.remove();
    }
    this.guarantees = [];
  }

  /**
   * Major faults, one at a time, until `signal` aborts (the fault under way completes: ZooKeeper comes back, a killed
   * sidecar restarts).
   */
  async run(signal: AbortSignal): Promise<void> {
    const { rng, plan } = this.o;
    let queue: MajorFault[] = rng.shuffle([
      'zk_restart',
      'zk_pause_expiry',
      'sidecar_kill_mid_upload',
      'server_restart',
    ]);
    // A slow machine can eat a short run's schedule (a ZooKeeper restart took 30 s under load): the major kinds
    // every run must have are then injected right after the run, for at most LATE_FAULTS_MS more.
    let lateUntil: number | undefined;
    for (;;) {
      if (signal.aborted) {
        lateUntil ??= Date.now() + LATE_FAULTS_MS;
        if (Date.now() > lateUntil) break;
        if (this.counts.deep_store_outage === 0 && this.outageStarts.length > 0) {
          this.outageStarts.shift();
          this.o.progress('fault deep_store_outage not injected during the run: injecting it now');
          await this.outage();
          continue;
        }
        const missing = REQUIRED_MAJOR.filter((kind) => this.counts[kind] === 0);
        if (missing.length === 0) break;
        this.o.progress(`fault ${missing[0]} not injected during the run: injecting it now`);
        await this.major(missing[0]!);
        continue;
      }
      const gap = Math.min(3 * plan.meanFaultGapMs, Math.max(500, rng.exp(plan.meanFaultGapMs)));
      await sleep(gap, signal);
      if (signal.aborted) continue; // to the late faults, if any are missing
      const elapsed = Date.now() - this.o.startedAt;
      if (this.outageStarts.length > 0 && elapsed >= this.outageStarts[0]!) {
        this.outageStarts.shift();
        await this.outage();
        continue;
      }
      const kind = queue.shift() ?? this.pickMajor();
      const done = await this.major(kind);
      if (!done) queue.push(kind);
      // A short run must still get every kind in: retry a kind that could not happen before picking at random.
      if (queue.length === 0 && !done) queue = [kind];
    }
  }

  private pickMajor(): MajorFault {
    const total = MAJOR_WEIGHTS.reduce((s, [, w]) => s + w, 0);
    let r = this.o.rng.next() * total;
    for (const [kind, weight] of MAJOR_WEIGHTS) {
      r -= weight;
      if (r < 0) return kind;
    }
    return 'sidecar_kill_mid_upload';
  }

  private async major(kind: MajorFault): Promise<boolean> {
    switch (kind) {
      case 'zk_restart':
        await this.zkRestart();
        return true;
      case 'zk_pause_expiry':
        await this.zkPause();
        return true;
      case 'sidecar_kill_mid_upload':
        return this.killMidUpload();
      case 'server_restart':
        await this.serverRestart();
        return true;
    }
  }

  private record(kind: FaultKind | 'skipped', started: number, detail: string): void {
    if (kind !== 'skipped') this.counts[kind] += 1;
    const event: FaultEvent = { at: started - this.o.startedAt, kind, durationMs: Date.now() - started, detail };
    this.timeline.push(event);
    this.o.progress(
      `fault ${kind} at ${(event.at / 1000).toFixed(1)} s (${(event.durationMs / 1000).toFixed(1)} s): ${detail}`,
    );
  }

  /** ZooKeeper stops and starts on the same port and data: sessions survive if it is quick enough. */
  async zkRestart(): Promise<void> {
    const started = Date.now();
    const { world } = this.o;
    const open = await world.gate.close();
    try {
      await world.zk.restart();
      await world.session.waitConnected(30_000);
    } finally {
      open();
    }
    this.record('zk_restart', started, `ZooKeeper down for ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** SIGSTOP past the sidecars' session timeout, then SIGCONT: their sessions expire, every watch with them. */
  async zkPause(): Promise<void> {
    const started = Date.now();
    const { world, plan } = this.o;
    const before = await this.expirations();
    const open = await world.gate.close();
    try {
      await world.zk.pause();
      await sleep(plan.zkPauseMs);
      world.zk.resume();
      await world.session.waitConnected(30_000);
    } finally {
      world.zk.resume();
      open();
    }
    // Not a wait for the sidecars (they recover on their own time); only to say whether the fault bit.
    const after = await this.expirations();
    const expired = [...after].filter(([label, n]) => n > (before.get(label) ?? 0)).map(([label]) => label);
    this.record(
      'zk_pause_expiry',
      started,
      `paused ${plan.zkPauseMs} ms (session timeout ${plan.sessionTimeoutMs} ms); expirations seen so far by: ${expired.join(', ') || 'none yet'}`,
    );
  }

  private async expirations(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const proc of this.o.fleet.current.values()) {
      if (!proc.alive) continue;
      const text = await fetch(proc.url('/metrics'), { signal: AbortSignal.timeout(3_000) })
        .then((r) => r.text())
        .catch(() => '');
      const match = /^pinot_sidecar_zk_session_expirations_total (\d+)/m.exec(text);
      if (match) out.set(proc.label, Number(match[1]));
    }
    return out;
  }

  /**
   * Arm, and SIGKILL the first live sidecar whose upload request reaches the proxy: either at once (the request
   * may or may not reach the store), or when the store has answered it (the object is there; the sidecar never
   * hears so and never writes ZooKeeper). Then start it again. False when no upload came by in time.
   */
  async killMidUpload(): Promise<boolean> {
    const started = Date.now();
    const { world, fleet, rng, plan } = this.o;
    const variant = rng.chance(0.5) ? 'on_request' : 'after_store_answered';
    let victim: { proc: SidecarProcess; entry: LoggedRequest } | undefined;
    let target: LoggedRequest | undefined;
    let hit!: () => void;
    const killed = new Promise<void>((resolve) => (hit = resolve));
    const kill = (proc: SidecarProcess, entry: LoggedRequest): void => {
      victim = { proc, entry };
      fleet.killNow(proc);
      hit();
    };
    const stop = world.proxy.observe({
      request: (entry) => {
        if (victim || target || !UPLOAD_OPS.has(entry.op)) return;
        const proc = fleet.processOf(entry.client);
        if (!proc || !proc.alive || fleet.current.get(proc.server.index) !== proc) return;
        if (variant === 'on_request') kill(proc, entry);
        else if (entry.fault === null) target = entry;
      },
      answered: (entry) => {
        if (victim || entry !== target) return;
        const proc = fleet.processOf(entry.client);
        if (proc?.alive) kill(proc, entry);
        else target = undefined;
      },
    });
    await Promise.race([killed, sleep(plan.killWaitMs)]);
    stop();
    if (!victim) {
      this.record(
        'skipped',
        started,
        `sidecar kill (${variant}): no upload reached the proxy within ${plan.killWaitMs / 1000} s`,
      );
      return false;
    }
    const { proc, entry } = victim;
    this.kills.push({
      label: proc.label,
      op: entry.op,
      key: new URL(entry.url, 'http://x').pathname,
      variant,
      at: Date.now() - this.o.startedAt,
    });
    await fleet.waitExit(proc);
    const downMs = rng.between(500, 3_000);
    await sleep(downMs);
    const next = await fleet.start(proc.server);
    this.record(
      'sidecar_kill_mid_upload',
      started,
      `${proc.label} SIGKILLed during ${entry.op} ${new URL(entry.url, 'http://x').pathname} (${variant}); ${next.label} ready after ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return true;
  }

  /** A Pinot server restarts: new Helix session, its replicas OFFLINE under it, ONLINE a moment later. */
  async serverRestart(): Promise<void> {
    const started = Date.now();
    const { world, rng } = this.o;
    const server = rng.pick(world.servers);
    const onlineAfterMs = rng.between(1_000, 4_000);
    await world.restartServer(server, onlineAfterMs, (ms) => sleep(ms));
    this.record(
      'server_restart',
      started,
      `${server.instance}: new Helix session ${server.helixSession}, replicas OFFLINE for ${(onlineAfterMs / 1000).toFixed(1)} s`,
    );
  }

  /** Every S3 request fails (503 ServiceUnavailable, or a reset) for the outage's length. */
  async outage(): Promise<void> {
    const started = Date.now();
    const { world, plan } = this.o;
    this.stopNoise();
    const reset = world.proxy.inject(() => true, faults.resetBeforeForward(), { times: Infinity, probability: 0.3 });
    const unavailable = world.proxy.inject(
      () => true,
      faults.error(503, 'ServiceUnavailable', 'Service is unable to handle request.'),
      { times: Infinity },
    );
    try {
      await sleep(plan.outageMs);
    } finally {
      reset.remove();
      unavailable.remove();
      this.startNoise();
    }
    this.record(
      'deep_store_outage',
      started,
      `${(plan.outageMs / 1000).toFixed(0)} s: ${unavailable.applied} requests answered 503, ${reset.applied} reset`,
    );
  }
}
