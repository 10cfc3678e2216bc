import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import libCoverage, { type CoverageMapData, type CoverageSummaryData, type Totals } from 'istanbul-lib-coverage';
import libReport from 'istanbul-lib-report';
import reports from 'istanbul-reports';
import { repoRoot } from '../helpers/fixtures.js';
import { CHILD_COVERAGE_ENV } from '../helpers/cli.js';
import { addChildCoverage, readRawCoverage } from './child-coverage.js';

/**
 * `npm run coverage [-- <vitest filters>]`: the test suite with vitest's v8 coverage of src/, plus the sidecar
 * processes the tests spawn (child-coverage.ts says how). Reports in coverage/: index.html, coverage-final.json,
 * coverage-summary.json; the totals and src/agent/sidecar.ts are printed. Exits with vitest's exit code.
 */
const COVERAGE_DIR = path.join(repoRoot, 'coverage');
const VITEST_DIR = path.join(COVERAGE_DIR, 'vitest');
const CHILDREN_DIR = path.join(COVERAGE_DIR, 'children');

async function runVitest(args: string[]): Promise<number> {
  const vitest = path.join(repoRoot, 'node_modules/vitest/vitest.mjs');
  const argv = [vitest, 'run', '--coverage.enabled', '--coverage.provider=v8', '--coverage.include=src/**/*.ts', '--coverage.reporter=json', `--coverage.reportsDirectory=${VITEST_DIR}`, ...args];
  const child = spawn(process.execPath, argv, { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, [CHILD_COVERAGE_ENV]: CHILDREN_DIR } });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

function line(label: string, summary: CoverageSummaryData): string {
  const pct = (t: Totals) => `${t.pct.toFixed(1)}% (${t.covered}/${t.total})`;
  return `${label}: lines ${pct(summary.lines)}, statements ${pct(summary.statements)}, functions ${pct(summary.functions)}, branches ${pct(summary.branches)}`;
}

async function main(): Promise<number> {
  await rm(COVERAGE_DIR, { recursive: true, force: true });
  await mkdir(CHILDREN_DIR, { recursive: true });
  const code = await runVitest(process.argv.slice(2));
  const vitestData = JSON.parse(await readFile(path.join(VITEST_DIR, 'coverage-final.json'), 'utf8')) as CoverageMapData;
  const before = libCoverage.createCoverageMap(structuredClone(vitestData)).getCoverageSummary().toJSON();
  const children = await readRawCoverage(CHILDREN_DIR);
  let scripts = 0;
  for (const raw of children) scripts += addChildCoverage(vitestData, raw);
  const map = libCoverage.createCoverageMap(vitestData);
  await writeFile(path.join(COVERAGE_DIR, 'coverage-final.json'), JSON.stringify(map.toJSON()));
  const context = libReport.createContext({ dir: COVERAGE_DIR, coverageMap: map, defaultSummarizer: 'nested' });
  for (const name of ['html', 'json-summary']) reports.create(name).execute(context);

  const sidecar = path.join(repoRoot, 'src/agent/sidecar.ts');
  process.stdout.write(
    [
      '',
      `coverage of src/ (${children.length} child processes, ${scripts} of their scripts merged); report: coverage/index.html`,
      line('  vitest workers only', before),
      line('  with child processes', map.getCoverageSummary().toJSON()),
      ...(map.files().includes(sidecar) ? [line('  src/agent/sidecar.ts', map.fileCoverageFor(sidecar).toSummary().toJSON())] : []),
      '',
    ].join('\n'),
  );
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`coverage: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
