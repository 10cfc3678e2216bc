import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolvePinotJars, SUITE_DIR } from './harness/jars.js';
import { cleanUpNow, LEDGER_ENV, readLedger } from './harness/leftovers.js';

/**
 * `npm run test:pinot`: resolve Apache Pinot's jars (or print one `SKIPPED: <reason>` line and exit 0), then run
 * the suite with its own vitest config. Whatever the suite started and did not stop (a crash, a killed worker,
 * Ctrl-C) is killed and removed here afterwards, from the ledger the harness writes (harness/leftovers.ts).
 */
const jars = await resolvePinotJars();
if ('skip' in jars) {
  process.stdout.write(`SKIPPED: ${jars.skip}\n`);
  process.exit(0);
}

const ledgerDir = mkdtempSync(path.join(tmpdir(), 'pinot-sidecar-ledger-'));
const ledger = path.join(ledgerDir, 'ledger');
const root = path.dirname(path.dirname(SUITE_DIR));
const vitest = spawn(
  process.execPath,
  [
    path.join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--config',
    path.join(SUITE_DIR, 'vitest.config.ts'),
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, [LEDGER_ENV]: ledger } },
);

let interrupted = false;
const onSignal = (signal: NodeJS.Signals): void => {
  // The terminal delivered Ctrl-C to vitest as well; give it the chance to stop in order, then make sure.
  if (interrupted) vitest.kill('SIGKILL');
  interrupted = true;
  setTimeout(() => vitest.kill('SIGKILL'), 30_000).unref();
  vitest.kill(signal);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await new Promise<number>((resolve) => vitest.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
const left = readLedger(ledger);
if (left.length > 0) {
  process.stderr.write(
    `test:pinot: cleaning up what the suite left: ${left.map((e) => `${e.kind} ${e.value}`).join(', ')}\n`,
  );
  cleanUpNow(left);
}
rmSync(ledgerDir, { recursive: true, force: true });
process.exit(interrupted ? 130 : code);
