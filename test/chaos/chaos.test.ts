import { describe, expect, it } from 'vitest';
import { REQUIRED_FAULTS } from './faults.js';
import { runChaos } from './harness.js';
import { formatReport } from './report.js';

/**
 * The chaos soak, 60 seconds of it (`npm run chaos -- --duration 10m` is the long one; README "Chaos soak"):
 * three sidecar processes on one real ZooKeeper of their own, S3 behind the fault proxy, a driver playing the
 * controller, and every kind of fault at least once. Nothing lost, nothing overwritten, nothing leaked.
 *
 * The seed fixes the schedule (what is committed, which fault when); CHAOS_SEED picks another one.
 */
const seed = Number(process.env.CHAOS_SEED ?? 20_260_101);

describe('chaos soak (60 s)', () => {
  it(`three sidecars, one ZooKeeper, faults everywhere: no violation (seed ${seed})`, async () => {
    const progress: string[] = [];
    const report = await runChaos({ durationMs: 60_000, seed, progress: (line) => progress.push(line) });
    const context = `${formatReport(report)}\n\nprogress:\n${progress.join('\n')}`;

    expect(report.violations, context).toEqual([]);
    expect(report.settled, context).toBe(true);
    for (const kind of REQUIRED_FAULTS)
      expect(report.faults[kind], `${kind} was never injected\n${context}`).toBeGreaterThan(0);
    // The run did what it is for: repairs under fire, controller fixes, deletions, skips.
    expect(report.segments.repairedBySidecars, context).toBeGreaterThan(5);
    expect(report.segments.deleted, context).toBeGreaterThan(0);
    expect(report.repairTimeMs.n, context).toBeGreaterThan(0);
  }, 240_000);
});
