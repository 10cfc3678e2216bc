import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RepairStatus } from '../../src/agent/repair/repair-state.js';
import { finalChecks, type Violation } from './checks.js';
import { Driver } from './driver.js';
import { FaultInjector } from './faults.js';
import { mustBeRepaired } from './ledger.js';
import { chaosPlan, type ChaosOptions } from './options.js';
import { buildReport, fmtDuration, type ChaosReport } from './report.js';
import { createRng } from '../helpers/rng.js';
import { SidecarFleet } from './sidecars.js';
import { sleep, waitUntil, WaitTimeoutError } from './wait.js';
import { ChaosWorld } from './world.js';

/**
 * One chaos run, start to end:
 *
 *   stage (ZooKeeper, S3 fake + fault proxy, cluster, 3 servers) → 3 sidecar processes ready
 *   → driver commits/deletes/fixes while the injector injects, for the duration
 *   → faults stop, driver stops → settle: wait (bounded) until every segment that must be repaired is
 *   → final checks → SIGTERM the sidecars (each must exit 0) → report
 *
 * The run directory (sidecar logs, data dirs, ZooKeeper data) is removed when the run passes, kept otherwise.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport & { runDir: string; kept: boolean }> {
  const plan = chaosPlan(options);
  const rng = createRng(options.seed);
  const progress = options.progress ?? (() => undefined);
  const runDir = await mkdtemp(path.join(tmpdir(), 'pinot-chaos-'));
  await mkdir(path.join(runDir, 'logs'));
  progress(`chaos run: seed ${options.seed}, ${fmtDuration(options.durationMs)}, run dir ${runDir}`);

  let world: ChaosWorld | undefined;
  let fleet: SidecarFleet | undefined;
  let sampler: NodeJS.Timeout | undefined;
  // Whatever happens (an exception, Ctrl-C), no ZooKeeper and no sidecar process outlives the run.
  const killEverything = (): void => {
    fleet?.killAllNow();
    world?.zk.killNow();
  };
  process.once('exit', killEverything);
  let report: ChaosReport | undefined;
  try {
    world = await ChaosWorld.start(runDir, rng.fork('world'));
    const w = world;
    const f = (fleet = new SidecarFleet({ world: w, runDir, sessionTimeoutMs: plan.sessionTimeoutMs, progress }));
    await Promise.all(w.servers.map((server) => f.start(server)));
    progress(
      `stage ready: ZooKeeper ${w.zk.connectString}, S3 proxy ${w.proxy.endpoint}, sidecars ${[...f.current.values()].map((p) => `${p.label}:${p.port}`).join(' ')}`,
    );

    const driver = new Driver(w, plan, rng.fork('driver'), progress);
    const startedAt = Date.now();
    const injector = new FaultInjector({
      world: w,
      fleet: f,
      plan,
      rng: rng.fork('faults'),
      startedAt,
      durationMs: options.durationMs,
      progress,
    });
    const harnessViolations: Violation[] = [];
    const stop = new AbortController();
    injector.startNoise();
    sampler = setInterval(() => void f.sample(), 5_000);
    const ticker = setInterval(() => {
      const elapsed = Date.now() - startedAt;
      const successes = f.all.reduce((n, p) => n + p.events.filter((e) => e.event === 'upload_success').length, 0);
      progress(
        `t=${fmtDuration(elapsed)} committed ${driver.ledger.all().length}, live ${driver.ledger.live().length}, sidecar repairs ${successes}`,
      );
    }, 15_000);
    try {
      const driving = driver.run(stop.signal);
      const faulting = injector.run(stop.signal).catch((err: unknown) => {
        harnessViolations.push({
          kind: 'harness',
          subject: 'fault injector',
          detail: err instanceof Error ? err.message : String(err),
        });
      });
      await sleep(options.durationMs);
      stop.abort();
      await Promise.all([driving, faulting]);
    } finally {
      injector.finish();
      clearInterval(ticker);
    }
    const faultsStoppedAt = Date.now();
    progress(
      `faults stopped after ${fmtDuration(faultsStoppedAt - startedAt)}; settling (at most ${fmtDuration(plan.settleTimeoutMs)})`,
    );

    // Settle: every sidecar up, and every segment that must be repaired has a URL in ZooKeeper.
    for (const proc of f.current.values()) {
      if (!proc.alive)
        harnessViolations.push({
          kind: 'sidecar_crash',
          subject: proc.label,
          detail: 'not running when the faults stopped',
        });
    }
    let settled = true;
    let waiting: string[] = [];
    try {
      await waitUntil(
        'every repairable segment has its URL',
        async () => {
          waiting = [];
          for (const entry of driver.ledger.live()) {
            if (!mustBeRepaired(entry) || entry.uncertain) continue;
            const now = await driver.inspect(entry);
            if (now.exists && (now.url === undefined || now.url === '')) waiting.push(entry.segment);
          }
          return waiting.length === 0;
        },
        { timeoutMs: plan.settleTimeoutMs, intervalMs: 1_000 },
      );
    } catch (err) {
      if (!(err instanceof WaitTimeoutError)) throw err;
      settled = false;
      progress(`!! not settled: ${waiting.length} segment(s) still without a URL: ${waiting.slice(0, 5).join(', ')}`);
    }
    const settleMs = Date.now() - faultsStoppedAt;
    progress(`settled in ${fmtDuration(settleMs)}; checking`);

    const checks = await finalChecks({ world: w, driver, fleet: f, plan });
    clearInterval(sampler);
    sampler = undefined;
    const statuses: RepairStatus[] = [];
    for (const proc of f.current.values()) {
      const status = await f.getJson<RepairStatus>(proc, '/repair/status');
      if (status) statuses.push(status);
    }
    // Graceful shutdown after all that: exit 0 within the sidecar's own deadline.
    for (const result of await f.stopAll()) {
      if (result.code !== 0 || result.forced) {
        harnessViolations.push({
          kind: 'sidecar_shutdown',
          subject: result.proc.label,
          detail: `SIGTERM → exit code ${result.code}, signal ${result.signal}${result.forced ? ' (killed: did not exit in time)' : ''}`,
        });
      }
    }
    const counts = { ...injector.counts };
    report = buildReport({
      seed: options.seed,
      startedAt,
      durationMs: faultsStoppedAt - startedAt,
      settleMs,
      settled,
      stats: driver.stats,
      checks,
      statuses,
      processes: f.all,
      faults: counts,
      timeline: injector.timeline,
      kills: injector.kills,
      proxyRequests: w.proxy.log.length,
      violations: [...checks.violations, ...harnessViolations],
    });
  } finally {
    clearInterval(sampler);
    fleet?.killAllNow();
    if (world) {
      await world.stop().catch(() => undefined);
      world.zk.killNow();
    }
    process.off('exit', killEverything);
  }
  const kept = options.keepDir === true || report.violations.length > 0;
  if (options.reportFile) await writeFile(options.reportFile, `${JSON.stringify(report, null, 2)}\n`);
  if (!kept) await rm(runDir, { recursive: true, force: true });
  else progress(`run directory kept: ${runDir}`);
  return { ...report, runDir, kept };
}
