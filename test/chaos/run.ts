import { runChaos } from './harness.js';
import { CHAOS_USAGE, parseChaosArgs } from './options.js';
import { formatReport } from './report.js';

/**
 * `npm run chaos -- --duration 10m [--seed N] [--report FILE] [--keep]`: one chaos soak (harness.ts), the report
 * on stdout, exit 1 on any violation (2 on bad arguments or a harness failure).
 */
async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseChaosArgs>;
  try {
    options = parseChaosArgs(argv);
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n\n${CHAOS_USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${CHAOS_USAGE}\n`);
    return 0;
  }
  const started = Date.now();
  const progress = options.quiet
    ? undefined
    : (line: string) =>
        process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  const report = await runChaos({ ...options, ...(progress ? { progress } : {}) });
  process.stdout.write(`${formatReport(report)}\n`);
  if (report.kept) process.stdout.write(`run directory: ${report.runDir}\n`);
  return report.violations.length === 0 ? 0 : 1;
}

// Ctrl-C: exit, and let the harness's exit handler kill ZooKeeper and the sidecars.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: harness failure: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);
